//! Helpers of the black-box tests of the native peers: our origin and
//! tracker on 127.0.0.1, `p2pml proxy` processes, ffmpeg players.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use p2pml_origin::{Clock, Origin, OriginConfig, SystemClock};
use p2pml_tracker::{Server, ServerConfig};

pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether ffmpeg can run here; without it the test is skipped, except in
/// CI, where that is a failure.
pub fn ffmpeg_available() -> bool {
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
pub fn servers(clock_offset: Duration) -> (tokio::runtime::Runtime, String, String) {
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
pub fn proxy(tracker: &str) -> (Killed, String) {
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

pub fn get(base: &str, path: &str) -> String {
    request(base, "GET", path)
}

/// The whole response (status line, headers, body) to a body-less request.
pub fn request(base: &str, method: &str, path: &str) -> String {
    let host = base.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    response
}

/// A counter from the proxy's `/stats` JSON.
pub fn stat(json: &str, key: &str) -> u64 {
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
pub static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What every ffmpeg test starts with: this process's turn (held until the
/// guard drops), or `None` when ffmpeg is missing outside CI (the test then
/// returns; in CI `ffmpeg_available` fails instead).
pub fn ffmpeg_turn() -> Option<std::sync::MutexGuard<'static, ()>> {
    let turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    ffmpeg_available().then_some(turn)
}

/// A proxy and the ffmpeg reading through it.
pub struct Player {
    pub proxy: Killed,
    pub base: String,
    pub ffmpeg: Option<Killed>,
}

/// How one player ended.
pub struct Outcome {
    pub success: bool,
    pub errors: String,
    /// The proxy's `/stats` after its player finished.
    pub stats: String,
}

/// `n` proxies, each read by `ffmpeg -re` for `seconds`, started 5 s apart.
pub fn start_players(
    manifest: &str,
    tracker: &str,
    n: usize,
    seconds: u32,
) -> (Vec<Player>, Instant) {
    let proxies: Vec<(Killed, String)> = (0..n).map(|_| proxy(tracker)).collect();
    let started = Instant::now();
    let mut players = Vec::new();
    for (i, (proxy, base)) in proxies.into_iter().enumerate() {
        std::thread::sleep(
            (started + Duration::from_secs(5 * i as u64)).saturating_duration_since(Instant::now()),
        );
        let url = p2pml_native::proxy::manifest_url(&base, manifest);
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
        players.push(Player {
            proxy,
            base,
            ffmpeg: Some(Killed(child)),
        });
    }
    (players, started)
}

/// Waits for every player still running and collects how each ended.
pub fn finish(players: &mut [Player], seconds: u32) -> Vec<Option<Outcome>> {
    players
        .iter_mut()
        .enumerate()
        .map(|(i, p)| {
            let mut ffmpeg = p.ffmpeg.take()?;
            let deadline = Instant::now() + Duration::from_secs(u64::from(seconds) * 3 + 30);
            let status = loop {
                if let Some(status) = ffmpeg.0.try_wait().unwrap() {
                    break status;
                }
                assert!(Instant::now() < deadline, "ffmpeg {i} did not finish");
                std::thread::sleep(Duration::from_millis(200));
            };
            let mut errors = String::new();
            ffmpeg
                .0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut errors)
                .unwrap();
            let response = get(&p.base, "/stats");
            Some(Outcome {
                success: status.success(),
                errors,
                stats: response.split("\r\n\r\n").nth(1).unwrap().to_owned(),
            })
        })
        .collect()
}

/// Prints each outcome and the swarm's totals; asserts that every player
/// ended cleanly with no failed request, and that every one after the
/// first got bytes from its peers.
pub fn check(manifest: &str, outcomes: &[Option<Outcome>]) {
    let (mut http, mut p2p) = (0, 0);
    for (i, o) in outcomes.iter().enumerate() {
        let Some(o) = o else { continue };
        let json = &o.stats;
        eprintln!("proxy {i}: {}", json.trim());
        assert!(o.success, "ffmpeg {i} failed:\n{}", o.errors);
        assert!(
            o.errors.trim().is_empty(),
            "ffmpeg {i} reported:\n{}",
            o.errors
        );
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
        100.0 * p2p as f64 / (http + p2p).max(1) as f64
    );
}

/// Three proxies, joined 5 s apart, each read by `ffmpeg -re` for
/// `seconds`, checked as [`check`] says.
pub fn three_players(manifest: &str, tracker: &str, seconds: u32) {
    let (mut players, _) = start_players(manifest, tracker, 3, seconds);
    let outcomes = finish(&mut players, seconds);
    check(manifest, &outcomes);
}
