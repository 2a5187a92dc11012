#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    clippy::cast_possible_truncation,
    clippy::type_complexity,
    missing_docs
)]
//! Three `p2pml proxy` processes, each read in real time by ffmpeg (`-re`),
//! with our origin (live HLS) and our tracker on 127.0.0.1: every proxy
//! after the first gets segments from its peers, and ffmpeg reports no
//! error. Skipped (with a message) only when ffmpeg is missing outside CI.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use p2pml_origin::{Clock, Origin, OriginConfig, SystemClock};
use p2pml_tracker::{Server, ServerConfig};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether ffmpeg can run here; without it the test is skipped, except in
/// CI, where that is a failure.
fn ffmpeg_available() -> bool {
    let found = Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "ffmpeg is required in CI (apt-get install -y --no-install-recommends ffmpeg)"
        );
        eprintln!("SKIPPED: ffmpeg not found (apt-get install -y --no-install-recommends ffmpeg)");
    }
    found
}

/// The live clock, `offset` ahead: the emulated stream has been running that long.
struct Ahead(SystemClock, Duration);

impl Clock for Ahead {
    fn elapsed(&self) -> Duration {
        self.0.elapsed() + self.1
    }
}

/// Starts the origin and the tracker on a background runtime; returns
/// their base URLs. They live as long as the runtime.
fn servers(clock_offset: Duration) -> (tokio::runtime::Runtime, String, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let media = concat!(env!("CARGO_MANIFEST_DIR"), "/../../media");
    let (origin, tracker) = runtime.block_on(async {
        let clock = Arc::new(Ahead(SystemClock::start(), clock_offset));
        let origin = Origin::bind_with_clock("127.0.0.1:0", OriginConfig::new(media), clock)
            .await
            .unwrap();
        let tracker = Server::bind(ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            metrics: None,
            ..ServerConfig::default()
        })
        .await
        .unwrap();
        (origin, tracker)
    });
    let origin_url = format!("http://{}", origin.local_addr());
    let tracker_url = format!("ws://{}", tracker.local_addr().unwrap());
    runtime.spawn(origin.run(std::future::pending()));
    runtime.spawn(tracker.run(std::future::pending()));
    (runtime, origin_url, tracker_url)
}

/// A `p2pml proxy` on 127.0.0.1 with WebRTC on loopback; returns it and its base URL.
fn proxy(tracker: &str) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_p2pml"))
        .args(["proxy", "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
        .args(["--tracker", tracker])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "proxy  http://127.0.0.1:PORT/manifest?url=…"
    let url = line.split_whitespace().nth(1).unwrap();
    let base = url.split("/manifest").next().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    (Killed(child), base)
}

fn get(base: &str, path: &str) -> String {
    let host = base.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    response
}

/// A counter from the proxy's `/stats` JSON.
fn stat(json: &str, key: &str) -> u64 {
    let at = json.find(&format!("\"{key}\":")).unwrap() + key.len() + 3;
    json[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// Tests here run one at a time: each keeps three players and three
/// proxies busy in real time, and the machine has two cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Three proxies, joined 5 s apart, each read by `ffmpeg -re` for
/// `seconds`; returns each proxy's `/stats` after its player finished,
/// having checked that every player ended cleanly and every proxy after
/// the first got bytes from its peers.
fn three_players(manifest: &str, tracker: &str, seconds: u32) -> Vec<String> {
    let proxies: Vec<(Killed, String)> = (0..3).map(|_| proxy(tracker)).collect();
    let started = Instant::now();
    let mut players = Vec::new();
    for (i, (_, base)) in proxies.iter().enumerate() {
        std::thread::sleep(
            (started + Duration::from_secs(5 * i as u64)).saturating_duration_since(Instant::now()),
        );
        let url = p2pml_native::proxy::manifest_url(base, manifest);
        let child = Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-hide_banner",
                "-loglevel",
                "error",
                "-re",
                "-i",
            ])
            .arg(&url)
            .args(["-t", &seconds.to_string(), "-c", "copy", "-f", "null", "-"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        players.push(Killed(child));
    }
    let mut report = Vec::new();
    for (i, (mut player, (_, base))) in players.into_iter().zip(&proxies).enumerate() {
        let deadline = Instant::now() + Duration::from_secs(u64::from(seconds) * 3 + 30);
        let status = loop {
            if let Some(status) = player.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "ffmpeg {i} did not finish");
            std::thread::sleep(Duration::from_millis(200));
        };
        let mut errors = String::new();
        player
            .0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut errors)
            .unwrap();
        assert!(status.success(), "ffmpeg {i}: {status}\n{errors}");
        assert!(errors.trim().is_empty(), "ffmpeg {i} reported:\n{errors}");
        let response = get(base, "/stats");
        report.push(response.split("\r\n\r\n").nth(1).unwrap().to_owned());
    }
    let (mut http, mut p2p) = (0, 0);
    for (i, json) in report.iter().enumerate() {
        eprintln!("proxy {i}: {}", json.trim());
        assert_eq!(stat(json, "segments_failed"), 0, "proxy {i}: {json}");
        assert!(
            stat(json, "http_bytes") + stat(json, "p2p_bytes") > 0,
            "proxy {i}: {json}"
        );
        if i > 0 {
            assert!(
                stat(json, "p2p_bytes") > 0,
                "proxy {i} got nothing from peers: {json}"
            );
        }
        http += stat(json, "http_bytes");
        p2p += stat(json, "p2p_bytes");
    }
    eprintln!(
        "{manifest}: HTTP {http} B, P2P {p2p} B, P2P share {:.1}%",
        100.0 * p2p as f64 / (http + p2p) as f64
    );
    report
}

#[test]
fn three_ffmpeg_players_through_proxies_share_a_live_stream() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !ffmpeg_available() {
        return;
    }
    // 13 segments of 2 s in: the window is 13..=32 and ffmpeg starts three
    // from the end, at segment 30, the first of the loop's second pass, so
    // no player crosses the wrap-around (a timestamp jump that ffmpeg
    // reports as corrupt packets, with or without the proxy).
    let (_runtime, origin, tracker) = servers(Duration::from_secs(26));
    three_players(
        &format!("{origin}/live/20/hls-ts/master.m3u8"),
        &tracker,
        24,
    );
}

#[test]
fn three_ffmpeg_players_through_proxies_share_vod_with_separate_audio() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !ffmpeg_available() {
        return;
    }
    // fMP4 with an EXT-X-MAP per rendition and an audio rendition of its
    // own: two swarms per player.
    let (_runtime, origin, tracker) = servers(Duration::ZERO);
    three_players(&format!("{origin}/hls-fmp4/master.m3u8"), &tracker, 20);
}

#[test]
fn three_ffmpeg_players_through_proxies_share_dash() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !ffmpeg_available() {
        return;
    }
    let (_runtime, origin, tracker) = servers(Duration::ZERO);
    three_players(&format!("{origin}/dash/manifest.mpd"), &tracker, 20);
}

#[test]
fn a_seeder_serves_a_live_stream_to_a_proxy() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !ffmpeg_available() {
        return;
    }
    let (_runtime, origin, tracker) = servers(Duration::from_secs(26));
    let manifest = format!("{origin}/live/20/hls-ts/master.m3u8");
    // The rendition ffmpeg picks: the highest bandwidth, 480p, the third.
    let mut seeder = Killed(
        Command::new(env!("CARGO_BIN_EXE_p2pml"))
            .args([
                "seed",
                "--url",
                &manifest,
                "--rendition",
                "2",
                "--udp",
                "127.0.0.1:0",
            ])
            .args([
                "--tracker",
                &tracker,
                "--max-peers",
                "8",
                "--upload-kbps",
                "2000",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(seeder.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("seeding "), "{line}");
    std::thread::sleep(Duration::from_secs(3));
    let (_proxy, base) = proxy(&tracker);
    let url = p2pml_native::proxy::manifest_url(&base, &manifest);
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-i",
        ])
        .arg(&url)
        .args(["-t", "16", "-c", "copy", "-f", "null", "-"])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && errors.trim().is_empty(), "{errors}");
    let response = get(&base, "/stats");
    let json = response.split("\r\n\r\n").nth(1).unwrap();
    eprintln!("proxy beside a seeder: {}", json.trim());
    assert!(
        stat(json, "p2p_bytes") > 0,
        "nothing from the seeder: {json}"
    );
    assert_eq!(stat(json, "segments_failed"), 0, "{json}");
}
