//! The native host of the P2P Media Loader engine, on tokio.
//!
//! [`NativeEngine`] runs one sans-IO [`p2pml_core::engine::Engine`] in a
//! task and performs what it asks for: HTTP with reqwest and rustls (byte
//! ranges, streamed bodies), WebSocket trackers with tokio-tungstenite, and
//! WebRTC data channels with webrtc-rs that browsers running P2P Media
//! Loader connect to (non-trickle SDP with host, STUN and TURN candidates).
//! It makes no scheduling decision of its own.
//!
//! On top of it:
//! - [`manifest`]: HLS and DASH manifests turned into streams and segments
//!   with the ids P2P Media Loader peers use (SPEC §3), so native peers and
//!   browsers land in the same swarms;
//! - [`proxy`]: a local HTTP server that rewrites manifests so that any
//!   player's segment requests go through an engine (`p2pml proxy`);
//! - [`seed`]: a headless peer that follows a stream and serves it (`p2pml seed`).
//!
//! # The run loop
//!
//! One task per engine: it waits for a player call, an I/O result or the
//! engine's deadline, feeds it with the time since the task started, then
//! performs every output the engine has (spawning a fetch, queueing a frame
//! for a tracker socket or a message for a peer connection's task,
//! answering the player). I/O tasks report back through one bounded queue;
//! their reports carry a token, so once the engine has aborted or closed a
//! resource, late reports of its old task are dropped.

pub mod config;
mod host;
pub mod http;
pub mod manifest;
pub mod proxy;
mod rtc;
pub mod seed;
pub mod stats;
mod tracker;

pub use config::{HttpConfig, IceServer, NativeConfig, RtcConfig};
pub use host::{HostError, LoadError, NativeEngine};
pub use rtc::{rtc_runtime, without_trickle};

/// A random number for seeds and labels (not for secrets): std's per-process
/// random hash keys, mixed with a counter and the clock.
pub(crate) fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::collections::hash_map::RandomState::new()
        .hash_one((COUNTER.fetch_add(1, Ordering::Relaxed), nanos))
}

/// rustls needs one process-wide crypto provider; ours is ring, as the
/// tracker's. Installing twice is harmless.
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
