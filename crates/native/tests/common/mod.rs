//! Setup shared by the native crate's tests and examples: a tracker on
//! loopback, and an engine that knows one stream with one segment.
//!
//! Examples include this file with `#[path = "../tests/common/mod.rs"]`.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use p2pml_core::engine::Input;
use p2pml_core::streams::SegmentInfo;
use p2pml_native::{NativeConfig, NativeEngine};
use p2pml_proto::identity::StreamType;
use p2pml_tracker::{Server, ServerConfig};

/// Starts `p2pml tracker`'s server on 127.0.0.1 for the rest of the process
/// and returns its `ws://` URL.
pub(crate) async fn loopback_tracker() -> String {
    let tracker = Server::bind(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics: None,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let url = format!("ws://{}", tracker.local_addr().unwrap());
    tokio::spawn(tracker.run(std::future::pending()));
    url
}

/// Starts an engine from `config`, announcing to `tracker` from 127.0.0.1,
/// with one VOD stream (id 1) that holds `segment`. Without `http`, the
/// engine waits an hour before any HTTP download, so it can only get the
/// segment from a peer.
pub(crate) async fn one_segment_engine(
    config: NativeConfig,
    tracker: &str,
    segment: &SegmentInfo,
    http: bool,
) -> NativeEngine {
    segments_engine(config, tracker, std::slice::from_ref(segment), http).await
}

/// As [`one_segment_engine`], with a VOD stream of several segments.
pub(crate) async fn segments_engine(
    mut config: NativeConfig,
    tracker: &str,
    segments: &[SegmentInfo],
    http: bool,
) -> NativeEngine {
    config.engine.common.announce_trackers = vec![tracker.to_owned()];
    config.rtc.udp_addrs = vec!["127.0.0.1:0".into()];
    if !http {
        config.engine.main.http_initial_delay = Duration::from_secs(3600);
    }
    let e = NativeEngine::start(config).unwrap();
    e.input(Input::ManifestUrl("http://test.invalid/master.m3u8".into()))
        .await;
    e.input(Input::AddStream {
        stream: 1,
        stream_type: StreamType::Main,
        index: "test".into(),
    })
    .await;
    e.input(Input::Live(false)).await;
    e.input(Input::UpdateStream {
        stream: 1,
        add: segments.to_vec(),
        remove: vec![],
    })
    .await;
    e
}

/// User plus system CPU seconds of this process (Linux), for benchmarks.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
