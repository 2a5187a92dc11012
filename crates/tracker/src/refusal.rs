//! Why the tracker refuses a message. The `Display` text is the `failure
//! reason` the client receives; [`Refusal::kind`] labels the metrics.

use p2pml_proto::tracker::TrackerMessageError;

/// A refused message or connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The text is not a valid tracker message.
    #[error("invalid message: {0}")]
    Malformed(TrackerMessageError),
    /// A binary frame: trackers speak JSON text.
    #[error("binary frames are not supported; send JSON text frames")]
    Binary,
    /// A message longer than the configured maximum.
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    TooLong {
        /// The message's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The connection sent faster than its rate limit.
    #[error("too many messages: at most {0} per second")]
    RateLimited(u32),
    /// More offers than one announce may carry.
    #[error("{count} offers in one announce; at most {max}")]
    TooManyOffers {
        /// Offers sent.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The swarm holds its maximum number of peers.
    #[error("swarm is full ({0} peers)")]
    SwarmFull(usize),
    /// The tracker holds its maximum number of swarms.
    #[error("too many swarms ({0}); try again later")]
    TooManySwarms(usize),
    /// The tracker holds its maximum number of connections.
    #[error("too many connections ({0}); try again later")]
    TooManyConnections(usize),
    /// An event this tracker does not implement (`paused`).
    #[error("unsupported event {0:?}")]
    UnsupportedEvent(&'static str),
    /// An answer from a peer that has not announced on this connection.
    #[error("answering peer has not announced in this swarm on this connection")]
    NotInSwarm,
    /// An answer to an offer this tracker did not relay to the answerer, or
    /// that expired or was already answered.
    #[error("unknown or expired offer")]
    UnknownOffer,
    /// A scrape without info hashes (a scrape of every swarm).
    #[error("scrape needs at least one info_hash")]
    ScrapeAll,
}

/// The metric label of each [`Refusal`], in [`Refusal::index`] order.
pub const REFUSAL_KINDS: [&str; 12] = [
    "malformed",
    "binary",
    "too_long",
    "rate_limited",
    "too_many_offers",
    "swarm_full",
    "too_many_swarms",
    "too_many_connections",
    "unsupported_event",
    "not_in_swarm",
    "unknown_offer",
    "scrape_all",
];

impl Refusal {
    /// Position of this kind in [`REFUSAL_KINDS`].
    pub fn index(&self) -> usize {
        match self {
            Self::Malformed(_) => 0,
            Self::Binary => 1,
            Self::TooLong { .. } => 2,
            Self::RateLimited(_) => 3,
            Self::TooManyOffers { .. } => 4,
            Self::SwarmFull(_) => 5,
            Self::TooManySwarms(_) => 6,
            Self::TooManyConnections(_) => 7,
            Self::UnsupportedEvent(_) => 8,
            Self::NotInSwarm => 9,
            Self::UnknownOffer => 10,
            Self::ScrapeAll => 11,
        }
    }

    /// The metric label, e.g. `rate_limited`.
    pub fn kind(&self) -> &'static str {
        REFUSAL_KINDS.get(self.index()).copied().unwrap_or("other")
    }
}
