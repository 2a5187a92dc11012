//! Black-box tests of `p2pml demo`: the process on 127.0.0.1:0 with one native peer per
//! stream; its page, API, media, in-process tracker and native peers; Ctrl-C. The page itself
//! runs in Chromium in `tests/browser/demo.sh`.
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    missing_docs
)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Killed, get, request};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A checkout as the demo needs it: the real page and media, and the built files it checks
/// for (`cargo test` runs before the web build, so these are placeholders; this test does not
/// run the page).
fn checkout(name: &str, with_bundle: bool) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("p2pml-demo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("web")).unwrap();
    std::os::unix::fs::symlink(repo().join("web/demo"), dir.join("web/demo")).unwrap();
    std::os::unix::fs::symlink(repo().join("media"), dir.join("media")).unwrap();
    let mut built = vec!["node_modules/hls.js/dist/hls.mjs"];
    if with_bundle {
        built.push("packages/hlsjs/dist/p2pml-hlsjs.es.min.js");
    }
    for file in built {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            path,
            "// placeholder: the test serves it, no browser loads it\n",
        )
        .unwrap();
    }
    dir
}

fn json(response: &str) -> Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap()
}

#[test]
fn demo_serves_page_api_media_tracker_and_native_peers_and_stops_on_ctrl_c() {
    let root = checkout("run", true);
    let child = Command::new(env!("CARGO_BIN_EXE_p2pml"))
        .args(["demo", "--listen", "127.0.0.1:0", "--peers", "1"])
        .arg("--root")
        .arg(&root)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut demo = Killed(child);
    let mut stdout = BufReader::new(demo.0.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.contains("Ctrl-C") {
        assert!(stdout.read_line(&mut printed).unwrap() > 0, "{printed}");
    }
    let field = |name: &str| -> String {
        let line = printed
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap();
        line.split_whitespace().nth(1).unwrap().to_owned()
    };
    let base = field("open").trim_end_matches('/').to_owned();
    let tracker = field("tracker");
    let stream = field("default");
    assert!(base.starts_with("http://127.0.0.1:"), "{printed}");
    assert!(tracker.starts_with("ws://127.0.0.1:"), "{printed}");
    assert_eq!(stream, format!("{base}/live/20/hls-ts/master.m3u8"));
    assert!(
        printed.contains(&format!("vod       {base}/dash/manifest.mpd")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("live      {base}/live/20/hls-fmp4/master.m3u8")),
        "{printed}"
    );

    // The page, behind `/`.
    let r = get(&base, "/");
    assert!(status_line(&r).contains("302"), "{r}");
    assert!(r.contains("location: /demo/"), "{r}");
    let r = get(&base, "/demo/");
    assert!(
        status_line(&r).contains("200") && r.contains("p2p-media-loader-rs"),
        "{r}"
    );

    // What the page is told.
    let config = json(&get(&base, "/api/config"));
    let ids: Vec<&str> = config["catalog"]["bundled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["hls-ts", "hls-fmp4", "dash"]);
    assert_eq!(config["catalog"]["swarmBase"], base.as_str());
    assert_eq!(
        config["trackerPort"].as_u64().unwrap().to_string(),
        tracker.rsplit(':').next().unwrap()
    );
    assert_eq!(config["peersPerStream"], 1);
    assert_eq!(config["default"]["stream"], "hls-ts");
    assert_eq!(config["liveWindows"], serde_json::json!([6, 20]));
    assert!(
        config["players"]["shaka"].is_null(),
        "no Shaka in this checkout"
    );

    // The media, VOD and live.
    assert!(status_line(&get(&base, "/live/6/hls-fmp4/master.m3u8")).contains("200"));
    assert!(status_line(&get(&base, "/live/6/dash/manifest.mpd")).contains("200"));
    assert!(
        printed.contains(&format!("live      {base}/live/20/dash/manifest.mpd")),
        "{printed}"
    );
    assert!(status_line(&get(&base, "/dash/manifest.mpd")).contains("200"));

    // Only catalogued streams get native peers; wrong methods and paths are refused.
    let r = request(
        &base,
        "POST",
        "/api/watch?url=http%3A%2F%2F169.254.169.254%2F",
    );
    assert!(status_line(&r).contains("403"), "{r}");
    assert!(status_line(&request(&base, "POST", "/api/watch")).contains("400"));
    assert!(status_line(&get(&base, "/api/watch")).contains("405"));
    assert!(status_line(&get(&base, "/api/nothing")).contains("404"));

    // The native peer on the default stream: it joins our tracker and, alone in its swarms,
    // is the one that fetches segments over HTTP once its seeding grace has passed.
    let watch = format!(
        "/api/watch?url={}",
        percent_encoding::utf8_percent_encode(&stream, percent_encoding::NON_ALPHANUMERIC)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let status = json(&request(&base, "POST", &watch));
        let native = &status["native"]["streams"][0];
        if native["peers"] == 1 && native["httpBytes"].as_u64().unwrap() > 0 {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no native peer at work: {status}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(status["native"]["streams"][0]["url"], stream.as_str());
    assert!(status["native"]["streams"][0]["error"].is_null());
    assert!(
        status["tracker"]["peers"].as_u64().unwrap() >= 1,
        "{status}"
    );

    // Ctrl-C stops everything.
    let pid = demo.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = demo.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "still running 10 s after SIGINT");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "{exit}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(rest.contains("stopped"), "{rest}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn demo_refuses_bad_arguments_and_says_what_to_build() {
    let root = checkout("unbuilt", false);
    let out = Command::new(env!("CARGO_BIN_EXE_p2pml"))
        .args(["demo", "--listen", "127.0.0.1:0", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("p2pml-hlsjs.es.min.js") && err.contains("cargo xtask"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&root);

    for (args, says) in [
        (&["--url", "ftp://example.com/a.m3u8"][..], "--url"),
        (&["--live-window", "0"][..], "--live-window"),
        (&["--tracker", "http://example.com"][..], "--tracker"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_p2pml"))
            .arg("demo")
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
