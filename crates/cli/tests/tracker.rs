//! Black-box tests of `p2pml tracker`.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    missing_docs,
    clippy::cast_possible_truncation,
    clippy::type_complexity
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn p2pml() -> Command {
    Command::new(env!("CARGO_BIN_EXE_p2pml"))
}

#[test]
fn print_config_shows_defaults_and_applies_flags_and_file() {
    let out = p2pml()
        .args(["tracker", "--print-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("listen = \"0.0.0.0:8000\""), "{text}");
    assert!(text.contains("max_offers_per_announce = 10"), "{text}");

    let dir = std::env::temp_dir().join(format!("p2pml-tracker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tracker.toml");
    std::fs::write(&file, "[tracker]\nmax_swarms = 7\n").unwrap();
    let out = p2pml()
        .args(["tracker", "--print-config", "--listen", "127.0.0.1:9"])
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:9\""), "{text}");
    assert!(text.contains("max_swarms = 7"), "{text}");

    std::fs::write(&file, "[tracker]\nmax_swarm = 7\n").unwrap();
    let out = p2pml()
        .args(["tracker", "--print-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success(), "unknown keys are refused");
    assert!(String::from_utf8(out.stderr).unwrap().contains("max_swarm"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn workers_flag_sets_the_shards_and_is_bounded() {
    let out = p2pml()
        .args(["tracker", "--print-config", "--workers", "3"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("workers = 3"), "{text}");
    let out = p2pml()
        .args(["tracker", "--print-config", "--workers", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "no shard cannot serve");
    assert!(String::from_utf8(out.stderr).unwrap().contains("workers"));
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[cfg(unix)]
#[test]
fn serves_health_and_stops_on_sigterm() {
    let (listen, metrics) = (free_port(), free_port());
    let mut child = p2pml()
        .args(["tracker", "--listen", &listen.to_string()])
        .args(["--metrics", &metrics.to_string(), "--workers", "2"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let health = loop {
        if let Some(r) = get(metrics, "/health") {
            break r;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no /health");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
    assert!(TcpStream::connect(listen).is_ok(), "WebSocket port open");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "graceful exit: {status}");
}
