//! Byte and peer counters of one engine, updated from its events and read
//! from any thread (status lines, tests).

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use p2pml_core::engine::{Event, Source};

/// Live counters (shared between the engine task and readers).
#[derive(Debug, Default)]
pub struct Stats {
    http_bytes: AtomicU64,
    p2p_bytes: AtomicU64,
    uploaded_bytes: AtomicU64,
    peers: AtomicI64,
    segments_failed: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Bytes downloaded over HTTP by the engine (segments only).
    pub http_bytes: u64,
    /// Bytes downloaded from peers.
    pub p2p_bytes: u64,
    /// Bytes uploaded to peers.
    pub uploaded_bytes: u64,
    /// Peers connected now.
    pub peers: u64,
    /// Player requests that failed.
    pub segments_failed: u64,
}

impl Stats {
    /// Counts one engine event.
    pub fn count(&self, event: &Event) {
        match event {
            Event::ChunkDownloaded { bytes, source, .. } => {
                let counter = match source {
                    Source::Http => &self.http_bytes,
                    Source::P2p => &self.p2p_bytes,
                };
                counter.fetch_add(*bytes, Ordering::Relaxed);
            }
            Event::ChunkUploaded { bytes, .. } => {
                self.uploaded_bytes.fetch_add(*bytes, Ordering::Relaxed);
            }
            Event::PeerConnect { .. } => {
                self.peers.fetch_add(1, Ordering::Relaxed);
            }
            Event::PeerClose { .. } => {
                self.peers.fetch_sub(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// Counts a failed player request.
    pub fn count_failure(&self) {
        self.segments_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            http_bytes: self.http_bytes.load(Ordering::Relaxed),
            p2p_bytes: self.p2p_bytes.load(Ordering::Relaxed),
            uploaded_bytes: self.uploaded_bytes.load(Ordering::Relaxed),
            peers: u64::try_from(self.peers.load(Ordering::Relaxed)).unwrap_or(0),
            segments_failed: self.segments_failed.load(Ordering::Relaxed),
        }
    }
}

impl std::ops::Add for StatsSnapshot {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            http_bytes: self.http_bytes + o.http_bytes,
            p2p_bytes: self.p2p_bytes + o.p2p_bytes,
            uploaded_bytes: self.uploaded_bytes + o.uploaded_bytes,
            peers: self.peers + o.peers,
            segments_failed: self.segments_failed + o.segments_failed,
        }
    }
}

impl StatsSnapshot {
    /// The share of downloaded bytes that came from peers, 0 to 1.
    #[expect(clippy::cast_precision_loss, reason = "a ratio for display")]
    pub fn p2p_ratio(&self) -> f64 {
        let total = self.http_bytes + self.p2p_bytes;
        if total == 0 {
            0.0
        } else {
            self.p2p_bytes as f64 / total as f64
        }
    }
}

/// One status line: `P2P 1.2 MB (40%) · HTTP 1.8 MB · up 0.9 MB · 2 peers`.
///
/// ```
/// use p2pml_native::stats::StatsSnapshot;
/// let s = StatsSnapshot { http_bytes: 3_000_000, p2p_bytes: 1_000_000, uploaded_bytes: 500_000, peers: 2, segments_failed: 0 };
/// assert_eq!(s.to_string(), "P2P 1.0 MB (25%) · HTTP 3.0 MB · up 0.5 MB · 2 peers");
/// ```
impl fmt::Display for StatsSnapshot {
    #[expect(clippy::cast_precision_loss, reason = "megabytes for display")]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mb = |b: u64| b as f64 / 1e6;
        write!(
            f,
            "P2P {:.1} MB ({:.0}%) · HTTP {:.1} MB · up {:.1} MB · {} peers",
            mb(self.p2p_bytes),
            self.p2p_ratio() * 100.0,
            mb(self.http_bytes),
            mb(self.uploaded_bytes),
            self.peers
        )?;
        if self.segments_failed > 0 {
            write!(f, " · {} failed", self.segments_failed)?;
        }
        Ok(())
    }
}
