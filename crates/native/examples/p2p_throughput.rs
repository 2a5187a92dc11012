#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    missing_docs
)]
//! Native→native throughput through the whole peer protocol: engine A
//! loads the data over HTTP from our origin, engine B (HTTP forbidden) then
//! loads it from A over a WebRTC data channel, both in this process on
//! 127.0.0.1, through our tracker.
//!
//! `cargo run --release -p p2pml-native --example p2p_throughput [MiB [SEGMENT_MiB]]`
//!
//! Without `SEGMENT_MiB`, the data is one segment of `MiB` (B assembles it
//! once, at the end). With it, the data is a VOD stream of `MiB / SEGMENT_MiB`
//! segments that B loads one after the other, as a player does, keeping at
//! most 32 MiB (its storage limit: a peer that has watched for a while
//! recycles its memory) and reporting its playhead at each. Env: `HIGH_WATER_KIB` sets the engine's send
//! high-water mark, its floor; `HIGH_WATER_MAX_KIB` the most it grows to with
//! the channel's drain rate; `TURN_URL=turn:127.0.0.1:3478?transport=udp`
//! with `TURN_USER` and `TURN_CREDENTIAL` limits both engines to relay
//! candidates through that TURN server.

/// The allocator `p2pml` ships with (see crates/cli/src/main.rs), so that
/// the peers measured here allocate as they do in the product.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use p2pml_core::engine::Input;
use p2pml_core::streams::SegmentInfo;
use p2pml_native::{IceServer, NativeConfig, NativeEngine};
use p2pml_origin::{Mount, Origin, OriginConfig};

#[path = "../tests/common/mod.rs"]
mod common;

async fn engine(
    tracker: &str,
    segments: &[SegmentInfo],
    segment_bytes: u64,
    http: bool,
) -> NativeEngine {
    let mut config = NativeConfig::default();
    // Segments of `segment_bytes`: above the defaults' caps (a 128 MiB
    // segment, storage and prefetch budgets sized for video) when the run
    // asks for more, so raise them to fit.
    config.engine.peer.max_segment_bytes = config.engine.peer.max_segment_bytes.max(segment_bytes);
    // A, the source, holds everything; B, in the segmented mode, recycles.
    let all = segment_bytes * segments.len() as u64;
    config.engine.common.storage_limit_bytes = if segments.len() > 1 && !http {
        STORAGE_LIMIT.max(2 * segment_bytes)
    } else {
        config.engine.common.storage_limit_bytes.max(2 * all)
    };
    config.engine.common.max_prefetch_bytes = config
        .engine
        .common
        .max_prefetch_bytes
        .max(2 * segment_bytes);
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
    if let Some(kib) = std::env::var("SCTP_WINDOW_KIB")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        config.rtc.sctp_receive_window = kib << 10;
    }
    if let Ok(url) = std::env::var("TURN_URL") {
        config.rtc.relay_only = true;
        config.rtc.ice_servers = vec![IceServer {
            urls: vec![url],
            username: std::env::var("TURN_USER").unwrap_or_default(),
            credential: std::env::var("TURN_CREDENTIAL").unwrap_or_default(),
        }];
    }
    common::segments_engine(config, tracker, segments, http).await
}

/// B's storage in the segmented mode.
const STORAGE_LIMIT: u64 = 32 << 20;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // RUST_LOG=p2pml_native=debug shows the engines' steps (to stderr).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let arg = |n: usize| {
        std::env::args()
            .nth(n)
            .and_then(|a| a.parse::<usize>().ok())
    };
    let mib = arg(1).unwrap_or(64);
    let segment_mib = arg(2).unwrap_or(mib).clamp(1, mib);
    let count = mib / segment_mib;
    let dir = std::env::temp_dir().join(format!("p2pml-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = RemoveOnDrop(dir.clone());
    let segment_bytes = segment_mib << 20;
    let files: Vec<Vec<u8>> = (0..count)
        .map(|k| {
            (0..segment_bytes)
                .map(|i| (i * 7 + i / 4093 + k * 13) as u8)
                .collect()
        })
        .collect();
    for (k, data) in files.iter().enumerate() {
        std::fs::write(dir.join(format!("seg-{k}.bin")), data).unwrap();
    }
    let mut config = OriginConfig::new(&dir);
    config.mounts.push(Mount::new("/big", &dir).unwrap());
    let origin = Origin::bind("127.0.0.1:0", config).await.unwrap();
    let base = format!("http://{}/big", origin.local_addr());
    tokio::spawn(origin.run(std::future::pending()));
    let tracker_url = common::loopback_tracker().await;

    let segments: Vec<SegmentInfo> = (0..count)
        .map(|k| SegmentInfo {
            id: k as i64,
            url: format!("{base}/seg-{k}.bin"),
            byte_range: None,
            start: k as f64 * 2.0,
            end: (k + 1) as f64 * 2.0,
        })
        .collect();
    let a = engine(&tracker_url, &segments, segment_bytes as u64, true).await;
    for (k, data) in files.iter().enumerate() {
        a.input(Input::Playback {
            position: k as f64 * 2.0,
            rate: 1.0,
        })
        .await;
        let got = a.load_segment(1, k as i64).await.unwrap();
        assert_eq!(got.len(), data.len());
    }
    let b = engine(&tracker_url, &segments, segment_bytes as u64, false).await;
    // B joins the swarm when asked for the first segment; time the transfer
    // from its first byte (connecting is measured apart).
    let joined = Instant::now();
    // For profilers attaching to the transfer only (perf record -p).
    eprintln!("p2p_throughput: B joins the swarm");
    let load = tokio::spawn({
        let b = b.clone();
        async move {
            let mut equal = true;
            for (k, data) in files.iter().enumerate() {
                // As a player: the playhead at the segment asked for, so the
                // ones played can be evicted (without a playhead nothing is).
                b.input(Input::Playback {
                    position: k as f64 * 2.0,
                    rate: 1.0,
                })
                .await;
                let got = b.load_segment(1, k as i64).await?;
                equal &= got == data[..];
            }
            Ok::<bool, p2pml_native::LoadError>(equal)
        }
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
    let equal = load.await.unwrap().unwrap();
    let (wall, cpu) = (t.elapsed().as_secs_f64(), common::cpu_seconds() - cpu);
    assert!(equal, "the bytes differ");
    let mb = (count * segment_bytes) as f64 / 1e6;
    println!(
        "peer connected after {:.0} ms; {mb:.0} MB A→B in {count} segment(s) of {segment_mib} MiB \
         in {wall:.2} s = {:.0} MB/s ({:.2} Gbit/s); CPU (both engines) {cpu:.2} s = {:.1} ms/MB; \
         B counted {} P2P bytes",
        connected.as_secs_f64() * 1e3,
        mb / wall,
        mb * 8.0 / 1e3 / wall,
        cpu * 1e3 / mb,
        b.stats().p2p_bytes
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Removes the origin's files (the size of the run) when the run ends: 28
/// runs once filled the disk.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
