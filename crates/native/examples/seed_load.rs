#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    missing_docs
)]
//! Load for a seeder: N headless viewers in this process that follow a live
//! stream and may get it from peers only (no HTTP, no upload), so every
//! byte they receive comes from the seeder under test. They send no offers,
//! so they connect only to peers that offer: the seeder.
//!
//! `seed_load MANIFEST TRACKER VIEWERS SECONDS`; every 5 s it prints
//! `viewers=… p2p_bytes=… peers=…`, the viewers' totals. Used by
//! `cargo xtask bench-seed`.

use std::time::{Duration, Instant};

use p2pml_native::NativeConfig;
use p2pml_native::seed::{SeedConfig, Seeder};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, manifest, tracker, viewers, seconds] = args.as_slice() else {
        eprintln!("usage: seed_load MANIFEST TRACKER VIEWERS SECONDS");
        std::process::exit(2);
    };
    let viewers: usize = viewers.parse().unwrap();
    let seconds: u64 = seconds.parse().unwrap();
    let mut config = NativeConfig::default();
    config.engine.common.announce_trackers = vec![tracker.clone()];
    config.rtc.udp_addrs = vec!["127.0.0.1:0".into()];
    // Viewers only answer offers, so their one kind of peer is the seeder
    // (which offers); otherwise they fill their connections with each other.
    config.engine.announcer.offers_per_announce = 0;
    for stream in [&mut config.engine.main, &mut config.engine.secondary] {
        // Peers only, and nothing for other viewers: what they get, the
        // seeder sent.
        stream.http_initial_delay = Duration::from_secs(24 * 3600);
        stream.p2p_upload_disabled = true;
    }
    let mut running = Vec::new();
    for _ in 0..viewers {
        let viewer = Seeder::start(SeedConfig {
            native: config.clone(),
            manifest: manifest.clone(),
            renditions: vec![0],
        })
        .await
        .unwrap();
        running.push(viewer);
    }
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (mut p2p, mut peers) = (0, 0);
        for v in &running {
            let s = v.stats();
            p2p += s.p2p_bytes;
            peers += s.peers;
        }
        println!(
            "t={:.0} viewers={viewers} p2p_bytes={p2p} peers={peers}",
            started.elapsed().as_secs_f64()
        );
    }
}
