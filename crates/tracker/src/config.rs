//! Configuration: the swarm limits ([`TrackerConfig`]) and the server around
//! them ([`ServerConfig`]). Both read from TOML, reject unknown keys, and print
//! their defaults (`p2pml tracker --print-config`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Limits and timing of the swarm state. Every bound refuses with a
/// `failure reason` when hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackerConfig {
    /// Seconds between announces, sent as `interval`. 120: what
    /// bittorrent-tracker's server and aquatic_ws send; P2P Media Loader
    /// re-announces with fresh offers at this cadence.
    pub announce_interval_secs: u64,
    /// A peer that has not re-announced for `announce_interval_secs` plus this
    /// is dropped. 120, so a peer lives two intervals as in wt-tracker: one
    /// lost announce is forgiven.
    pub peer_grace_secs: u64,
    /// Open WebSocket connections, over all workers. 10 000: a common file
    /// descriptor limit leaves room for that many; raise both together.
    pub max_connections: usize,
    /// Peers in one swarm. 5 000: a P2P Media Loader peer connects to a
    /// handful of others; more peers in one rendition only widen the random
    /// choice.
    pub max_peers_per_swarm: usize,
    /// Swarms (info hashes) at once, over all workers (the shards share one
    /// atomic count). 100 000: each costs little, but a client must not
    /// create them without bound.
    pub max_swarms: usize,
    /// Offers in one announce. 10: aquatic_ws's cap and
    /// [`p2pml_proto::tracker::MAX_OFFERS_PER_ANNOUNCE`]; P2P Media Loader
    /// sends 5. Only a lower value has an effect: the message parser refuses
    /// more than the protocol's 10.
    pub max_offers_per_announce: usize,
    /// Bytes in one message. 64 KiB: [`p2pml_proto::tracker::MAX_MESSAGE_LEN`],
    /// as aquatic_ws and wt-tracker; 10 real offers take about 16 KiB.
    pub max_message_len: usize,
    /// Messages per second one connection may send, on average. 20: a busy
    /// viewer in two swarms answers a few offers per second at most.
    pub max_messages_per_sec: u32,
    /// Messages one connection may send in a burst above that rate. 50: a
    /// page starting ten swarms at once announces in one go.
    pub message_burst: u32,
    /// Relayed offers of one peer still waiting for an answer. 50: five
    /// announces' worth of P2P Media Loader's 10-offer maximum.
    pub max_pending_offers_per_peer: usize,
    /// Seconds a relayed offer waits for its answer. 50: P2P Media Loader's
    /// `OFFER_TIMEOUT`, after which the offerer has destroyed that connection.
    pub offer_timeout_secs: u64,
    /// Seed of the peer choice. `None` seeds from the process's random hash
    /// keys; tests set it to replay a run.
    pub seed: Option<u64>,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            announce_interval_secs: 120,
            peer_grace_secs: 120,
            max_connections: 10_000,
            max_peers_per_swarm: 5_000,
            max_swarms: 100_000,
            max_offers_per_announce: p2pml_proto::tracker::MAX_OFFERS_PER_ANNOUNCE,
            max_message_len: p2pml_proto::tracker::MAX_MESSAGE_LEN,
            max_messages_per_sec: 20,
            message_burst: 50,
            max_pending_offers_per_peer: 50,
            offer_timeout_secs: 50,
            seed: None,
        }
    }
}

impl TrackerConfig {
    /// How long a peer lives without announcing.
    pub fn peer_lifetime(&self) -> Duration {
        Duration::from_secs(
            self.announce_interval_secs
                .saturating_add(self.peer_grace_secs),
        )
    }

    /// How long a relayed offer waits for its answer.
    pub fn offer_timeout(&self) -> Duration {
        Duration::from_secs(self.offer_timeout_secs)
    }
}

/// Most workers a server runs: more shards than this would only add
/// per-connection bookkeeping.
pub const MAX_WORKERS: usize = 256;

/// The server: where it listens and how it treats sockets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// WebSocket listener. Port 8000: wt-tracker's default.
    pub listen: SocketAddr,
    /// Shards of the swarm state, each a task owning the swarms whose info
    /// hash falls to it; `p2pml tracker` also runs this many runtime
    /// threads. Default: the machine's available parallelism, so every core
    /// relays. 1 to [`MAX_WORKERS`].
    pub workers: usize,
    /// `/metrics` and `/health` listener; `None` (the default) serves none.
    /// Give it a loopback or private address: metrics are for the operator.
    pub metrics: Option<SocketAddr>,
    /// Messages queued for one connection before it counts as a slow reader
    /// and is disconnected. 256: several announces' worth of relayed offers.
    pub outbound_queue: usize,
    /// Seconds one write may block before the connection is dropped. 10.
    pub write_timeout_secs: u64,
    /// Seconds to complete the WebSocket handshake. 10.
    pub handshake_timeout_secs: u64,
    /// Seconds a connection may stay silent. 300: longer than a peer's
    /// lifetime (two announce intervals), so only dead sockets are closed.
    pub idle_timeout_secs: u64,
    /// Connections still in their handshake, on top of `max_connections`;
    /// past this, new sockets are closed at once. 256.
    pub handshake_slack: usize,
    /// TLS for `wss://` (PEM files); `None` (the default) serves `ws://`.
    pub tls: Option<TlsFiles>,
    /// The swarm state's limits.
    pub tracker: TrackerConfig,
}

/// A certificate chain and its private key, as PEM files, for `wss://`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (e.g. Let's Encrypt's `fullchain.pem`).
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8000)),
            workers: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            metrics: None,
            outbound_queue: 256,
            write_timeout_secs: 10,
            handshake_timeout_secs: 10,
            idle_timeout_secs: 300,
            handshake_slack: 256,
            tls: None,
            tracker: TrackerConfig::default(),
        }
    }
}

impl ServerConfig {
    /// Parses TOML; unknown keys are errors, missing keys take their default.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let config: Self = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Refuses values the server cannot run with.
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            return Err(Error::Config(format!(
                "workers = {}: must be 1 to {MAX_WORKERS}",
                self.workers
            )));
        }
        Ok(())
    }

    /// The configuration as TOML (what `--print-config` shows).
    pub fn to_toml(&self) -> String {
        // Every field is a number, string, bool or table: serializing cannot fail.
        toml::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let config = ServerConfig::default();
        assert_eq!(ServerConfig::from_toml(&config.to_toml()).unwrap(), config);
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(ServerConfig::from_toml("listn = \"127.0.0.1:1\"").is_err());
        assert!(ServerConfig::from_toml("[tracker]\nmax_peers = 3").is_err());
    }

    #[test]
    fn workers_are_bounded() {
        assert_eq!(ServerConfig::from_toml("workers = 3").unwrap().workers, 3);
        assert!(ServerConfig::from_toml("workers = 0").is_err());
        assert!(ServerConfig::from_toml("workers = 100000").is_err());
    }

    #[test]
    fn missing_keys_take_defaults() {
        let config = ServerConfig::from_toml("[tracker]\nmax_swarms = 3").unwrap();
        assert_eq!(config.tracker.max_swarms, 3);
        assert_eq!(config.listen, ServerConfig::default().listen);
    }
}
