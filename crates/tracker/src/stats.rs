//! Counters and gauges, and their Prometheus text rendering.

use std::fmt::Write;

use crate::refusal::REFUSAL_KINDS;

/// Why a connection ended, as the server saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed it, or the socket failed.
    Client,
    /// Its outbound queue filled up: it does not read fast enough.
    SlowReader,
    /// A write blocked longer than the write timeout.
    WriteTimeout,
    /// It sent nothing for the idle timeout.
    Idle,
    /// A WebSocket protocol error, such as a frame over the size limit.
    Protocol,
    /// The tracker refused the connection (connection cap).
    Refused,
    /// The server is shutting down.
    Shutdown,
}

/// Metric labels of [`CloseReason`], in declaration order.
pub const CLOSE_REASONS: [&str; 7] = [
    "client",
    "slow_reader",
    "write_timeout",
    "idle",
    "protocol",
    "refused",
    "shutdown",
];

impl CloseReason {
    /// The metric label.
    pub fn label(self) -> &'static str {
        CLOSE_REASONS.get(self as usize).copied().unwrap_or("other")
    }
}

/// A snapshot of the tracker's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Open connections.
    pub connections: u64,
    /// Swarms with at least one peer.
    pub swarms: u64,
    /// Peers over all swarms (a peer in two swarms counts twice).
    pub peers: u64,
    /// Seeders over all swarms.
    pub seeders: u64,
    /// Relayed offers waiting for an answer.
    pub pending_offers: u64,
    /// Connections accepted since start.
    pub connections_total: u64,
    /// Announces handled (not counting answers).
    pub announces: u64,
    /// Offers relayed to a peer.
    pub offers_relayed: u64,
    /// Answers relayed to the offerer.
    pub answers_relayed: u64,
    /// Scrapes handled.
    pub scrapes: u64,
    /// Peers dropped because they stopped announcing.
    pub peers_expired: u64,
    /// Offers dropped unanswered.
    pub offers_expired: u64,
    /// Refusals, by [`crate::Refusal::index`].
    pub errors: [u64; REFUSAL_KINDS.len()],
    /// Closed connections, by [`CloseReason`].
    pub closes: [u64; CLOSE_REASONS.len()],
}

impl Stats {
    /// Adds what one shard counts (swarms, peers, offers, announces, its
    /// refusals) to `self`; connection counts, scrapes and closes are the
    /// connection tasks' and stay as they are.
    pub(crate) fn add_swarm_work(&mut self, shard: &Self) {
        self.swarms += shard.swarms;
        self.peers += shard.peers;
        self.seeders += shard.seeders;
        self.pending_offers += shard.pending_offers;
        self.announces += shard.announces;
        self.offers_relayed += shard.offers_relayed;
        self.answers_relayed += shard.answers_relayed;
        self.peers_expired += shard.peers_expired;
        self.offers_expired += shard.offers_expired;
        for (total, n) in self.errors.iter_mut().zip(shard.errors) {
            *total += n;
        }
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let gauges = [
            (
                "connections",
                "Open WebSocket connections.",
                self.connections,
            ),
            ("swarms", "Swarms with at least one peer.", self.swarms),
            ("peers", "Peers over all swarms.", self.peers),
            ("seeders", "Seeders over all swarms.", self.seeders),
            (
                "pending_offers",
                "Relayed offers waiting for an answer.",
                self.pending_offers,
            ),
        ];
        for (name, help, value) in gauges {
            metric(&mut out, name, "gauge", help, &[("", value)]);
        }
        let counters = [
            (
                "connections_total",
                "Connections accepted.",
                self.connections_total,
            ),
            ("announces_total", "Announces handled.", self.announces),
            (
                "offers_relayed_total",
                "Offers relayed.",
                self.offers_relayed,
            ),
            (
                "answers_relayed_total",
                "Answers relayed.",
                self.answers_relayed,
            ),
            ("scrapes_total", "Scrapes handled.", self.scrapes),
            (
                "peers_expired_total",
                "Peers dropped for not announcing.",
                self.peers_expired,
            ),
            (
                "offers_expired_total",
                "Offers dropped unanswered.",
                self.offers_expired,
            ),
        ];
        for (name, help, value) in counters {
            metric(&mut out, name, "counter", help, &[("", value)]);
        }
        labelled(
            &mut out,
            "errors_total",
            "Refused messages and connections, by kind.",
            "kind",
            &REFUSAL_KINDS,
            &self.errors,
        );
        labelled(
            &mut out,
            "disconnects_total",
            "Closed connections, by reason.",
            "reason",
            &CLOSE_REASONS,
            &self.closes,
        );
        out
    }
}

/// A counter with one sample per label value.
fn labelled(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: &[&str],
    counts: &[u64],
) {
    let labels: Vec<String> = values.iter().map(|v| format!("{label}=\"{v}\"")).collect();
    let samples: Vec<(&str, u64)> = labels
        .iter()
        .map(String::as_str)
        .zip(counts.iter().copied())
        .collect();
    metric(out, name, "counter", help, &samples);
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, u64)]) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP p2pml_tracker_{name} {help}");
    let _ = writeln!(out, "# TYPE p2pml_tracker_{name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "p2pml_tracker_{name} {value}");
        } else {
            let _ = writeln!(out, "p2pml_tracker_{name}{{{labels}}} {value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_every_family_once() {
        let stats = Stats {
            peers: 3,
            ..Stats::default()
        };
        let text = stats.to_prometheus();
        assert!(text.contains("\np2pml_tracker_peers 3\n"));
        assert!(text.contains("p2pml_tracker_errors_total{kind=\"rate_limited\"} 0\n"));
        assert!(text.contains("p2pml_tracker_disconnects_total{reason=\"slow_reader\"} 0\n"));
        assert_eq!(text.matches("# TYPE p2pml_tracker_errors_total").count(), 1);
    }
}
