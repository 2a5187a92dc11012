//! A WebTorrent WebSocket tracker, as P2P Media Loader's clients use it
//! (SPEC §2): swarms keyed by info hash, each announce's offers relayed to
//! random distinct peers of the swarm, answers routed back to the offerer,
//! scrape, and a bound on everything a client can make the tracker hold.
//!
//! Two layers, as in the rest of the workspace:
//! - [`Tracker`]: the swarm state. Pure: it takes `now` as an argument, does
//!   no I/O, and draws peers from a seeded generator, so every behaviour is
//!   tested without sockets and replays exactly.
//! - [`Server`]: a thin tokio host. The swarms are sharded by info hash over
//!   `workers` tasks, each owning a [`Tracker`] shard and fed by a bounded
//!   channel; each WebSocket connection has a task that runs its [`Gate`]
//!   (rate limit, size, parsing), routes each message to the shard of its
//!   info hash, and writes what the shards send it from a bounded outbound
//!   queue (a client that does not read is disconnected); `/metrics` and
//!   `/health` are served on a separate port.

mod config;
mod connection;
mod gate;
mod http;
mod refusal;
mod server;
mod shard;
mod state;
mod stats;
mod swarm;
mod ws;

pub use config::{MAX_WORKERS, ServerConfig, TlsFiles, TrackerConfig};
pub use gate::Gate;
pub use refusal::{REFUSAL_KINDS, Refusal};
pub use server::Server;
pub use shard::shard_of;
pub use state::{Outgoing, SwarmBudget, Tracker};
pub use stats::{CLOSE_REASONS, CloseReason, Stats};

/// Identifies one client connection for the lifetime of the tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Errors of the tracker library (refusals of client messages are
/// [`Refusal`]s, sent to the client, not errors).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration does not parse.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// Another socket error.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
}
