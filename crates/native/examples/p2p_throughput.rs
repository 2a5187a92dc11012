#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    missing_docs
)]
//! Native→native throughput through the whole peer protocol: engine A
//! loads one large segment over HTTP from our origin, engine B (HTTP
//! forbidden) then loads it from A over a WebRTC data channel, both in this
//! process on 127.0.0.1, through our tracker.
//!
//! `cargo run --release -p p2pml-native --example p2p_throughput [MiB]`
//! (`HIGH_WATER_KIB=4096` sets the engine's send high-water mark, its floor;
//! `HIGH_WATER_MAX_KIB` the most it grows to with the channel's drain rate;
//! `TURN_URL=turn:127.0.0.1:3478?transport=udp` with `TURN_USER` and
//! `TURN_CREDENTIAL` limits both engines to relay candidates through that
//! TURN server).

/// The allocator `p2pml` ships with (see crates/cli/src/main.rs), so that
/// the peers measured here allocate as they do in the product.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use p2pml_core::streams::SegmentInfo;
use p2pml_native::{IceServer, NativeConfig, NativeEngine};
use p2pml_origin::{Mount, Origin, OriginConfig};

#[path = "../tests/common/mod.rs"]
mod common;

async fn engine(tracker: &str, segment: &SegmentInfo, bytes: u64, http: bool) -> NativeEngine {
    let mut config = NativeConfig::default();
    // One segment of `bytes`: above the defaults' caps (a 128 MiB segment,
    // storage and prefetch budgets sized for video) when the run asks for
    // more, so raise them to fit it.
    config.engine.peer.max_segment_bytes = config.engine.peer.max_segment_bytes.max(bytes);
    config.engine.common.storage_limit_bytes =
        config.engine.common.storage_limit_bytes.max(2 * bytes);
    config.engine.common.max_prefetch_bytes =
        config.engine.common.max_prefetch_bytes.max(2 * bytes);
    if let Some(kib) = std::env::var("HIGH_WATER_KIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        config.engine.peer.send_high_water = kib << 10;
    }
    if let Some(kib) = std::env::var("HIGH_WATER_MAX_KIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        config.engine.peer.send_high_water_max = kib << 10;
    }
    if let Ok(url) = std::env::var("TURN_URL") {
        config.rtc.relay_only = true;
        config.rtc.ice_servers = vec![IceServer {
            urls: vec![url],
            username: std::env::var("TURN_USER").unwrap_or_default(),
            credential: std::env::var("TURN_CREDENTIAL").unwrap_or_default(),
        }];
    }
    common::one_segment_engine(config, tracker, segment, http).await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // RUST_LOG=p2pml_native=debug shows the engines' steps (to stderr).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(64);
    let dir = std::env::temp_dir().join(format!("p2pml-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data: Vec<u8> = (0..mib << 20).map(|i| (i * 7 + i / 4093) as u8).collect();
    std::fs::write(dir.join("big.bin"), &data).unwrap();
    let mut config = OriginConfig::new(&dir);
    config.mounts.push(Mount::new("/big", &dir).unwrap());
    let origin = Origin::bind("127.0.0.1:0", config).await.unwrap();
    let url = format!("http://{}/big/big.bin", origin.local_addr());
    tokio::spawn(origin.run(std::future::pending()));
    let tracker_url = common::loopback_tracker().await;

    let segment = SegmentInfo {
        id: 0,
        url,
        byte_range: None,
        start: 0.0,
        end: 600.0,
    };
    let a = engine(&tracker_url, &segment, data.len() as u64, true).await;
    let got = a.load_segment(1, 0).await.unwrap();
    assert_eq!(got.len(), data.len());
    let b = engine(&tracker_url, &segment, data.len() as u64, false).await;
    // B joins the swarm when asked for the segment; time the transfer from
    // its first byte (connecting is measured apart).
    let joined = Instant::now();
    // For profilers attaching to the transfer only (perf record -p).
    eprintln!("p2p_throughput: B joins the swarm");
    let load = tokio::spawn({
        let b = b.clone();
        async move { b.load_segment(1, 0).await }
    });
    while b.stats().peers == 0 {
        assert!(
            joined.elapsed() < Duration::from_secs(30),
            "no peer connected; A: {}; B: {}",
            a.stats(),
            b.stats()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let connected = joined.elapsed();
    while b.stats().p2p_bytes == 0 {
        assert!(
            joined.elapsed() < Duration::from_secs(30),
            "no byte arrived; A: {}; B: {}",
            a.stats(),
            b.stats()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (cpu, t) = (common::cpu_seconds(), Instant::now());
    let bytes = load.await.unwrap().unwrap();
    let (wall, cpu) = (t.elapsed().as_secs_f64(), common::cpu_seconds() - cpu);
    assert!(bytes == got, "the bytes differ");
    let mb = bytes.len() as f64 / 1e6;
    println!(
        "peer connected after {:.0} ms; {mb:.0} MB A→B in {wall:.2} s = {:.0} MB/s ({:.2} Gbit/s); \
         CPU (both engines) {cpu:.2} s = {:.1} ms/MB; B counted {} P2P bytes",
        connected.as_secs_f64() * 1e3,
        mb / wall,
        mb * 8.0 / 1e3 / wall,
        cpu * 1e3 / mb,
        b.stats().p2p_bytes
    );
    let _ = std::fs::remove_dir_all(&dir);
}
