//! The shard tasks: each owns one [`Tracker`] shard (the swarms whose info
//! hash falls to it), applies the events routed to it in order, and writes
//! what its shard says into the connections' outbound queues.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use p2pml_proto::identity::InfoHash;
use p2pml_proto::tracker::{ClientMessage, ScrapeStats};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::connection::Out;
use crate::{ConnId, Stats, Tracker};

/// Events queued for one shard. Connection tasks wait when it is full, which
/// slows their clients a little rather than buffering without bound.
pub(crate) const EVENT_QUEUE: usize = 1024;
/// Events applied before the shard publishes its metrics and yields.
const BATCH: usize = 64;
/// How often peers and offers expire.
const TICK: Duration = Duration::from_secs(1);

/// The shard of `info_hash` among `shards` (FNV-1a of its 20 bytes): every
/// message about one swarm reaches the same shard, so a swarm's state has a
/// single owner. `shards` must not be 0.
pub fn shard_of(info_hash: &InfoHash, shards: usize) -> usize {
    let hash = info_hash
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    let shards = u64::try_from(shards.max(1)).unwrap_or(u64::MAX);
    // Below `shards`, which came from a usize.
    usize::try_from(hash % shards).unwrap_or_default()
}

/// What a shard needs to write to a connection and to end it.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) outbound: mpsc::Sender<Box<Out>>,
    /// Notified when a shard drops the connection (its queue was full).
    pub(crate) kill: Arc<Notify>,
}

pub(crate) enum Event {
    /// A message for this shard's swarms; `link` comes with the connection's
    /// first message to this shard.
    Message {
        conn: ConnId,
        message: ClientMessage,
        link: Option<Link>,
    },
    /// Counts of this shard's share of a scrape.
    Scrape {
        info_hashes: Vec<InfoHash>,
        reply: oneshot::Sender<Vec<(InfoHash, ScrapeStats)>>,
    },
    /// The connection ended; sent to every shard it sent a message to.
    Closed(ConnId),
}

/// The latest metrics of each shard, and a signal that one changed.
pub(crate) struct Published {
    pub(crate) shards: Vec<Mutex<Stats>>,
    pub(crate) changed: Notify,
}

impl Published {
    pub(crate) fn new(shards: usize) -> Self {
        Self {
            shards: (0..shards).map(|_| Mutex::new(Stats::default())).collect(),
            changed: Notify::new(),
        }
    }

    fn set(&self, index: usize, stats: Stats) {
        if let Some(slot) = self.shards.get(index) {
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = stats;
        }
        self.changed.notify_one();
    }

    /// The sum of the shards' swarm metrics (their connection counts are
    /// left out: the connection tasks count connections).
    pub(crate) fn sum(&self) -> Stats {
        let mut total = Stats::default();
        for slot in &self.shards {
            total.add_swarm_work(&slot.lock().unwrap_or_else(PoisonError::into_inner));
        }
        total
    }
}

/// Runs one shard until `stop` or until every connection task is gone.
pub(crate) async fn run(
    index: usize,
    mut tracker: Tracker,
    mut events: mpsc::Receiver<Event>,
    published: Arc<Published>,
    mut stop: watch::Receiver<bool>,
) {
    let mut links: HashMap<ConnId, Link> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    loop {
        let first = tokio::select! {
            _ = stop.wait_for(|&stop| stop) => break,
            _ = tick.tick() => {
                tracker.expire(Instant::now());
                published.set(index, tracker.stats());
                continue;
            }
            event = events.recv() => match event {
                Some(event) => event,
                None => break,
            },
        };
        let now = Instant::now();
        apply(&mut tracker, &mut links, now, first);
        for _ in 1..BATCH {
            match events.try_recv() {
                Ok(event) => apply(&mut tracker, &mut links, now, event),
                Err(_) => break,
            }
        }
        published.set(index, tracker.stats());
    }
    for conn in links.into_keys() {
        tracker.detach(Instant::now(), conn);
    }
    published.set(index, tracker.stats());
}

fn apply(tracker: &mut Tracker, links: &mut HashMap<ConnId, Link>, now: Instant, event: Event) {
    let out = match event {
        Event::Message {
            conn,
            message,
            link,
        } => {
            if let Some(link) = link {
                links.insert(conn, link);
            }
            tracker.handle_admitted(now, conn, message)
        }
        Event::Scrape { info_hashes, reply } => {
            let _ = reply.send(tracker.scrape_stats(&info_hashes));
            return;
        }
        Event::Closed(conn) => {
            links.remove(&conn);
            tracker.detach(now, conn);
            return;
        }
    };
    for (conn, message) in out {
        let Some(link) = links.get(&conn) else {
            continue;
        };
        if link
            .outbound
            .try_send(Box::new(Out::Message(message)))
            .is_err()
        {
            // Full (a slow reader) or closed (it is ending): either way this
            // shard stops serving it; its task counts why it closed.
            tracing::debug!(
                ?conn,
                "outbound queue full or closed: dropping the connection"
            );
            if let Some(link) = links.remove(&conn) {
                link.kill.notify_one();
            }
            tracker.detach(now, conn);
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn shards_spread_hashes_and_stay_in_range() {
        let mut per_shard = [0usize; 4];
        for n in 0..4000u32 {
            let mut bytes = [b'a'; 20];
            bytes[..4].copy_from_slice(&n.to_le_bytes());
            let shard = shard_of(&InfoHash::from(bytes), 4);
            per_shard[shard] += 1;
        }
        assert!(per_shard.iter().all(|&n| n > 800), "{per_shard:?}");
        assert_eq!(shard_of(&InfoHash::from([7; 20]), 1), 0);
    }
}
