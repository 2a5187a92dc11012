//! What every frame of a connection passes before it reaches a swarm: the
//! connection's message rate, the size limit, and parsing. Pure and per
//! connection, so the server runs it in the connection's own task (on any
//! worker thread) and [`Tracker`](crate::Tracker) runs it for the connections
//! it owns.

use std::time::Instant;

use p2pml_proto::tracker::{ClientMessage, MAX_OFFERS_PER_ANNOUNCE, TrackerMessageError};

use crate::{Refusal, TrackerConfig};

/// The admission state of one connection: a token bucket of
/// `max_messages_per_sec` refilled continuously, holding at most
/// `message_burst` tokens; each frame, text or binary, spends one.
///
/// ```
/// use std::time::Instant;
/// use p2pml_tracker::{Gate, Refusal, TrackerConfig};
///
/// let config = TrackerConfig { message_burst: 1, ..TrackerConfig::default() };
/// let now = Instant::now();
/// let mut gate = Gate::new(now, &config);
/// let scrape = r#"{"action":"scrape","info_hash":"sNS9hkFnoJOLT+X2k7+f"}"#;
/// assert!(gate.text(now, &config, scrape).is_ok());
/// assert_eq!(gate.text(now, &config, scrape), Err(Refusal::RateLimited(20)));
/// ```
#[derive(Debug, Clone)]
pub struct Gate {
    tokens: f64,
    refilled: Instant,
}

impl Gate {
    /// A connection opened at `now`, with a full burst.
    pub fn new(now: Instant, config: &TrackerConfig) -> Self {
        Self {
            tokens: f64::from(config.message_burst),
            refilled: now,
        }
    }

    /// A text frame: rate-limited, size-checked and parsed. An announce with
    /// more offers than the protocol allows, which the parser refuses, is
    /// refused as [`Refusal::TooManyOffers`]; the configured (lower)
    /// `max_offers_per_announce` is checked with the swarm, so that its
    /// failure names the announce's info hash.
    pub fn text(
        &mut self,
        now: Instant,
        config: &TrackerConfig,
        text: &str,
    ) -> Result<ClientMessage, Refusal> {
        self.spend(now, config)?;
        if text.len() > config.max_message_len {
            return Err(Refusal::TooLong {
                len: text.len(),
                max: config.max_message_len,
            });
        }
        ClientMessage::parse(text).map_err(|e| match e {
            TrackerMessageError::TooManyOffers(count) => Refusal::TooManyOffers {
                count,
                max: config.max_offers_per_announce.min(MAX_OFFERS_PER_ANNOUNCE),
            },
            e => Refusal::Malformed(e),
        })
    }

    /// A binary frame: always refused, as [`Refusal::Binary`] unless the rate
    /// limit refuses it first.
    pub fn binary(&mut self, now: Instant, config: &TrackerConfig) -> Refusal {
        self.spend(now, config).err().unwrap_or(Refusal::Binary)
    }

    /// Spends one token of the bucket.
    fn spend(&mut self, now: Instant, config: &TrackerConfig) -> Result<(), Refusal> {
        let rate = config.max_messages_per_sec;
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * f64::from(rate)).min(f64::from(config.message_burst));
        self.refilled = now;
        if self.tokens < 1.0 {
            return Err(Refusal::RateLimited(rate));
        }
        self.tokens -= 1.0;
        Ok(())
    }
}
