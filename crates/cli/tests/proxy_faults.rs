#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    clippy::cast_possible_truncation,
    clippy::type_complexity,
    missing_docs
)]
//! Faults while ffmpeg players read a live stream through `p2pml proxy`:
//! the tracker dies, a peer dies, the origin fails segments for a while.
//! The players keep reading; what each fault cost is printed.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Killed, check, ffmpeg_turn, finish, servers, start_players, stat};

/// `p2pml tracker` as a process, so that it can be killed; returns its URL.
fn tracker_process() -> (Killed, String) {
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_p2pml"))
            .args(["tracker", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    let mut line = String::new();
    // "… serving websocket=127.0.0.1:PORT …"
    let port = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "tracker exited");
        if let Some(at) = line.find("websocket") {
            let rest = &line[at..];
            let addr = &rest[rest.find("127.0.0.1:").unwrap() + 10..];
            break addr
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>();
        }
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, format!("ws://127.0.0.1:{port}"))
}

fn sleep_until(at: Instant) {
    std::thread::sleep(at.saturating_duration_since(Instant::now()));
}

#[test]
fn players_keep_reading_when_the_tracker_dies() {
    let Some(_turn) = ffmpeg_turn() else {
        return;
    };
    let (_runtime, origin, _) = servers(Duration::from_secs(26));
    let (mut tracker, tracker_url) = tracker_process();
    let manifest = format!("{origin}/live/20/hls-ts/master.m3u8");
    let (mut players, started) = start_players(&manifest, &tracker_url, 2, 24);
    // Both have joined and found each other; then signalling is gone.
    sleep_until(started + Duration::from_secs(12));
    tracker.0.kill().unwrap();
    let outcomes = finish(&mut players, 24);
    eprintln!("tracker killed 12 s in:");
    // Connections already open carry on: P2P continues without a tracker.
    check(&manifest, &outcomes);
}

#[test]
fn players_keep_reading_when_a_peer_dies() {
    let Some(_turn) = ffmpeg_turn() else {
        return;
    };
    let (_runtime, origin, tracker) = servers(Duration::from_secs(26));
    let manifest = format!("{origin}/live/20/hls-ts/master.m3u8");
    let (mut players, started) = start_players(&manifest, &tracker, 3, 24);
    // The first peer (the one the others fetched from first) and its
    // player die mid-stream, whatever it was uploading.
    sleep_until(started + Duration::from_secs(14));
    let before = common::get(&players[0].base, "/stats");
    players[0].ffmpeg.take();
    players[0].proxy.0.kill().unwrap();
    eprintln!(
        "peer 0 killed 14 s in, having uploaded {} B",
        stat(before.split("\r\n\r\n").nth(1).unwrap(), "uploaded_bytes")
    );
    let outcomes = finish(&mut players, 24);
    check(&manifest, &outcomes);
}

/// An HTTP front for `origin` that answers 503 to segment requests (paths
/// ending in `.ts`) while `outage` is set; one request per connection.
fn flaky_front(origin: &str, outage: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let origin = origin.strip_prefix("http://").unwrap().to_owned();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let (origin, outage) = (origin.clone(), outage.clone());
            std::thread::spawn(move || forward(client, &origin, &outage));
        }
    });
    format!("http://{addr}")
}

fn forward(mut client: TcpStream, origin: &str, outage: &AtomicBool) -> std::io::Result<u64> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 || head.len() > 65_536 {
            return Ok(0);
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    if outage.load(Ordering::Relaxed) && path.ends_with(".ts") {
        client.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(0);
    }
    let mut upstream = TcpStream::connect(origin)?;
    let mut request: String = head
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    request.push_str("Connection: close\r\n\r\n");
    upstream.write_all(request.as_bytes())?;
    std::io::copy(&mut upstream, &mut client)
}

#[test]
fn players_keep_reading_through_an_origin_outage() {
    let Some(_turn) = ffmpeg_turn() else {
        return;
    };
    let (_runtime, origin, tracker) = servers(Duration::from_secs(26));
    let outage = Arc::new(AtomicBool::new(false));
    let front = flaky_front(&origin, outage.clone());
    let manifest = format!("{front}/live/20/hls-ts/master.m3u8");
    let (mut players, started) = start_players(&manifest, &tracker, 2, 24);
    // Six seconds (three segments) of 503 for every segment request.
    sleep_until(started + Duration::from_secs(10));
    outage.store(true, Ordering::Relaxed);
    sleep_until(started + Duration::from_secs(16));
    outage.store(false, Ordering::Relaxed);
    let outcomes = finish(&mut players, 24);
    eprintln!("origin answered 503 to segments from 10 s to 16 s:");
    for (i, o) in outcomes.iter().enumerate() {
        let o = o.as_ref().unwrap();
        let lines = o.errors.lines().filter(|l| !l.trim().is_empty()).count();
        eprintln!(
            "player {i}: exit ok = {}, {lines} error lines from ffmpeg; proxy {}",
            o.success,
            o.stats.trim()
        );
        // Playback goes on: ffmpeg skips what it could not get and keeps reading.
        assert!(o.success, "ffmpeg {i} stopped:\n{}", o.errors);
    }
}
