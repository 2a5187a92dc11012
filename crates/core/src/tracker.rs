//! The tracker client for one swarm on one tracker (SPEC §2.4–2.7): when to
//! announce, which offers are pending, where answers go, and when to
//! reconnect. Sans-IO: the engine routes the socket's messages here and
//! performs [`AnnouncerOutput`]s.
//!
//! Compatible with every WebTorrent tracker: `started` first, then plain
//! re-announces at the tracker's interval with fresh offers, `numwant` equal
//! to the offers, a peer id per info hash. Better than P2P Media Loader:
//! offers only up to a connection target (it makes 5 new peer connections on
//! every announce), offers given up as soon as the tracker says the swarm
//! holds only us (nobody received them, and they hold connection slots) and
//! none on re-announces while that lasts, `stopped` when leaving,
//! jitter-bounded reconnects.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use p2pml_proto::identity::{InfoHash, OfferId, PeerId};
use p2pml_proto::tracker::{
    AnnounceEvent, AnnounceRequest, AnswerRequest, ClientMessage, MAX_OFFERS_PER_ANNOUNCE, Offer,
    SdpType, SessionDescription, TrackerMessage,
};
use rand_core::Rng;

use crate::time::Instant;

/// A connection the engine created, identified across host calls.
pub type ConnId = u64;

/// Settings of the announcer.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnouncerConfig {
    /// Interval until the tracker sends its own (P2PML: 30 s).
    pub default_interval: Duration,
    /// Shortest interval we accept from a tracker, so a hostile or broken one
    /// cannot make us announce in a loop.
    pub min_interval: Duration,
    /// Offers per announce at most (P2PML: 5; aquatic_ws relays up to 10).
    pub offers_per_announce: usize,
    /// An unanswered offer's connection is destroyed after this (P2PML: 50 s).
    pub offer_timeout: Duration,
    /// Announce without the offers still being gathered after this long
    /// (P2PML waits 5 s after the first candidate).
    pub offer_gathering_timeout: Duration,
}

impl Default for AnnouncerConfig {
    fn default() -> Self {
        Self {
            default_interval: Duration::from_secs(30),
            min_interval: Duration::from_secs(5),
            offers_per_announce: 5,
            offer_timeout: Duration::from_secs(50),
            offer_gathering_timeout: Duration::from_secs(5),
        }
    }
}

/// What the engine must do for an announcer.
#[derive(Debug, Clone, PartialEq)]
pub enum AnnouncerOutput {
    /// Send this message on the tracker's socket.
    Send(ClientMessage),
    /// Create `count` offering connections and report each with
    /// [`Announcer::offer_created`] (or [`Announcer::offer_failed`]).
    CreateOffers {
        /// How many.
        count: usize,
    },
    /// Answer a remote peer's offer: create an answering connection and report
    /// its SDP with [`Announcer::answer_created`].
    CreateAnswer {
        /// The offering peer.
        remote: PeerId,
        /// Its offer's id, to echo.
        offer_id: OfferId,
        /// Its SDP.
        offer: String,
    },
    /// The answer to one of our offers arrived: apply it to `conn`.
    AcceptAnswer {
        /// Our offering connection.
        conn: ConnId,
        /// The answering peer.
        remote: PeerId,
        /// Its SDP.
        answer: String,
    },
    /// An offer expired unanswered: destroy its connection.
    DropOffer {
        /// The connection.
        conn: ConnId,
    },
    /// The tracker sent a `warning message` (P2PML's tracker warning event).
    Warning(String),
    /// The tracker refused a request with a `failure reason`, or a request
    /// could not be built (P2PML's tracker error event).
    Error(String),
}

#[derive(Debug)]
struct PendingOffer {
    conn: ConnId,
    expires: Instant,
}

#[derive(Debug)]
struct Gathering {
    event: Option<AnnounceEvent>,
    expected: usize,
    offers: Vec<Offer>,
    deadline: Instant,
}

/// Announces one swarm on one tracker.
#[derive(Debug)]
pub struct Announcer {
    config: AnnouncerConfig,
    info_hash: InfoHash,
    peer_id: PeerId,
    connected: bool,
    started: bool,
    interval: Duration,
    next_announce: Option<Instant>,
    gathering: Option<Gathering>,
    pending: BTreeMap<OfferId, PendingOffer>,
    tracker_id: Option<String>,
    /// The last announce response counted no peer but us in the swarm.
    alone: bool,
    out: VecDeque<AnnouncerOutput>,
}

impl Announcer {
    /// An announcer for `info_hash` as `peer_id` (one peer id per info hash:
    /// wt-tracker moves a peer id between swarms).
    pub fn new(config: AnnouncerConfig, info_hash: InfoHash, peer_id: PeerId) -> Self {
        let interval = config.default_interval;
        Self {
            config,
            info_hash,
            peer_id,
            connected: false,
            started: false,
            interval,
            next_announce: None,
            gathering: None,
            pending: BTreeMap::new(),
            tracker_id: None,
            alone: false,
            out: VecDeque::new(),
        }
    }

    /// The swarm.
    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    /// Our peer id in this swarm.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The announce interval in force.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The socket is open: announce now (`started` the first time, a plain
    /// announce after a reconnect, as the reference client does).
    /// `wanted_offers` is how many more connections the swarm wants.
    pub fn connected(&mut self, now: Instant, wanted_offers: usize) {
        self.connected = true;
        let event = (!self.started).then_some(AnnounceEvent::Started);
        self.begin_announce(now, event, wanted_offers);
    }

    /// The socket closed; pending offers stay valid until they expire (the
    /// tracker may still have relayed them).
    pub fn disconnected(&mut self) {
        self.connected = false;
        // The tracker may have forgotten the swarm: its last count says nothing now.
        self.alone = false;
        self.gathering = None;
        self.next_announce = None;
    }

    /// Leaves the swarm: `stopped`, which trackers accept and which spares
    /// other peers offers to a peer that is gone. Pending offers are dropped.
    pub fn stop(&mut self) {
        if self.connected && self.started {
            self.send_announce(Some(AnnounceEvent::Stopped), Vec::new());
        }
        self.drop_offers(|_, _| true);
        self.connected = false;
        self.next_announce = None;
        self.gathering = None;
    }

    fn begin_announce(&mut self, now: Instant, event: Option<AnnounceEvent>, wanted: usize) {
        // Offers into a swarm that holds only us reach nobody: the tracker drops
        // them, and each would hold a connection until it expires. Peers who join
        // later offer to us. The first announce still offers (nothing is known yet).
        let wanted = if self.alone && event.is_none() {
            0
        } else {
            wanted
        };
        let count = wanted
            .min(self.config.offers_per_announce)
            .min(MAX_OFFERS_PER_ANNOUNCE);
        self.next_announce = None;
        if count == 0 {
            self.send_announce(event, Vec::new());
            self.next_announce = Some(now + self.interval);
            return;
        }
        self.gathering = Some(Gathering {
            event,
            expected: count,
            offers: Vec::new(),
            deadline: now + self.config.offer_gathering_timeout,
        });
        self.out.push_back(AnnouncerOutput::CreateOffers { count });
    }

    /// One requested offer is ready. `rng` draws its 20-byte offer id.
    pub fn offer_created(&mut self, now: Instant, conn: ConnId, sdp: String, rng: &mut impl Rng) {
        let mut id = [0u8; 20];
        rng.fill_bytes(&mut id);
        let offer_id = OfferId(id);
        self.pending.insert(
            offer_id,
            PendingOffer {
                conn,
                expires: now + self.config.offer_timeout,
            },
        );
        match self.gathering.as_mut() {
            Some(g) => {
                g.offers.push(Offer {
                    offer: SessionDescription {
                        kind: SdpType::Offer,
                        sdp,
                    },
                    offer_id,
                });
                if g.offers.len() >= g.expected {
                    self.finish_gathering(now);
                }
            }
            // Gathering was abandoned (disconnect, timeout): the offer is useless.
            None => {
                self.pending.remove(&offer_id);
                self.out.push_back(AnnouncerOutput::DropOffer { conn });
            }
        }
    }

    /// One requested offer could not be created.
    pub fn offer_failed(&mut self, now: Instant) {
        if let Some(g) = self.gathering.as_mut() {
            g.expected = g.expected.saturating_sub(1);
            if g.offers.len() >= g.expected {
                self.finish_gathering(now);
            }
        }
    }

    fn finish_gathering(&mut self, now: Instant) {
        if let Some(g) = self.gathering.take() {
            if self.connected {
                self.send_announce(g.event, g.offers);
            }
            self.next_announce = Some(now + self.interval);
        }
    }

    fn send_announce(&mut self, event: Option<AnnounceEvent>, offers: Vec<Offer>) {
        match AnnounceRequest::new(self.info_hash, self.peer_id, event, offers) {
            Ok(mut request) => {
                request.tracker_id = self.tracker_id.clone();
                if event == Some(AnnounceEvent::Started) {
                    self.started = true;
                }
                self.out
                    .push_back(AnnouncerOutput::Send(ClientMessage::Announce(request)));
            }
            // At most MAX_OFFERS_PER_ANNOUNCE offers by construction.
            Err(e) => self.out.push_back(AnnouncerOutput::Error(e.to_string())),
        }
    }

    /// Our answering connection's SDP is ready: send it to the offerer.
    pub fn answer_created(&mut self, remote: PeerId, offer_id: OfferId, sdp: String) {
        if !self.connected {
            return;
        }
        self.out
            .push_back(AnnouncerOutput::Send(ClientMessage::Answer(
                AnswerRequest {
                    info_hash: self.info_hash,
                    peer_id: self.peer_id,
                    to_peer_id: remote,
                    answer: SessionDescription {
                        kind: SdpType::Answer,
                        sdp,
                    },
                    offer_id,
                    tracker_id: self.tracker_id.clone(),
                },
            )));
    }

    /// A message from the tracker for this swarm. `accept_offer` says whether
    /// the engine wants another connection from that peer (not already
    /// connected, under the cap); the offer is ignored otherwise.
    pub fn handle_message(
        &mut self,
        now: Instant,
        message: TrackerMessage,
        accept_offer: impl FnOnce(&PeerId) -> bool,
    ) {
        match message {
            TrackerMessage::AnnounceResponse(r) => {
                if let Some(secs) = r.interval_secs {
                    let interval =
                        Duration::from_secs_f64(secs.min(86_400.0)).max(self.config.min_interval);
                    if interval != self.interval {
                        self.interval = interval;
                        if self.next_announce.is_some() {
                            self.next_announce = Some(now + interval);
                        }
                    }
                }
                if r.tracker_id.is_some() {
                    self.tracker_id = r.tracker_id;
                }
                // bittorrent-tracker, aquatic_ws, wt-tracker and ours count the
                // announcing peer itself. Without counts, nothing is known.
                self.alone = match (r.complete, r.incomplete) {
                    (None, None) => false,
                    (c, i) => c.unwrap_or(0).saturating_add(i.unwrap_or(0)) <= 1,
                };
                if self.alone {
                    // Whoever received our sent offers has left the swarm (or
                    // nobody did): no answer will come, and each holds a
                    // connection slot a newcomer's offer may need. Offers
                    // still being gathered have not been sent yet.
                    let unsent: Vec<OfferId> = self
                        .gathering
                        .as_ref()
                        .map(|g| g.offers.iter().map(|o| o.offer_id).collect())
                        .unwrap_or_default();
                    self.drop_offers(|id, _| !unsent.contains(id));
                }
                if let Some(w) = r.warning {
                    self.out.push_back(AnnouncerOutput::Warning(w));
                }
            }
            TrackerMessage::Offer(o) => {
                if o.peer_id != self.peer_id && accept_offer(&o.peer_id) {
                    self.out.push_back(AnnouncerOutput::CreateAnswer {
                        remote: o.peer_id,
                        offer_id: o.offer_id,
                        offer: o.offer.sdp,
                    });
                }
            }
            TrackerMessage::Answer(a) => {
                // An unknown or expired offer id is ignored, as JS does.
                if let Some(p) = self.pending.remove(&a.offer_id) {
                    self.out.push_back(AnnouncerOutput::AcceptAnswer {
                        conn: p.conn,
                        remote: a.peer_id,
                        answer: a.answer.sdp,
                    });
                }
            }
            TrackerMessage::Failure(f) => self.out.push_back(AnnouncerOutput::Error(f.reason)),
            TrackerMessage::Scrape(_) => {}
        }
    }

    /// Runs what is due: expired offers, a stuck gathering, the next announce.
    /// `wanted_offers` is how many more connections the swarm wants now.
    pub fn handle_timeout(&mut self, now: Instant, wanted_offers: usize) {
        self.drop_offers(|_, p| now >= p.expires);
        if self.gathering.as_ref().is_some_and(|g| now >= g.deadline) {
            self.finish_gathering(now);
        }
        if self.connected && self.next_announce.is_some_and(|t| now >= t) {
            self.begin_announce(now, None, wanted_offers);
        }
    }

    /// When [`Self::handle_timeout`] next needs to run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let offers = self.pending.values().map(|p| p.expires).min();
        let gathering = self.gathering.as_ref().map(|g| g.deadline);
        let announce = self.next_announce.filter(|_| self.connected);
        [offers, gathering, announce].into_iter().flatten().min()
    }

    /// The next thing for the engine to do.
    pub fn poll_output(&mut self) -> Option<AnnouncerOutput> {
        self.out.pop_front()
    }

    /// Gives up the pending offers `dead` picks: their connections are
    /// destroyed, and a late answer to one reaches nothing.
    fn drop_offers(&mut self, dead: impl Fn(&OfferId, &PendingOffer) -> bool) {
        let out = &mut self.out;
        self.pending.retain(|id, p| {
            let drop = dead(id, p);
            if drop {
                out.push_back(AnnouncerOutput::DropOffer { conn: p.conn });
            }
            !drop
        });
    }

    /// Offers waiting for an answer.
    pub fn pending_offers(&self) -> usize {
        self.pending.len()
    }

    /// Whether the last announce response counted nobody in the swarm but us
    /// (re-announces then carry no offers).
    pub fn swarm_alone(&self) -> bool {
        self.alone
    }
}

/// Reconnect back-off for one tracker socket: `min(2^n × base, max)` plus up
/// to 10% jitter (P2P Media Loader adds up to 5 minutes, which leaves a
/// viewer without a tracker for long after a restart of the tracker).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(10),
            max: Duration::from_secs(3600),
            failures: 0,
        }
    }
}

impl Backoff {
    /// The socket opened: the next failure starts from the base delay.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// The socket failed or closed: when to try again.
    pub fn failed(&mut self, now: Instant, rng: &mut impl Rng) -> Instant {
        let factor = 1u32 << self.failures.min(16);
        self.failures = self.failures.saturating_add(1);
        let delay = self.base.saturating_mul(factor).min(self.max);
        let jitter = delay.mul_f64(f64::from(rng.next_u32() % 1000) / 10_000.0);
        now + delay + jitter
    }
}

/// Whether the link offered by `offerer` should be kept when two links to the
/// same peer both open: the one whose offerer has the lower peer id. Both
/// sides decide the same way, so they never drop both (SPEC §2.6).
pub fn keep_link_offered_by(offerer: &PeerId, other_offerer: &PeerId) -> bool {
    offerer <= other_offerer
}

/// Tracker sockets are shared by every swarm of a page (bittorrent-tracker
/// pools them per URL); messages reach an announcer by info hash.
pub fn info_hash_of(message: &TrackerMessage) -> Option<InfoHash> {
    match message {
        TrackerMessage::AnnounceResponse(r) => r.info_hash,
        TrackerMessage::Offer(o) => Some(o.info_hash),
        TrackerMessage::Answer(a) => Some(a.info_hash),
        TrackerMessage::Failure(f) => f.info_hash,
        TrackerMessage::Scrape(_) => None,
    }
}
