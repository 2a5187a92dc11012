//! What a run measured, and how it is printed.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

/// One viewing session's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PeerStats {
    /// Segment bytes handed to the player.
    pub delivered: u64,
    /// Of which had come over HTTP.
    pub delivered_http: u64,
    /// Bytes received over HTTP (including what was never played).
    pub http_downloaded: u64,
    /// Bytes received from peers.
    pub p2p_downloaded: u64,
    /// Bytes sent to peers.
    pub uploaded: u64,
    /// Stalls after startup.
    pub stalls: u32,
    /// Seconds stalled.
    pub stall_secs: f64,
    /// Seconds from joining to the first frame, if playback started.
    pub startup_secs: Option<f64>,
    /// Seconds in the swarm.
    pub watched_secs: f64,
    /// Segments delivered with wrong content (must stay 0).
    pub corrupt: u64,
    /// Peer connections opened.
    pub connections: u64,
}

/// World-wide tallies.
#[derive(Debug, Clone, Default)]
pub(crate) struct Totals {
    pub(crate) origin_bytes: u64,
    pub(crate) unique_segments: BTreeSet<i64>,
    pub(crate) diagnostics: Diagnostics,
}

/// How downloads went, to see why a scenario scores as it does.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Diagnostics {
    /// HTTP attempts started.
    pub http_started: u64,
    /// P2P attempts started.
    pub p2p_started: u64,
    /// Segments completed with no HTTP byte.
    pub p2p_completed: u64,
    /// P2P attempts aborted (most often: switched to HTTP near the deadline).
    pub p2p_aborted: u64,
    /// P2P failures by reason.
    pub p2p_failed: std::collections::BTreeMap<String, u64>,
    /// HTTP failures by reason.
    pub http_failed: std::collections::BTreeMap<String, u64>,
}

/// The figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Whether P2P was on.
    pub p2p: bool,
    /// Viewers.
    pub viewers: usize,
    /// Viewing sessions (more than viewers with churn).
    pub sessions: usize,
    /// Virtual seconds simulated.
    pub duration_secs: f64,
    /// Bytes delivered to players.
    pub delivered_bytes: u64,
    /// Of which came from peers.
    pub p2p_delivered_bytes: u64,
    /// P2P bytes ÷ all bytes delivered to players.
    pub offload: f64,
    /// 1 − 1/N: each segment must cross HTTP at least once per swarm.
    pub offload_limit: f64,
    /// Bytes the origin served.
    pub origin_bytes: u64,
    /// Bytes of distinct segments played.
    pub unique_bytes: u64,
    /// Origin egress ÷ unique segment bytes (1.0 is the minimum).
    pub origin_ratio: f64,
    /// Stalls after startup, all sessions.
    pub stalls: u32,
    /// Seconds stalled, all sessions.
    pub stall_secs: f64,
    /// Startup time, median seconds.
    pub startup_p50: f64,
    /// Startup time, 95th percentile seconds.
    pub startup_p95: f64,
    /// Bytes downloaded but never played.
    pub wasted_bytes: u64,
    /// Upload per session: median bytes.
    pub upload_p50: u64,
    /// Upload per session: 90th percentile bytes.
    pub upload_p90: u64,
    /// Upload per session: most bytes.
    pub upload_max: u64,
    /// Share of all upload done by the top 10% of sessions.
    pub upload_top10_share: f64,
    /// The lowest share of P2P among sessions that watched a minute or
    /// more (each its P2P bytes ÷ bytes delivered to its player): 0 when
    /// one viewer fetches all over HTTP.
    pub session_offload_min: f64,
    /// The 10th percentile of that share over sessions.
    pub session_offload_p10: f64,
    /// Corrupt deliveries (a bug if not 0).
    pub corrupt: u64,
    /// Tracker messages handled.
    pub tracker_messages: u64,
    /// How downloads went.
    pub diagnostics: Diagnostics,
}

fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index"
    )]
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(i).copied()
}

#[expect(clippy::cast_precision_loss, reason = "ratios")]
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl Report {
    pub(crate) fn build(
        scenario: &crate::Scenario,
        p2p: bool,
        sessions: &[PeerStats],
        totals: &Totals,
        tracker_messages: u64,
    ) -> Self {
        let (origin_bytes, unique) = (totals.origin_bytes, totals.unique_segments.len());
        let delivered: u64 = sessions.iter().map(|s| s.delivered).sum();
        let delivered_http: u64 = sessions.iter().map(|s| s.delivered_http).sum();
        let downloaded: u64 = sessions
            .iter()
            .map(|s| s.http_downloaded + s.p2p_downloaded)
            .sum();
        let mut startups: Vec<f64> = sessions.iter().filter_map(|s| s.startup_secs).collect();
        startups.sort_by(f64::total_cmp);
        let mut uploads: Vec<u64> = sessions.iter().map(|s| s.uploaded).collect();
        uploads.sort_unstable();
        let total_up: u64 = uploads.iter().sum();
        let top = uploads.len().div_ceil(10);
        let top_sum: u64 = uploads.iter().rev().take(top).sum();
        let mut shares: Vec<f64> = sessions
            .iter()
            .filter(|s| s.delivered > 0 && s.watched_secs >= 60.0)
            .map(|s| 1.0 - ratio(s.delivered_http, s.delivered).min(1.0))
            .collect();
        shares.sort_by(f64::total_cmp);
        let unique_bytes = unique as u64 * scenario.segment_bytes();
        #[expect(clippy::cast_precision_loss, reason = "a ratio")]
        let limit = 1.0 - 1.0 / scenario.viewers.max(1) as f64;
        Self {
            scenario: scenario.name.clone(),
            p2p,
            viewers: scenario.viewers,
            sessions: sessions.len(),
            duration_secs: scenario.duration_secs,
            delivered_bytes: delivered,
            p2p_delivered_bytes: delivered - delivered_http.min(delivered),
            offload: 1.0 - ratio(delivered_http, delivered).min(1.0),
            offload_limit: limit,
            origin_bytes,
            unique_bytes,
            origin_ratio: ratio(origin_bytes, unique_bytes),
            stalls: sessions.iter().map(|s| s.stalls).sum(),
            stall_secs: sessions.iter().map(|s| s.stall_secs).sum(),
            startup_p50: percentile(&startups, 0.5).unwrap_or(f64::NAN),
            startup_p95: percentile(&startups, 0.95).unwrap_or(f64::NAN),
            wasted_bytes: downloaded.saturating_sub(delivered),
            upload_p50: percentile(&uploads, 0.5).unwrap_or(0),
            upload_p90: percentile(&uploads, 0.9).unwrap_or(0),
            upload_max: uploads.last().copied().unwrap_or(0),
            upload_top10_share: ratio(top_sum, total_up),
            session_offload_min: shares.first().copied().unwrap_or(0.0),
            session_offload_p10: percentile(&shares, 0.1).unwrap_or(0.0),
            corrupt: sessions.iter().map(|s| s.corrupt).sum(),
            tracker_messages,
            diagnostics: totals.diagnostics.clone(),
        }
    }
}

fn mb(bytes: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "display")]
    let m = bytes as f64 / 1e6;
    format!("{m:.1} MB")
}

/// The side-by-side table: the scenario with P2P and without.
pub fn side_by_side(p2p: &Report, off: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {} — {} viewers, {} s ({} sessions with P2P)",
        p2p.scenario, p2p.viewers, p2p.duration_secs, p2p.sessions
    );
    let _ = writeln!(out, "{:<34} {:>14} {:>14}", "", "P2P", "P2P off");
    let rows: Vec<(&str, String, String)> = vec![
        (
            "offload (P2P ÷ delivered)",
            format!("{:.1}%", p2p.offload * 100.0),
            format!("{:.1}%", off.offload * 100.0),
        ),
        (
            "limit 1 − 1/N",
            format!("{:.1}%", p2p.offload_limit * 100.0),
            "".into(),
        ),
        (
            "delivered to players",
            mb(p2p.delivered_bytes),
            mb(off.delivered_bytes),
        ),
        ("origin egress", mb(p2p.origin_bytes), mb(off.origin_bytes)),
        (
            "origin ÷ unique segment bytes",
            format!("{:.2}", p2p.origin_ratio),
            format!("{:.2}", off.origin_ratio),
        ),
        ("stalls", p2p.stalls.to_string(), off.stalls.to_string()),
        (
            "stall time",
            format!("{:.1} s", p2p.stall_secs),
            format!("{:.1} s", off.stall_secs),
        ),
        (
            "startup p50 / p95",
            format!("{:.2} / {:.2} s", p2p.startup_p50, p2p.startup_p95),
            format!("{:.2} / {:.2} s", off.startup_p50, off.startup_p95),
        ),
        (
            "downloaded, never played",
            mb(p2p.wasted_bytes),
            mb(off.wasted_bytes),
        ),
        (
            "upload p50 / p90 / max",
            format!(
                "{} / {} / {}",
                mb(p2p.upload_p50),
                mb(p2p.upload_p90),
                mb(p2p.upload_max)
            ),
            "".into(),
        ),
        (
            "upload by top 10% of peers",
            format!("{:.0}%", p2p.upload_top10_share * 100.0),
            "".into(),
        ),
        (
            "P2P share per session ≥ 1 min: min / p10",
            format!(
                "{:.1}% / {:.1}%",
                p2p.session_offload_min * 100.0,
                p2p.session_offload_p10 * 100.0
            ),
            "".into(),
        ),
        (
            "corrupt deliveries",
            p2p.corrupt.to_string(),
            off.corrupt.to_string(),
        ),
    ];
    for (label, a, b) in rows {
        let _ = writeln!(out, "{label:<34} {a:>14} {b:>14}");
    }
    let d = &p2p.diagnostics;
    let _ = writeln!(
        out,
        "P2P attempts {} (whole segments {}, aborted {}, failed {:?}); HTTP attempts {} (failed {:?})",
        d.p2p_started, d.p2p_completed, d.p2p_aborted, d.p2p_failed, d.http_started, d.http_failed
    );
    out
}
