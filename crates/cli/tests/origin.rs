#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    clippy::cast_possible_truncation,
    clippy::type_complexity,
    missing_docs
)]
//! `p2pml origin` as a black box: it prints its stream URLs and serves them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn prints_stream_urls_and_serves_them() {
    let media = concat!(env!("CARGO_MANIFEST_DIR"), "/../../media");
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_p2pml"))
            .args(["origin", "--listen", "127.0.0.1:0", "--media", media])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let lines: Vec<String> = stdout.lines().take(9).map(Result::unwrap).collect();
    let url = |kind: &str, suffix: &str| -> String {
        lines
            .iter()
            .find(|l| l.starts_with(kind) && l.ends_with(suffix))
            .unwrap_or_else(|| panic!("no {kind} …{suffix} in {lines:?}"))
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    assert!(url("vod", "/dash/manifest.mpd").starts_with("http://127.0.0.1:"));
    assert!(url("live", "/live/20/dash/manifest.mpd").starts_with("http://127.0.0.1:"));
    let live = url("live", "/live/20/hls-ts/master.m3u8");

    // A plain HTTP/1.1 GET of the live master playlist.
    let rest = live.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("\n/live/20/hls-ts/240p/index.m3u8\n"),
        "{response}"
    );
}
