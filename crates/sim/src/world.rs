//! The discrete-event world: engines, links, origin, tracker and players in
//! virtual time. Every input reaches an engine through the event queue, so a
//! seed replays exactly.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use p2pml_core::config::Seeding;
use p2pml_core::engine::{Engine, EngineConfig, Event, HttpRange, Input, Output, Source};
use p2pml_core::payload::{Payload, VirtualPayload};
use p2pml_core::streams::SegmentInfo;
use p2pml_core::time::Instant;
use p2pml_core::tracker::ConnId;
use p2pml_proto::identity::StreamType;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::player::{Player, Want};
use crate::queue::EventQueue;
use crate::report::{PeerStats, Totals};
use crate::scenario::{Mode, Scenario, Start};
use crate::tracker::{Client, SimTracker};

/// Player tick: playback advances and is reported to the engine this often
/// (hls.js reports 4 times a second; the engine extrapolates in between).
const TICK: Duration = Duration::from_millis(500);
/// Origin bodies arrive in pieces of this size (84 ms each at 25 Mb/s).
const HTTP_CHUNK: u64 = 256 * 1024;
/// The hosts report `bufferedAmount` when it falls below this (as browsers
/// fire `bufferedamountlow`).
const LOW_WATER: usize = 64 * 1024;
const STREAM: u32 = 1;
const REJOIN_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug)]
enum Ev {
    Input(usize, u64, Input<VirtualPayload>),
    Wake(usize, u64),
    Tick(usize, u64),
    Join(usize),
    Leave(usize, u64),
    /// A viewer's uplink finished sending a message on a connection.
    UplinkDone(usize, u64, ConnId, VirtualPayload),
    /// Bytes reach a viewer's downlink; they are delivered once it has
    /// carried them (FIFO in arrival order).
    Arrive(usize, u64, Input<VirtualPayload>, usize),
    ToTracker(Client, String),
    Vanish,
}

impl LinkEnd {
    fn new(remote: (usize, ConnId)) -> Self {
        Self {
            remote,
            pending_up: 0,
            queue: VecDeque::new(),
        }
    }
}

struct LinkEnd {
    remote: (usize, ConnId),
    /// Bytes handed to this connection and not yet on the wire (its
    /// `bufferedAmount`).
    pending_up: usize,
    /// Messages waiting for the uplink, in order.
    queue: VecDeque<VirtualPayload>,
}

/// Every viewer's connection ends, by viewer then connection id: a viewer's
/// own few dozen sit together, where a map of all of them would walk a
/// deep tree for each message.
struct Links {
    ends: Vec<BTreeMap<ConnId, LinkEnd>>,
    /// Messages waiting in each viewer's queues: an idle uplink with
    /// nothing queued need not walk its connections.
    queued: Vec<usize>,
}

impl Links {
    fn new(n: usize) -> Self {
        Self {
            ends: (0..n).map(|_| BTreeMap::new()).collect(),
            queued: vec![0; n],
        }
    }

    fn queued(&self, i: usize) -> usize {
        self.queued.get(i).copied().unwrap_or(0)
    }

    /// Queues a message on a connection; `false` if it does not exist.
    fn enqueue(&mut self, i: usize, conn: ConnId, data: VirtualPayload) -> bool {
        let Some(link) = self.get_mut(i, conn) else {
            return false;
        };
        link.pending_up += data.len();
        link.queue.push_back(data);
        if let Some(q) = self.queued.get_mut(i) {
            *q += 1;
        }
        true
    }

    fn dequeue(&mut self, i: usize, conn: ConnId) -> Option<VirtualPayload> {
        let data = self.get_mut(i, conn)?.queue.pop_front()?;
        if let Some(q) = self.queued.get_mut(i) {
            *q -= 1;
        }
        Some(data)
    }

    /// Uncounts the messages of a removed end.
    fn forget(&mut self, i: usize, end: Option<LinkEnd>) -> Option<LinkEnd> {
        if let (Some(e), Some(q)) = (&end, self.queued.get_mut(i)) {
            *q -= e.queue.len();
        }
        end
    }

    fn of(&self, i: usize) -> &BTreeMap<ConnId, LinkEnd> {
        static NONE: BTreeMap<ConnId, LinkEnd> = BTreeMap::new();
        self.ends.get(i).unwrap_or(&NONE)
    }

    fn get(&self, i: usize, conn: ConnId) -> Option<&LinkEnd> {
        self.ends.get(i)?.get(&conn)
    }

    fn get_mut(&mut self, i: usize, conn: ConnId) -> Option<&mut LinkEnd> {
        self.ends.get_mut(i)?.get_mut(&conn)
    }

    fn insert(&mut self, i: usize, conn: ConnId, end: LinkEnd) {
        let old = self.ends.get_mut(i).and_then(|ends| ends.insert(conn, end));
        self.forget(i, old);
    }

    fn remove(&mut self, i: usize, conn: ConnId) -> Option<LinkEnd> {
        let end = self.ends.get_mut(i)?.remove(&conn);
        self.forget(i, end)
    }
}

struct Peer {
    session: u64,
    engine: Option<Engine<VirtualPayload>>,
    up_bps: f64,
    down_bps: f64,
    latency: Duration,
    /// The uplink is sending a message.
    up_busy: bool,
    /// The connection the uplink served last (round robin).
    up_cursor: ConnId,
    down_free: Instant,
    wake_at: Option<Instant>,
    player: Player,
    known_first: i64,
    known_last: i64,
    next_refresh: Instant,
    next_request: u64,
    stats: PeerStats,
    /// Where each stored segment's bytes came from: (bytes, http bytes).
    sources: BTreeMap<i64, (u64, u64)>,
}

/// A running simulation.
pub(crate) struct World {
    sc: Scenario,
    p2p: bool,
    seed: u64,
    rng: ChaCha8Rng,
    now: Instant,
    queue: EventQueue<Ev>,
    peers: Vec<Peer>,
    tracker: SimTracker,
    links: Links,
    cancelled: BTreeSet<(usize, u64)>,
    pub(crate) totals: Totals,
    finished: Vec<PeerStats>,
    seeding: Seeding,
    pub(crate) trace: Option<usize>,
    pub(crate) trace_segment: Option<i64>,
    /// Reused for each engine's outputs.
    scratch: Vec<Output<VirtualPayload>>,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

impl World {
    pub(crate) fn new(sc: Scenario, p2p: bool, seeding: Seeding, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = sc.viewers;
        let mut world = Self {
            tracker: SimTracker::new(30.0),
            p2p,
            seed,
            now: Instant::ZERO,
            queue: EventQueue::new(),
            peers: Vec::with_capacity(n),
            links: Links::new(n),
            cancelled: BTreeSet::new(),
            totals: Totals::default(),
            finished: Vec::new(),
            seeding,
            trace: None,
            trace_segment: None,
            scratch: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(0),
            sc,
        };
        for i in 0..n {
            #[expect(clippy::cast_precision_loss, reason = "a share")]
            let slow = (i as f64) < world.sc.slow_uplink_share * n as f64;
            let up = if slow {
                world.sc.slow_uplink_kbps
            } else {
                world.sc.uplink_kbps
            };
            let [lo, hi] = world.sc.latency_ms;
            let latency = Duration::from_millis(lo + rng.next_u64() % (hi - lo + 1));
            world.peers.push(Peer {
                session: 0,
                engine: None,
                #[expect(clippy::cast_precision_loss, reason = "rates")]
                up_bps: up as f64 * 1000.0,
                #[expect(clippy::cast_precision_loss, reason = "rates")]
                down_bps: world.sc.downlink_kbps as f64 * 1000.0,
                latency,
                up_busy: false,
                up_cursor: 0,
                down_free: Instant::ZERO,
                wake_at: None,
                player: Player::new(
                    Instant::ZERO,
                    0.0,
                    world.sc.segment_secs,
                    world.sc.player_buffer_secs,
                ),
                known_first: 0,
                known_last: -1,
                next_refresh: Instant::ZERO,
                next_request: 1,
                stats: PeerStats::default(),
                sources: BTreeMap::new(),
            });
            // Each viewer joins at a random moment of its share of the
            // joining period: evenly spaced joins would give players
            // playlist refreshes in lockstep, which real viewers do not have.
            let u = f64::from(rng.next_u32()) / (f64::from(u32::MAX) + 1.0);
            #[expect(clippy::cast_precision_loss, reason = "times")]
            let join = world.sc.join_over_secs * (i as f64 + u) / n as f64;
            world.push(Instant::ZERO + secs(join), Ev::Join(i));
        }
        if world.sc.vanish_at_secs > 0.0 {
            world.push(Instant::ZERO + secs(world.sc.vanish_at_secs), Ev::Vanish);
        }
        world.rng = rng;
        world
    }

    fn push(&mut self, at: Instant, ev: Ev) {
        self.queue.push(at, ev);
    }

    fn input(&mut self, at: Instant, peer: usize, input: Input<VirtualPayload>) {
        let session = self.peers.get(peer).map_or(0, |p| p.session);
        self.push(at, Ev::Input(peer, session, input));
    }

    /// The live playlist window at `now`: (first id, last id).
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        clippy::cast_possible_wrap,
        reason = "segment ids"
    )]
    fn window(&self, now: Instant) -> (i64, i64) {
        let d = self.sc.segment_secs;
        match self.sc.mode {
            Mode::Vod => (0, (self.sc.vod_secs / d).ceil() as i64 - 1),
            Mode::Live => {
                // The window is full at time 0; a segment is published when complete.
                let last = ((now.as_secs_f64() + self.sc.window_segments as f64 * d) / d).floor()
                    as i64
                    - 1;
                ((last - self.sc.window_segments as i64 + 1).max(0), last)
            }
        }
    }

    fn segment(&self, id: i64) -> SegmentInfo {
        #[expect(clippy::cast_precision_loss, reason = "segment times")]
        let start = id as f64 * self.sc.segment_secs;
        SegmentInfo {
            id,
            url: format!("https://origin.sim/seg/{id}.ts"),
            byte_range: None,
            start,
            end: start + self.sc.segment_secs,
        }
    }

    /// Runs to the end, calling `progress` with the share done.
    pub(crate) fn run(&mut self, mut progress: impl FnMut(f64)) {
        let end = Instant::ZERO + secs(self.sc.duration_secs);
        let mut last_report = Instant::ZERO;
        while let Some((at, ev)) = self.queue.pop() {
            if at > end {
                break;
            }
            self.now = at;
            if self.now - last_report >= Duration::from_secs(5) {
                last_report = self.now;
                progress(self.now.as_secs_f64() / self.sc.duration_secs);
            }
            self.dispatch(ev);
        }
        self.now = end;
        for i in 0..self.peers.len() {
            if self.peers.get(i).is_some_and(|p| p.engine.is_some()) {
                self.retire(i);
            }
        }
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Join(i) => self.join(i),
            Ev::Leave(i, s) if self.alive(i, s) => {
                self.leave(i);
                if self.sc.churn_mean_secs > 0.0 {
                    self.push(self.now + REJOIN_AFTER, Ev::Join(i));
                }
            }
            Ev::Vanish => {
                let keep = self.sc.vanish_keep;
                for i in keep..self.peers.len() {
                    if self.peers.get(i).is_some_and(|p| p.engine.is_some()) {
                        self.leave(i);
                    }
                }
            }
            Ev::Input(i, s, input) if self.alive(i, s) => {
                let now = self.now;
                if self.trace == Some(i) || self.segment_traced(&input) {
                    self.trace_line(i, &format!("in  {}", describe_input(&input)));
                }
                if let Some(e) = self.peers.get_mut(i).and_then(|p| p.engine.as_mut()) {
                    e.handle_input(now, input);
                }
                self.drain(i);
            }
            Ev::Wake(i, s) if self.alive(i, s) => {
                let now = self.now;
                let peer = self.peers.get_mut(i);
                if let Some(p) = peer.filter(|p| p.wake_at == Some(now)) {
                    p.wake_at = None;
                    if let Some(e) = p.engine.as_mut() {
                        e.handle_timeout(now);
                    }
                    self.drain(i);
                }
            }
            Ev::Tick(i, s) if self.alive(i, s) => self.tick(i),
            Ev::Arrive(i, s, input, len) if self.alive(i, s) => {
                if let Input::HttpData { fetch, .. } = &input {
                    if self.cancelled.contains(&(i, *fetch)) {
                        return;
                    }
                }
                let now = self.now;
                let Some(p) = self.peers.get_mut(i) else {
                    return;
                };
                #[expect(clippy::cast_precision_loss, reason = "rates")]
                let wire = len as f64 * 8.0;
                let at = now.max(p.down_free) + secs(wire / p.down_bps);
                p.down_free = at;
                self.push(at, Ev::Input(i, s, input));
            }
            Ev::UplinkDone(i, s, conn, data) if self.alive(i, s) => {
                if let Some(p) = self.peers.get_mut(i) {
                    p.up_busy = false;
                }
                let len = data.len();
                if let Some(link) = self.links.get_mut(i, conn) {
                    let before = link.pending_up;
                    link.pending_up = link.pending_up.saturating_sub(len);
                    let (remote, amount) = (link.remote, link.pending_up);
                    let (j, their) = remote;
                    let lat = self.latency(i, j);
                    let their_session = self.peers.get(j).map_or(0, |p| p.session);
                    let message = Input::ChannelMessage { conn: their, data };
                    self.push(self.now + lat, Ev::Arrive(j, their_session, message, len));
                    if before >= LOW_WATER && amount < LOW_WATER {
                        self.input(self.now, i, Input::ChannelBuffered { conn, amount });
                    }
                }
                self.start_uplink(i);
            }
            Ev::ToTracker(from, text) => {
                if !self.alive(from.0, from.1) {
                    return;
                }
                let replies = self.tracker.handle(from, &text, &mut self.rng);
                for ((to, session), text) in replies {
                    let lat = self.peers.get(to).map_or(Duration::ZERO, |p| p.latency);
                    self.push(
                        self.now + lat,
                        Ev::Input(to, session, Input::TrackerMessage { tracker: 0, text }),
                    );
                }
            }
            _ => {}
        }
    }

    fn alive(&self, i: usize, session: u64) -> bool {
        self.peers
            .get(i)
            .is_some_and(|p| p.session == session && p.engine.is_some())
    }

    fn join(&mut self, i: usize) {
        let now = self.now;
        let (first, last) = self.window(now);
        let d = self.sc.segment_secs;
        #[expect(
            clippy::cast_precision_loss,
            clippy::cast_possible_wrap,
            reason = "segment times"
        )]
        let position = match self.sc.start {
            Start::Edge => (last - self.sc.live_delay_segments as i64 + 1).max(first) as f64 * d,
            Start::Oldest | Start::Beginning => first as f64 * d,
            Start::Random => {
                let span = (self.sc.vod_secs * 0.8 / d).floor().max(1.0);
                (f64::from(self.rng.next_u32() % 1_000_000) / 1_000_000.0 * span).floor() * d
            }
        };
        let mut config = EngineConfig::default();
        config.common.announce_trackers = vec!["wss://tracker.sim".into()];
        config.common.seed =
            self.seed ^ ((i as u64) << 20) ^ self.peers.get(i).map_or(0, |p| p.session + 1);
        config.common.max_peers_per_swarm = self.sc.max_peers;
        config.common.seeding = self.seeding;
        let o = &self.sc.engine;
        let c = &mut config.common;
        c.max_concurrent_uploads = o.upload_slots.unwrap_or(c.max_concurrent_uploads);
        c.peers_per_seeder = o.peers_per_seeder.unwrap_or(c.peers_per_seeder);
        c.http_safety_margin = o.http_safety_margin.unwrap_or(c.http_safety_margin);
        c.relay = o.relay.unwrap_or(c.relay);
        if let Some(secs) = o.seeding_grace_secs.filter(|s| s.is_finite() && *s >= 0.0) {
            c.seeding_grace = std::time::Duration::from_secs_f64(secs);
        }
        if let Some(secs) = o
            .seeding_lead_window_secs
            .filter(|s| s.is_finite() && *s >= 0.0)
        {
            c.seeding_lead_window = std::time::Duration::from_secs_f64(secs);
        }
        config.main.p2p_disabled = !self.p2p;
        let Some(p) = self.peers.get_mut(i) else {
            return;
        };
        p.session += 1;
        p.engine = Some(Engine::new(config, now));
        p.player = Player::new(now, position, d, self.sc.player_buffer_secs);
        if self.sc.mode == Mode::Vod {
            p.player.last_segment = Some(last);
        }
        p.up_busy = false;
        p.down_free = now;
        p.wake_at = None;
        p.known_first = first;
        p.known_last = first - 1;
        p.next_refresh = now;
        p.stats = PeerStats::default();
        p.sources.clear();
        let session = p.session;
        self.input(
            now,
            i,
            Input::ManifestUrl("https://origin.sim/master.m3u8?token=viewer".into()),
        );
        self.input(
            now,
            i,
            Input::AddStream {
                stream: STREAM,
                stream_type: StreamType::Main,
                index: "sim-2mbps".into(),
            },
        );
        self.input(now, i, Input::Live(self.sc.mode == Mode::Live));
        self.input(
            now,
            i,
            Input::Playback {
                position,
                rate: 1.0,
            },
        );
        self.push(now, Ev::Tick(i, session));
        if self.sc.churn_mean_secs > 0.0 {
            let u = f64::from(self.rng.next_u32().max(1)) / f64::from(u32::MAX);
            let stay = -self.sc.churn_mean_secs * u.ln();
            self.push(now + secs(stay.max(5.0)), Ev::Leave(i, session));
        }
    }

    /// Records a session's statistics and removes it from the world.
    fn retire(&mut self, i: usize) {
        let now = self.now;
        if let Some(p) = self.peers.get_mut(i) {
            p.player.finish(now);
            let mut stats = std::mem::take(&mut p.stats);
            stats.stalls = p.player.stalls;
            stats.stall_secs = p.player.stall_secs;
            stats.startup_secs = p
                .player
                .started
                .map(|s| (s - p.player.joined).as_secs_f64());
            stats.watched_secs = (now - p.player.joined).as_secs_f64();
            p.engine = None;
            self.finished.push(stats);
        }
    }

    fn leave(&mut self, i: usize) {
        let session = self.peers.get(i).map_or(0, |p| p.session);
        self.retire(i);
        self.tracker.remove((i, session));
        let ends: Vec<ConnId> = self.links.of(i).keys().copied().collect();
        for conn in ends {
            self.close_link(i, conn);
        }
    }

    fn close_link(&mut self, i: usize, conn: ConnId) {
        if let Some(end) = self.links.remove(i, conn) {
            let (j, their) = end.remote;
            if self.links.remove(j, their).is_some() {
                let lat = self.latency(i, j);
                self.input(self.now + lat, j, Input::ChannelClosed { conn: their });
            }
        }
    }

    fn latency(&self, a: usize, b: usize) -> Duration {
        let la = self.peers.get(a).map_or(Duration::ZERO, |p| p.latency);
        let lb = self.peers.get(b).map_or(Duration::ZERO, |p| p.latency);
        (la + lb) / 2
    }

    fn tick(&mut self, i: usize) {
        let now = self.now;
        let (first, last) = self.window(now);
        let Some(p) = self.peers.get_mut(i) else {
            return;
        };
        let session = p.session;
        // Playlist refresh every target duration (hls.js reloads live playlists so).
        let mut update = None;
        if now >= p.next_refresh {
            p.next_refresh = now + secs(self.sc.segment_secs);
            if last > p.known_last || first > p.known_first {
                let add: Vec<i64> = (p.known_last.max(first - 1) + 1..=last).collect();
                let remove: Vec<i64> = (p.known_first..first).collect();
                p.known_first = first;
                p.known_last = last;
                update = Some((add, remove));
            }
        }
        p.player.advance(now, TICK.as_secs_f64());
        // Live: fallen out of the window, resync as hls.js does.
        #[expect(
            clippy::cast_precision_loss,
            clippy::cast_possible_wrap,
            reason = "segment times"
        )]
        if self.sc.mode == Mode::Live && p.player.position < first as f64 * self.sc.segment_secs {
            let edge = (last - self.sc.live_delay_segments as i64 + 1).max(first) as f64
                * self.sc.segment_secs;
            p.player.jump(edge);
        }
        p.player.trim();
        let position = p.player.position;
        if let Some((add, remove)) = update {
            let add = add.into_iter().map(|id| self.segment(id)).collect();
            self.input(
                now,
                i,
                Input::UpdateStream {
                    stream: STREAM,
                    add,
                    remove,
                },
            );
        }
        self.input(
            now,
            i,
            Input::Playback {
                position,
                rate: 1.0,
            },
        );
        self.request_next(i);
        self.push(now + TICK, Ev::Tick(i, session));
    }

    fn request_next(&mut self, i: usize) {
        let now = self.now;
        let Some(p) = self.peers.get_mut(i) else {
            return;
        };
        if let Some(Want::Load(segment)) = p.player.want(now, p.known_last) {
            let request = p.next_request;
            p.next_request += 1;
            p.player.pending = Some((request, segment));
            self.input(
                now,
                i,
                Input::LoadSegment {
                    request,
                    stream: STREAM,
                    segment,
                },
            );
        }
    }

    /// Performs what peer `i`'s engine asked for.
    fn drain(&mut self, i: usize) {
        let now = self.now;
        let Some(p) = self.peers.get_mut(i) else {
            return;
        };
        let Some(engine) = p.engine.as_mut() else {
            return;
        };
        let mut outputs = std::mem::take(&mut self.scratch);
        outputs.extend(std::iter::from_fn(|| engine.poll_output()));
        let deadline = engine.poll_timeout();
        let session = p.session;
        if let Some(at) = deadline {
            let at = at.max(now);
            if p.wake_at.is_none_or(|w| at < w || w < now) {
                p.wake_at = Some(at);
                self.push(at, Ev::Wake(i, session));
            }
        }
        for o in outputs.drain(..) {
            self.output(i, session, o);
        }
        self.scratch = outputs;
    }

    fn output(&mut self, i: usize, session: u64, o: Output<VirtualPayload>) {
        let now = self.now;
        if self.trace == Some(i) || self.segment_traced_out(&o) {
            self.trace_line(i, &format!("out {}", describe_output(&o)));
        }
        match o {
            Output::HttpFetch { fetch, url, range } => self.origin_fetch(i, fetch, &url, range),
            Output::HttpAbort { fetch } => {
                self.cancelled.insert((i, fetch));
            }
            Output::TrackerConnect { tracker, .. } => {
                let lat = self.peers.get(i).map_or(Duration::ZERO, |p| p.latency * 2);
                self.input(now + lat, i, Input::TrackerOpened { tracker });
            }
            Output::TrackerSend { text, .. } => {
                let lat = self.peers.get(i).map_or(Duration::ZERO, |p| p.latency);
                self.push(now + lat, Ev::ToTracker((i, session), text));
            }
            Output::CreateOffer { conn } => {
                let sdp = format!("sim {i} {conn}");
                self.input(
                    now + Duration::from_millis(30),
                    i,
                    Input::OfferCreated { conn, sdp },
                );
            }
            Output::CreateAnswer { conn, offer } => {
                // The answerer remembers which offer it answers, so the pair can link.
                let remote = parse_sdp(&offer);
                if let Some((j, their)) = remote {
                    self.links.insert(i, conn, LinkEnd::new((j, their)));
                }
                let sdp = format!("sim {i} {conn}");
                self.input(
                    now + Duration::from_millis(30),
                    i,
                    Input::AnswerCreated { conn, sdp },
                );
            }
            Output::AcceptAnswer { conn, answer } => {
                let Some((j, their)) = parse_sdp(&answer) else {
                    return;
                };
                // Both ends must still exist, and the answerer's end must point at us.
                let pairs = self
                    .links
                    .get(j, their)
                    .is_some_and(|e| e.remote == (i, conn));
                if pairs && self.peers.get(j).is_some_and(|p| p.engine.is_some()) {
                    self.links.insert(i, conn, LinkEnd::new((j, their)));
                    // ICE and DTLS: about two round trips.
                    let rtt = self.latency(i, j) * 4 + Duration::from_millis(10);
                    self.input(now + rtt, i, Input::ChannelOpen { conn });
                    self.input(now + rtt, j, Input::ChannelOpen { conn: their });
                } else {
                    self.input(now, i, Input::ChannelClosed { conn });
                }
            }
            Output::Send { conn, data } => self.send(i, conn, data),
            Output::QueryBuffered { conn } => {
                let amount = self.links.get(i, conn).map_or(0, |l| l.pending_up);
                self.input(now, i, Input::ChannelBuffered { conn, amount });
            }
            Output::Close { conn } => self.close_link(i, conn),
            Output::SegmentLoaded { request, data, .. } => self.delivered(i, request, &data),
            Output::SegmentFailed { request, .. } => {
                if let Some(p) = self.peers.get_mut(i) {
                    if p.player.pending.is_some_and(|(r, _)| r == request) {
                        p.player.pending = None;
                        p.player.retry_at = Some(now + Duration::from_secs(1));
                    }
                }
            }
            Output::Event(e) => self.event(i, e),
        }
    }

    fn event(&mut self, i: usize, e: Event) {
        let Some(p) = self.peers.get_mut(i) else {
            return;
        };
        match e {
            Event::ChunkDownloaded {
                bytes,
                source: Source::Http,
                ..
            } => {
                p.stats.http_downloaded += bytes;
                self.totals.origin_bytes += bytes;
            }
            Event::ChunkDownloaded {
                bytes,
                source: Source::P2p,
                ..
            } => p.stats.p2p_downloaded += bytes,
            Event::ChunkUploaded { bytes, .. } => p.stats.uploaded += bytes,
            Event::SegmentLoaded {
                segment,
                bytes,
                http_bytes,
                ..
            } => {
                p.sources.insert(segment, (bytes, http_bytes));
                if http_bytes == 0 {
                    self.totals.diagnostics.p2p_completed += 1;
                }
            }
            Event::SegmentStart { source, .. } => match source {
                Source::Http => self.totals.diagnostics.http_started += 1,
                Source::P2p => self.totals.diagnostics.p2p_started += 1,
            },
            Event::SegmentAbort {
                source: Source::P2p,
                ..
            } => self.totals.diagnostics.p2p_aborted += 1,
            Event::SegmentError { source, reason, .. } => {
                let map = match source {
                    Source::Http => &mut self.totals.diagnostics.http_failed,
                    Source::P2p => &mut self.totals.diagnostics.p2p_failed,
                };
                let key: String = reason.split(':').next().unwrap_or_default().to_owned();
                *map.entry(key).or_default() += 1;
            }
            Event::PeerConnect { .. } => p.stats.connections += 1,
            _ => {}
        }
    }

    fn delivered(&mut self, i: usize, request: u64, data: &VirtualPayload) {
        let size = self.sc.segment_bytes();
        let Some(p) = self.peers.get_mut(i) else {
            return;
        };
        let Some((r, segment)) = p.player.pending else {
            return;
        };
        if r != request {
            return;
        }
        p.player.pending = None;
        #[expect(clippy::cast_sign_loss, reason = "ids are non-negative here")]
        let expected = VirtualPayload::segment(segment as u64, size);
        if *data != expected {
            p.stats.corrupt += 1;
            return;
        }
        p.player.buffered.insert(segment);
        let (bytes, http) = p.sources.get(&segment).copied().unwrap_or((size, size));
        p.stats.delivered += bytes;
        p.stats.delivered_http += http;
        self.totals.unique_segments.insert(segment);
        self.request_next(i);
    }

    fn origin_fetch(&mut self, i: usize, fetch: u64, url: &str, range: Option<HttpRange>) {
        let now = self.now;
        let size = self.sc.segment_bytes();
        let start = range.map_or(0, |r| r.start).min(size);
        let ttfb = Duration::from_millis(self.sc.origin_ttfb_ms);
        let Some(p) = self.peers.get(i) else {
            return;
        };
        let rtt = p.latency * 2;
        let at = now + rtt + ttfb;
        let failed =
            f64::from(self.rng.next_u32()) / f64::from(u32::MAX) < self.sc.origin_error_rate;
        let known = url
            .rsplit('/')
            .next()
            .and_then(|n| n.strip_suffix(".ts"))
            .and_then(|n| n.parse::<i64>().ok());
        if failed || known.is_none() {
            self.input(
                at,
                i,
                Input::HttpHeaders {
                    fetch,
                    status: if failed { 503 } else { 404 },
                    content_length: None,
                },
            );
            return;
        }
        let status = if range.is_some() { 206 } else { 200 };
        self.input(
            at,
            i,
            Input::HttpHeaders {
                fetch,
                status,
                content_length: Some(size - start),
            },
        );
        #[expect(clippy::cast_precision_loss, reason = "rates")]
        let origin_bps = self.sc.origin_kbps as f64 * 1000.0;
        let segment = u64::try_from(known.unwrap_or(0)).unwrap_or(0);
        let whole = VirtualPayload::segment(segment, size);
        // The origin paces the body at its per-client rate; the viewer's
        // downlink is shared with everything else it receives.
        let session = self.peers.get(i).map_or(0, |p| p.session);
        let mut src = at;
        let mut offset = start;
        while offset < size {
            let len = HTTP_CHUNK.min(size - offset);
            #[expect(clippy::cast_precision_loss, reason = "rates")]
            let wire = len as f64 * 8.0;
            src += secs(wire / origin_bps);
            let data = whole.slice(
                usize::try_from(offset).unwrap_or(0)..usize::try_from(offset + len).unwrap_or(0),
            );
            let bytes = data.len();
            self.push(
                src,
                Ev::Arrive(i, session, Input::HttpData { fetch, data }, bytes),
            );
            offset += len;
        }
        // The end follows the last byte through the same downlink queue.
        self.push(src, Ev::Arrive(i, session, Input::HttpEnd { fetch }, 0));
    }

    /// Queues a message on a connection. The uplink serves connections
    /// round robin, a message at a time, as congestion-controlled
    /// associations share a bottleneck: a command to one peer waits for at
    /// most one message, not for everything buffered for the others.
    fn send(&mut self, i: usize, conn: ConnId, data: VirtualPayload) {
        if self.links.enqueue(i, conn, data) {
            self.start_uplink(i);
        }
    }

    /// Puts the next message on the wire if the uplink is idle.
    fn start_uplink(&mut self, i: usize) {
        let Some(p) = self.peers.get(i) else {
            return;
        };
        if p.up_busy || self.links.queued(i) == 0 {
            return;
        }
        let (cursor, session, up_bps) = (p.up_cursor, p.session, p.up_bps);
        let links = self.links.of(i);
        let next = links
            .range(cursor + 1..)
            .chain(links.range(..=cursor))
            .find(|(_, l)| !l.queue.is_empty())
            .map(|(conn, _)| *conn);
        let Some(conn) = next else {
            return;
        };
        let Some(data) = self.links.dequeue(i, conn) else {
            return;
        };
        #[expect(clippy::cast_precision_loss, reason = "rates")]
        let wire = data.len() as f64 * 8.0;
        if let Some(p) = self.peers.get_mut(i) {
            p.up_busy = true;
            p.up_cursor = conn;
        }
        let done = self.now + secs(wire / up_bps);
        self.push(done, Ev::UplinkDone(i, session, conn, data));
    }

    /// Statistics of every session, finished or not.
    pub(crate) fn sessions(&self) -> &[PeerStats] {
        &self.finished
    }

    /// Messages the tracker handled.
    pub(crate) fn tracker_messages(&self) -> u64 {
        self.tracker.messages
    }
}

impl World {
    #[expect(clippy::print_stderr, reason = "the trace is for people")]
    fn trace_line(&self, i: usize, line: &str) {
        let pos = self.peers.get(i).map_or(0.0, |p| p.player.position);
        eprintln!(
            "{:>9.3} #{i:<4} pos {:>7.2} {line}",
            self.now.as_secs_f64(),
            pos
        );
    }

    fn segment_traced(&self, input: &Input<VirtualPayload>) -> bool {
        let Some(n) = self.trace_segment else {
            return false;
        };
        match input {
            Input::UpdateStream { add, .. } => add.iter().any(|s| s.id == n),
            Input::LoadSegment { segment, .. } => *segment == n,
            _ => false,
        }
    }

    fn segment_traced_out(&self, o: &Output<VirtualPayload>) -> bool {
        let Some(n) = self.trace_segment else {
            return false;
        };
        match o {
            Output::Event(
                Event::SegmentStart { segment, .. }
                | Event::SegmentLoaded { segment, .. }
                | Event::SegmentError { segment, .. }
                | Event::SegmentAbort { segment, .. },
            ) => *segment == n,
            _ => false,
        }
    }
}

fn describe_input(input: &Input<VirtualPayload>) -> String {
    match input {
        Input::ChannelMessage { conn, data } => match data.command_bytes() {
            Some(b) => format!("conn {conn} command {}", describe_command(b)),
            None => format!("conn {conn} data {} bytes", data.len()),
        },
        Input::HttpData { fetch, data } => format!("http {fetch} data {}", data.len()),
        Input::UpdateStream { add, remove, .. } => format!(
            "playlist +{:?} -{:?}",
            add.iter().map(|s| s.id).collect::<Vec<_>>(),
            remove
        ),
        Input::TrackerMessage { text, .. } => {
            format!("tracker {}", text.chars().take(90).collect::<String>())
        }
        other => format!("{other:?}").chars().take(120).collect(),
    }
}

fn describe_output(o: &Output<VirtualPayload>) -> String {
    match o {
        Output::Send { conn, data } => match data.command_bytes() {
            Some(b) => format!("conn {conn} command {}", describe_command(b)),
            None => format!("conn {conn} data {} bytes", data.len()),
        },
        Output::SegmentLoaded { request, data, .. } => {
            format!("player {request} loaded {} bytes", data.len())
        }
        Output::TrackerSend { text, .. } => {
            format!("tracker {}", text.chars().take(90).collect::<String>())
        }
        other => format!("{other:?}").chars().take(120).collect(),
    }
}

fn describe_command(bytes: &[u8]) -> String {
    let body = bytes
        .get(4..bytes.len().saturating_sub(4))
        .unwrap_or_default();
    p2pml_proto::command::RawCommand::decode(body)
        .map_or_else(|e| format!("part ({e})"), |c| c.to_json().to_string())
}

fn parse_sdp(sdp: &str) -> Option<(usize, ConnId)> {
    let mut parts = sdp.split_whitespace();
    (parts.next()? == "sim").then_some(())?;
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}
