//! The swarm state: every decision of the tracker, with no I/O and no clock.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use p2pml_proto::identity::{InfoHash, OfferId, PeerId};
use p2pml_proto::tracker::{
    Action, AnnounceEvent, AnnounceRequest, AnnounceResponse, AnswerRequest, ClientMessage,
    Failure, RelayedAnswer, RelayedOffer, ScrapeRequest, ScrapeResponse, ScrapeStats,
    TrackerMessage,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::stats::{CloseReason, Stats};
use crate::swarm::{Peer, Swarm};
use crate::{ConnId, Gate, Refusal, TrackerConfig};

/// Messages to send: each to one connection.
pub type Outgoing = Vec<(ConnId, TrackerMessage)>;

/// The tracker's state: swarms, connections, relayed offers and counters.
///
/// Feed it what the sockets do, with the current time:
/// [`connect`](Self::connect), [`receive_text`](Self::receive_text) (or
/// [`handle`](Self::handle) for a parsed message),
/// [`disconnect`](Self::disconnect); call [`expire`](Self::expire) about once
/// a second. Each call returns the messages to send.
///
/// ```
/// use std::time::Instant;
/// use p2pml_proto::tracker::TrackerMessage;
/// use p2pml_tracker::{ConnId, Tracker, TrackerConfig};
///
/// let mut tracker = Tracker::new(TrackerConfig { seed: Some(1), ..TrackerConfig::default() });
/// let now = Instant::now();
/// tracker.connect(now, ConnId(1)).unwrap();
/// let out = tracker.receive_text(now, ConnId(1), r#"{"action":"scrape","info_hash":"sNS9hkFnoJOLT+X2k7+f"}"#);
/// assert!(matches!(out.as_slice(), [(ConnId(1), TrackerMessage::Scrape(_))]));
/// ```
///
/// # As one shard of several
///
/// A server that spreads swarms over several tasks gives each a `Tracker`
/// made by [`shard`](Self::shard), sharing one [`SwarmBudget`], and routes
/// each message to the shard of its info hash. The host then owns the
/// connections: it caps their number, runs each one's [`Gate`], and answers
/// scrapes from [`scrape_stats`](Self::scrape_stats) of each shard involved.
/// A shard learns of a connection from its first message
/// ([`handle_admitted`](Self::handle_admitted)) and forgets it on
/// [`detach`](Self::detach).
pub struct Tracker {
    config: TrackerConfig,
    rng: ChaCha8Rng,
    swarms: HashMap<InfoHash, Swarm>,
    budget: SwarmBudget,
    connections: HashMap<ConnId, Connection>,
    pending: HashMap<OfferKey, PendingOffer>,
    /// Pending offers per offerer, answered or expired ones excluded.
    pending_per_peer: HashMap<(InfoHash, PeerId), usize>,
    /// Offers in relay order, to expire the oldest first.
    pending_order: VecDeque<(Instant, OfferKey)>,
    peers: usize,
    seeders: usize,
    stats: Stats,
}

struct Connection {
    /// The (swarm, peer id) pairs whose messages go to this connection.
    peers: HashSet<(InfoHash, PeerId)>,
    /// Its rate limit (unused in a shard, whose host runs the gate).
    gate: Gate,
}

/// The swarm cap (`max_swarms`) shared by the shards of one tracker: one
/// atomic count of swarms over all of them. The cap holds for the sum, and a
/// shard never refuses a swarm while the tracker as a whole has room; the
/// price is one atomic add when a swarm is created or emptied.
#[derive(Debug, Clone)]
pub struct SwarmBudget {
    swarms: Arc<AtomicUsize>,
    max: usize,
}

impl SwarmBudget {
    /// Room for `max` swarms.
    pub fn new(max: usize) -> Self {
        Self {
            swarms: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// Swarms over all shards.
    pub fn swarms(&self) -> usize {
        self.swarms.load(Ordering::Relaxed)
    }

    fn take(&self) -> bool {
        self.swarms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }

    fn give_back(&self) {
        self.swarms.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct OfferKey {
    info_hash: InfoHash,
    offerer: PeerId,
    offer_id: OfferId,
}

struct PendingOffer {
    /// The peer the offer went to: the only one that may answer it.
    to: PeerId,
    relayed: Instant,
}

impl Tracker {
    /// An empty tracker. Without a configured seed, the peer choice is
    /// seeded from the process's random hash keys.
    pub fn new(config: TrackerConfig) -> Self {
        let budget = SwarmBudget::new(config.max_swarms);
        Self::shard(config, budget, 0)
    }

    /// One shard of a tracker split by info hash: its swarms count against
    /// the shared `budget` (not `config.max_swarms`), and its peer choice is
    /// seeded with the configured seed plus `index`, so that shards draw
    /// differently and a seeded run still replays.
    pub fn shard(config: TrackerConfig, budget: SwarmBudget, index: u64) -> Self {
        let seed = config.seed.unwrap_or_else(|| {
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        });
        Self {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed.wrapping_add(index)),
            swarms: HashMap::new(),
            budget,
            connections: HashMap::new(),
            pending: HashMap::new(),
            pending_per_peer: HashMap::new(),
            pending_order: VecDeque::new(),
            peers: 0,
            seeders: 0,
            stats: Stats::default(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// A new connection. Refused past `max_connections`; the caller then
    /// sends the refusal as a failure and closes the socket. Connecting an
    /// open connection again changes nothing (its peers stay its own).
    pub fn connect(&mut self, now: Instant, conn: ConnId) -> Result<(), Refusal> {
        if self.connections.contains_key(&conn) {
            return Ok(());
        }
        if self.connections.len() >= self.config.max_connections {
            return Err(self.count(Refusal::TooManyConnections(self.config.max_connections)));
        }
        self.connections.insert(
            conn,
            Connection {
                peers: HashSet::new(),
                gate: Gate::new(now, &self.config),
            },
        );
        self.stats.connections_total += 1;
        Ok(())
    }

    /// A connection ended: its peers leave their swarms at once.
    pub fn disconnect(&mut self, now: Instant, conn: ConnId, reason: CloseReason) {
        if let Some(c) = self.stats.closes.get_mut(reason as usize) {
            *c += 1;
        }
        self.detach(now, conn);
    }

    /// A connection this shard no longer serves (it closed, or its host
    /// dropped it): its peers here leave their swarms at once. Unlike
    /// [`disconnect`](Self::disconnect), nothing is counted: the host counts
    /// its connections.
    pub fn detach(&mut self, _now: Instant, conn: ConnId) {
        let Some(connection) = self.connections.remove(&conn) else {
            return;
        };
        for (info_hash, peer_id) in connection.peers {
            self.remove_peer(&info_hash, &peer_id);
        }
    }

    /// A text frame from a connection: rate-limited, size-checked, parsed
    /// and handled. Refusals come back as failures to the sender; frames
    /// from a connection that is not open are dropped.
    pub fn receive_text(&mut self, now: Instant, conn: ConnId, text: &str) -> Outgoing {
        // Not open: nobody to answer, as in `handle`.
        let Some(c) = self.connections.get_mut(&conn) else {
            return Vec::new();
        };
        match c.gate.text(now, &self.config, text) {
            Ok(message) => self.handle(now, conn, message),
            Err(refusal) => self.refuse(conn, None, None, refusal),
        }
    }

    /// A binary frame: always refused (after the rate limit counts it).
    /// Frames from a connection that is not open are dropped.
    pub fn receive_binary(&mut self, now: Instant, conn: ConnId) -> Outgoing {
        let Some(c) = self.connections.get_mut(&conn) else {
            return Vec::new();
        };
        let refusal = c.gate.binary(now, &self.config);
        self.refuse(conn, None, None, refusal)
    }

    /// A parsed message from a connection. Messages from a connection that
    /// is not open are dropped: there is nobody to answer.
    pub fn handle(&mut self, now: Instant, conn: ConnId, message: ClientMessage) -> Outgoing {
        if !self.connections.contains_key(&conn) {
            return Vec::new();
        }
        self.dispatch(now, conn, message)
    }

    /// A parsed message from a connection the host admitted (a shard's
    /// input): the host checked the connection cap and the connection's
    /// [`Gate`]. The shard starts serving the connection if it did not yet.
    pub fn handle_admitted(
        &mut self,
        now: Instant,
        conn: ConnId,
        message: ClientMessage,
    ) -> Outgoing {
        if !self.connections.contains_key(&conn) {
            let gate = Gate::new(now, &self.config);
            self.connections.insert(
                conn,
                Connection {
                    peers: HashSet::new(),
                    gate,
                },
            );
        }
        self.dispatch(now, conn, message)
    }

    fn dispatch(&mut self, now: Instant, conn: ConnId, message: ClientMessage) -> Outgoing {
        let mut out = Vec::new();
        let (action, info_hash, result) = match message {
            ClientMessage::Announce(a) => (
                Action::Announce,
                Some(a.info_hash),
                self.announce(now, conn, a, &mut out),
            ),
            ClientMessage::Answer(a) => (
                Action::Announce,
                Some(a.info_hash),
                self.answer(conn, a, &mut out),
            ),
            ClientMessage::Scrape(s) => (Action::Scrape, None, self.scrape(conn, s, &mut out)),
        };
        if let Err(refusal) = result {
            out.extend(self.refuse(conn, Some(action), info_hash, refusal));
        }
        out
    }

    /// Drops peers that stopped announcing and offers nobody answered.
    pub fn expire(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for (info_hash, swarm) in &self.swarms {
            expired.extend(
                swarm
                    .peers()
                    .iter()
                    .filter(|p| p.expires <= now)
                    .map(|p| (*info_hash, p.id)),
            );
        }
        for (info_hash, peer_id) in expired {
            if let Some(peer) = self.remove_peer(&info_hash, &peer_id) {
                if let Some(c) = self.connections.get_mut(&peer.conn) {
                    c.peers.remove(&(info_hash, peer_id));
                }
                self.stats.peers_expired += 1;
            }
        }
        let timeout = self.config.offer_timeout();
        while let Some(&(relayed, key)) = self.pending_order.front() {
            if relayed + timeout > now {
                break;
            }
            self.pending_order.pop_front();
            if self.pending.get(&key).is_some_and(|p| p.relayed == relayed) {
                self.forget_offer(&key);
                self.stats.offers_expired += 1;
            }
        }
    }

    /// A snapshot of the metrics.
    pub fn stats(&self) -> Stats {
        Stats {
            connections: self.connections.len() as u64,
            swarms: self.swarms.len() as u64,
            peers: self.peers as u64,
            seeders: self.seeders as u64,
            pending_offers: self.pending.len() as u64,
            ..self.stats
        }
    }

    /// The peers of a swarm, sorted (for tests and inspection).
    pub fn peer_ids(&self, info_hash: &InfoHash) -> Vec<PeerId> {
        let mut ids: Vec<PeerId> = self
            .swarms
            .get(info_hash)
            .map(|s| s.peers().iter().map(|p| p.id).collect())
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// Seeders, leechers and completed downloads of each swarm asked about
    /// (zeros for a swarm this tracker does not hold), in the order asked.
    /// Counts nothing: the caller counts the scrape.
    pub fn scrape_stats<'a>(
        &self,
        info_hashes: impl IntoIterator<Item = &'a InfoHash>,
    ) -> Vec<(InfoHash, ScrapeStats)> {
        info_hashes
            .into_iter()
            .map(|h| {
                let stats = self
                    .swarms
                    .get(h)
                    .map_or_else(ScrapeStats::default, |s| ScrapeStats {
                        complete: s.seeders() as u64,
                        incomplete: s.leechers() as u64,
                        downloaded: s.downloaded,
                    });
                (*h, stats)
            })
            .collect()
    }

    fn announce(
        &mut self,
        now: Instant,
        conn: ConnId,
        a: AnnounceRequest,
        out: &mut Outgoing,
    ) -> Result<(), Refusal> {
        if a.event == Some(AnnounceEvent::Paused) {
            return Err(Refusal::UnsupportedEvent("paused"));
        }
        if a.offers.len() > self.config.max_offers_per_announce {
            return Err(Refusal::TooManyOffers {
                count: a.offers.len(),
                max: self.config.max_offers_per_announce,
            });
        }
        self.stats.announces += 1;
        if a.event == Some(AnnounceEvent::Stopped) {
            if let Some(peer) = self.remove_peer(&a.info_hash, &a.peer_id) {
                if let Some(c) = self.connections.get_mut(&peer.conn) {
                    c.peers.remove(&(a.info_hash, a.peer_id));
                }
            }
            out.push((conn, self.announce_response(&a.info_hash, None)));
            return Ok(());
        }
        self.join(now, conn, &a)?;
        if a.event == Some(AnnounceEvent::Completed) || a.left == Some(0) {
            if let Some(swarm) = self.swarms.get_mut(&a.info_hash) {
                if swarm.make_seeder(&a.peer_id) {
                    self.seeders += 1;
                    if a.event == Some(AnnounceEvent::Completed) {
                        swarm.downloaded += 1;
                    }
                }
            }
        }
        let pending = self.pending_per_peer.get(&(a.info_hash, a.peer_id));
        let room = self
            .config
            .max_pending_offers_per_peer
            .saturating_sub(pending.copied().unwrap_or(0));
        let wanted = a
            .offers
            .len()
            .min(usize::try_from(a.numwant).unwrap_or(usize::MAX));
        let warning = (wanted > room).then(|| {
            format!(
                "{} offers not relayed: {} offers of this peer still wait for an answer",
                wanted - room,
                self.config.max_pending_offers_per_peer - room
            )
        });
        out.push((conn, self.announce_response(&a.info_hash, warning)));
        self.relay_offers(now, a, wanted.min(room), out);
        Ok(())
    }

    /// Adds the announcing peer to the swarm, or refreshes it; a peer id
    /// announcing from another connection moves to that connection.
    fn join(&mut self, now: Instant, conn: ConnId, a: &AnnounceRequest) -> Result<(), Refusal> {
        let expires = now + self.config.peer_lifetime();
        let swarm = match self.swarms.entry(a.info_hash) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                if self.config.max_peers_per_swarm == 0 {
                    return Err(Refusal::SwarmFull(0));
                }
                if !self.budget.take() {
                    return Err(Refusal::TooManySwarms(self.budget.max));
                }
                e.insert(Swarm::default())
            }
        };
        let previous = match swarm.get_mut(&a.peer_id) {
            Some(peer) => {
                peer.expires = expires;
                Some(std::mem::replace(&mut peer.conn, conn))
            }
            None => {
                if swarm.len() >= self.config.max_peers_per_swarm {
                    return Err(Refusal::SwarmFull(self.config.max_peers_per_swarm));
                }
                swarm.insert(Peer {
                    id: a.peer_id,
                    conn,
                    seeder: false,
                    expires,
                });
                self.peers += 1;
                None
            }
        };
        let key = (a.info_hash, a.peer_id);
        if let Some(old) = previous.filter(|&old| old != conn) {
            if let Some(c) = self.connections.get_mut(&old) {
                c.peers.remove(&key);
            }
        }
        if let Some(c) = self.connections.get_mut(&conn) {
            c.peers.insert(key);
        }
        Ok(())
    }

    /// Sends `count` of the announce's offers to as many distinct other
    /// peers (the offers move into the messages: no SDP is copied).
    fn relay_offers(&mut self, now: Instant, a: AnnounceRequest, count: usize, out: &mut Outgoing) {
        let Some(swarm) = self.swarms.get(&a.info_hash) else {
            return;
        };
        let targets = swarm.choose_others(&a.peer_id, count, &mut self.rng);
        for (offer, target) in a.offers.into_iter().zip(targets) {
            let key = OfferKey {
                info_hash: a.info_hash,
                offerer: a.peer_id,
                offer_id: offer.offer_id,
            };
            let replaced = self.pending.insert(
                key,
                PendingOffer {
                    to: target.id,
                    relayed: now,
                },
            );
            if replaced.is_none() {
                *self
                    .pending_per_peer
                    .entry((a.info_hash, a.peer_id))
                    .or_default() += 1;
            }
            self.pending_order.push_back((now, key));
            out.push((
                target.conn,
                TrackerMessage::Offer(RelayedOffer {
                    info_hash: a.info_hash,
                    peer_id: a.peer_id,
                    offer: offer.offer,
                    offer_id: offer.offer_id,
                }),
            ));
            self.stats.offers_relayed += 1;
        }
    }

    /// Routes an answer to the peer whose offer it answers. Only the peer the
    /// offer was relayed to may answer it, once.
    fn answer(
        &mut self,
        conn: ConnId,
        a: AnswerRequest,
        out: &mut Outgoing,
    ) -> Result<(), Refusal> {
        let swarm = self.swarms.get(&a.info_hash).ok_or(Refusal::NotInSwarm)?;
        if swarm.get(&a.peer_id).is_none_or(|p| p.conn != conn) {
            return Err(Refusal::NotInSwarm);
        }
        let key = OfferKey {
            info_hash: a.info_hash,
            offerer: a.to_peer_id,
            offer_id: a.offer_id,
        };
        if self.pending.get(&key).is_none_or(|p| p.to != a.peer_id) {
            return Err(Refusal::UnknownOffer);
        }
        let offerer = swarm.get(&a.to_peer_id).map(|p| p.conn);
        self.forget_offer(&key);
        let offerer = offerer.ok_or(Refusal::UnknownOffer)?;
        out.push((
            offerer,
            TrackerMessage::Answer(RelayedAnswer {
                info_hash: a.info_hash,
                peer_id: a.peer_id,
                answer: a.answer,
                offer_id: a.offer_id,
            }),
        ));
        self.stats.answers_relayed += 1;
        Ok(())
    }

    fn scrape(
        &mut self,
        conn: ConnId,
        s: ScrapeRequest,
        out: &mut Outgoing,
    ) -> Result<(), Refusal> {
        if s.info_hashes.is_empty() {
            return Err(Refusal::ScrapeAll);
        }
        let files: BTreeMap<InfoHash, ScrapeStats> =
            self.scrape_stats(&s.info_hashes).into_iter().collect();
        self.stats.scrapes += 1;
        out.push((
            conn,
            TrackerMessage::Scrape(ScrapeResponse {
                files,
                min_request_interval_secs: None,
            }),
        ));
        Ok(())
    }

    fn announce_response(&self, info_hash: &InfoHash, warning: Option<String>) -> TrackerMessage {
        let swarm = self.swarms.get(info_hash);
        TrackerMessage::AnnounceResponse(AnnounceResponse {
            info_hash: Some(*info_hash),
            interval_secs: Some(self.config.announce_interval_secs as f64),
            complete: Some(swarm.map_or(0, |s| s.seeders() as u64)),
            incomplete: Some(swarm.map_or(0, |s| s.leechers() as u64)),
            tracker_id: None,
            warning,
        })
    }

    /// Removes a peer from its swarm (and the swarm if it empties). The
    /// caller updates the peer's connection. Its pending offers stay until
    /// they expire, so the per-peer count stays exact; answers to them fail.
    fn remove_peer(&mut self, info_hash: &InfoHash, peer_id: &PeerId) -> Option<Peer> {
        let swarm = self.swarms.get_mut(info_hash)?;
        let peer = swarm.remove(peer_id)?;
        if swarm.is_empty() {
            self.swarms.remove(info_hash);
            self.budget.give_back();
        }
        self.peers -= 1;
        self.seeders -= usize::from(peer.seeder);
        Some(peer)
    }

    fn forget_offer(&mut self, key: &OfferKey) {
        if self.pending.remove(key).is_none() {
            return;
        }
        let owner = (key.info_hash, key.offerer);
        if let Entry::Occupied(mut e) = self.pending_per_peer.entry(owner) {
            *e.get_mut() = e.get().saturating_sub(1);
            if *e.get() == 0 {
                e.remove();
            }
        }
    }

    fn count(&mut self, refusal: Refusal) -> Refusal {
        if let Some(c) = self.stats.errors.get_mut(refusal.index()) {
            *c += 1;
        }
        refusal
    }

    fn refuse(
        &mut self,
        conn: ConnId,
        action: Option<Action>,
        info_hash: Option<InfoHash>,
        refusal: Refusal,
    ) -> Outgoing {
        let refusal = self.count(refusal);
        vec![(
            conn,
            TrackerMessage::Failure(Failure {
                action,
                info_hash,
                reason: refusal.to_string(),
            }),
        )]
    }
}
