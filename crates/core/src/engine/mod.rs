//! The engine: one per player. See the crate docs for the run loop.

mod http;
mod io;
mod loader;
mod swarm;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use p2pml_proto::identity::{InfoHash, PeerId, StreamType, swarm_id_from_manifest_url};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

pub use io::{Event, FetchId, HttpRange, Input, Output, PlayerRequestId, Source, TrackerId};

use crate::bandwidth::BandwidthCalculator;
use crate::config::{CommonConfig, StreamConfig};
use crate::payload::Payload;
use crate::peer::PeerConfig;
use crate::storage::{MemoryStorage, SegmentStorage};
use crate::streams::{Stream, StreamId};
use crate::time::Instant;
use crate::tracker::{self, AnnouncerConfig, ConnId};

use loader::{Loader, Waiting};
use swarm::{Swarm, TrackerSocket};

/// A value per stream type.
#[derive(Debug, Clone, Default)]
pub(crate) struct PerType<T> {
    main: T,
    secondary: T,
}

impl<T> PerType<T> {
    pub(crate) fn get(&self, t: StreamType) -> &T {
        match t {
            StreamType::Main => &self.main,
            StreamType::Secondary => &self.secondary,
        }
    }

    pub(crate) fn get_mut(&mut self, t: StreamType) -> &mut T {
        match t {
            StreamType::Main => &mut self.main,
            StreamType::Secondary => &mut self.secondary,
        }
    }
}

const TYPES: [StreamType; 2] = [StreamType::Main, StreamType::Secondary];

/// All configuration of an engine.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Shared settings.
    pub common: CommonConfig,
    /// Settings of the main stream type.
    pub main: StreamConfig,
    /// Settings of the secondary stream type (alternative audio).
    pub secondary: StreamConfig,
    /// Peer connection bounds (`max_segment_bytes`, `send_high_water`);
    /// message size, no-bytes timeout and strikes come from each stream
    /// type's [`StreamConfig`], as in P2P Media Loader.
    pub peer: PeerConfig,
    /// Tracker client settings.
    pub announcer: AnnouncerConfig,
}

/// Where the playhead is, extrapolated between reports.
#[derive(Debug, Clone, Copy)]
struct Playhead {
    position: f64,
    rate: f64,
    at: Instant,
}

/// The sans-IO engine. Feed [`Input`]s with [`Engine::handle_input`], call
/// [`Engine::handle_timeout`] at [`Engine::poll_timeout`], and perform every
/// [`Output`] from [`Engine::poll_output`].
///
/// ```
/// use p2pml_core::engine::{Engine, EngineConfig, Input, Output};
/// use p2pml_core::payload::VirtualPayload;
/// use p2pml_core::streams::SegmentInfo;
/// use p2pml_core::time::Instant;
/// use p2pml_proto::identity::StreamType;
///
/// let mut engine: Engine<VirtualPayload> = Engine::new(EngineConfig::default(), Instant::ZERO);
/// let now = Instant::ZERO;
/// engine.handle_input(now, Input::ManifestUrl("https://cdn.example/master.m3u8".into()));
/// engine.handle_input(now, Input::AddStream { stream: 1, stream_type: StreamType::Main, index: "abc".into() });
/// let segment = SegmentInfo { id: 0, url: "https://cdn.example/0.ts".into(), byte_range: None, start: 0.0, end: 2.0 };
/// engine.handle_input(now, Input::UpdateStream { stream: 1, add: vec![segment], remove: vec![] });
/// engine.handle_input(now, Input::LoadSegment { request: 7, stream: 1, segment: 0 });
/// // No peers yet and the segment is due now: it is fetched over HTTP.
/// let fetch = std::iter::from_fn(|| engine.poll_output()).find_map(|o| match o {
///     Output::HttpFetch { fetch, url, .. } => Some((fetch, url)),
///     _ => None,
/// });
/// assert_eq!(fetch.unwrap().1, "https://cdn.example/0.ts");
/// ```
pub struct Engine<P: Payload, S: SegmentStorage<P> = MemoryStorage<P>> {
    config: EngineConfig,
    rng: ChaCha8Rng,
    swarm_id: Option<String>,
    streams: BTreeMap<StreamId, Stream>,
    live: bool,
    playhead: Option<Playhead>,
    storage: S,
    loaders: PerType<Loader<P>>,
    swarms: BTreeMap<StreamId, Swarm<P>>,
    conns: BTreeMap<ConnId, StreamId>,
    trackers: Vec<TrackerSocket>,
    fetches: BTreeMap<FetchId, (StreamId, i64)>,
    peer_ids: BTreeMap<InfoHash, PeerId>,
    bw_all: BandwidthCalculator,
    bw_http: BandwidthCalculator,
    active_bitrate: f64,
    next_id: u64,
    dirty: BTreeSet<StreamId>,
    /// Swarms whose set of relayable downloads may have changed.
    relay_dirty: BTreeSet<StreamId>,
    /// When the scheduler wants to look again (a waiting segment turns urgent).
    next_check: Option<Instant>,
    /// Something changed that can change a scheduling decision.
    reschedule: bool,
    /// The playhead when the scheduler last ran.
    scheduled_at_position: f64,
    /// What the scheduler's last run waited for, per stream: a peer's
    /// announcement makes it run again only if it concerns one of these.
    waiting: BTreeMap<StreamId, Waiting>,
    out: VecDeque<Output<P>>,
}

impl<P: Payload> Engine<P, MemoryStorage<P>> {
    /// An engine with in-memory storage.
    pub fn new(config: EngineConfig, now: Instant) -> Self {
        let storage = MemoryStorage::new(
            config.common.storage_limit_bytes,
            [
                config.main.high_demand_window,
                config.secondary.high_demand_window,
            ],
        );
        Self::with_storage(config, storage, now)
    }
}

impl<P: Payload, S: SegmentStorage<P>> Engine<P, S> {
    /// An engine with a storage of the host's choice.
    pub fn with_storage(config: EngineConfig, storage: S, now: Instant) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(config.common.seed);
        let trackers = config
            .common
            .announce_trackers
            .iter()
            .map(|url| TrackerSocket::new(url.clone()))
            .collect();
        let swarm_id = config.common.swarm_id.clone();
        Self {
            config,
            rng,
            swarm_id,
            streams: BTreeMap::new(),
            live: false,
            playhead: None,
            storage,
            loaders: PerType {
                main: Loader::new(now),
                secondary: Loader::new(now),
            },
            swarms: BTreeMap::new(),
            conns: BTreeMap::new(),
            trackers,
            fetches: BTreeMap::new(),
            peer_ids: BTreeMap::new(),
            bw_all: BandwidthCalculator::default(),
            bw_http: BandwidthCalculator::default(),
            active_bitrate: 0.0,
            next_id: 1,
            dirty: BTreeSet::new(),
            relay_dirty: BTreeSet::new(),
            next_check: None,
            reschedule: true,
            scheduled_at_position: f64::NEG_INFINITY,
            waiting: BTreeMap::new(),
            out: VecDeque::new(),
        }
    }

    /// The settings of one peer connection of stream type `t`: P2P Media
    /// Loader's per-type options, plus our bounds.
    fn peer_config(&self, t: StreamType) -> PeerConfig {
        let s = self.stream_config(t);
        PeerConfig {
            max_message_size: s.max_message_size,
            no_bytes_timeout: s.p2p_no_bytes_timeout,
            max_strikes: s.p2p_error_retries,
            ..self.config.peer.clone()
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Applies a new configuration at run time (P2P Media Loader's
    /// `applyDynamicConfig`). Windows, slots, timeouts, retries, message
    /// size and the relay and seeding settings take effect at once, open
    /// connections included. Turning `p2p_disabled` on closes that type's
    /// swarms; turning `p2p_upload_disabled` on sends peers an empty
    /// announcement, and off a fresh one. Settings read only at creation
    /// keep their first value: trackers, peer id prefix, swarm id, seed and
    /// the storage limit.
    ///
    /// ```
    /// use p2pml_core::engine::{Engine, EngineConfig};
    /// use p2pml_core::payload::VirtualPayload;
    /// use p2pml_core::time::Instant;
    ///
    /// let mut engine: Engine<VirtualPayload> = Engine::new(EngineConfig::default(), Instant::ZERO);
    /// let mut config = engine.config().clone();
    /// config.main.simultaneous_p2p_downloads = 5;
    /// config.common.announce_trackers = vec!["wss://ignored.example".into()];
    /// engine.set_config(Instant::ZERO, config);
    /// assert_eq!(engine.config().main.simultaneous_p2p_downloads, 5);
    /// assert_ne!(engine.config().common.announce_trackers, ["wss://ignored.example"]);
    /// ```
    pub fn set_config(&mut self, now: Instant, mut config: EngineConfig) {
        let old = &self.config;
        config.common.announce_trackers = old.common.announce_trackers.clone();
        config.common.peer_id_prefix = old.common.peer_id_prefix.clone();
        config.common.swarm_id = old.common.swarm_id.clone();
        config.common.seed = old.common.seed;
        config.common.storage_limit_bytes = old.common.storage_limit_bytes;
        let flips: Vec<(StreamType, bool, bool)> = TYPES
            .iter()
            .map(|t| {
                let (was, is) = (
                    self.stream_config(*t).clone(),
                    match t {
                        StreamType::Main => &config.main,
                        StreamType::Secondary => &config.secondary,
                    },
                );
                (
                    *t,
                    !was.p2p_disabled && is.p2p_disabled,
                    was.p2p_upload_disabled != is.p2p_upload_disabled,
                )
            })
            .collect();
        self.config = config;
        self.reschedule = true;
        for (t, disable, upload_flip) in flips {
            let streams: Vec<StreamId> = self
                .swarms
                .iter()
                .filter(|(_, sw)| sw.stream_type == t)
                .map(|(id, _)| *id)
                .collect();
            if disable {
                for stream in streams {
                    self.destroy_swarm(stream);
                }
                continue;
            }
            let peer_config = self.peer_config(t);
            for stream in streams {
                let conns: Vec<tracker::ConnId> = self
                    .swarms
                    .get(&stream)
                    .map(|sw| sw.open_peers().map(|(id, _)| id).collect())
                    .unwrap_or_default();
                for conn in conns {
                    let silent = upload_flip && self.stream_config(t).p2p_upload_disabled;
                    let pc = peer_config.clone();
                    self.with_conn(now, conn, |p, _| {
                        p.set_config(pc);
                        if silent {
                            p.announce(p2pml_proto::command::Announcement::default());
                        }
                    });
                }
                if upload_flip {
                    self.dirty.insert(stream);
                }
            }
        }
        if std::mem::take(&mut self.reschedule) {
            self.schedule(now);
        }
        self.flush_announcements(now);
    }

    fn stream_config(&self, t: StreamType) -> &StreamConfig {
        match t {
            StreamType::Main => &self.config.main,
            StreamType::Secondary => &self.config.secondary,
        }
    }

    fn new_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn emit(&mut self, event: Event) {
        self.out.push_back(Output::Event(event));
    }

    /// The swarm id in use, once known.
    pub fn swarm_id(&self) -> Option<&str> {
        self.swarm_id.as_deref()
    }

    /// The segment store.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Open peer connections across swarms.
    pub fn connected_peers(&self) -> usize {
        self.swarms.values().map(Swarm::open_count).sum()
    }

    /// All peer connections across swarms, including those being set up.
    pub fn connection_count(&self) -> usize {
        self.swarms.values().map(|sw| sw.conns.len()).sum()
    }

    /// The playhead extrapolated to `now` (for at most one second past the
    /// last report: a player that stops reporting may have stalled).
    fn position(&self, now: Instant) -> Option<f64> {
        self.playhead.map(|p| {
            let elapsed = (now - p.at).as_secs_f64().min(1.0);
            p.position + elapsed * p.rate
        })
    }

    fn rate(&self) -> f64 {
        self.playhead.map_or(1.0, |p| p.rate).max(0.1)
    }

    /// Handles one input, then runs the scheduler if the input can change
    /// what should be downloaded (a body chunk or a buffer report cannot,
    /// unless it ends or breaks a download).
    pub fn handle_input(&mut self, now: Instant, input: Input<P>) {
        let reschedule = match &input {
            Input::HttpData { .. }
            | Input::ChannelBuffered { .. }
            | Input::ChannelMessage { .. } => false,
            Input::Playback { position, .. } => {
                (position - self.scheduled_at_position).abs() >= 0.5
            }
            _ => true,
        };
        self.reschedule |= reschedule;
        match input {
            Input::ManifestUrl(url) => {
                if self.swarm_id.is_none() {
                    self.swarm_id = Some(swarm_id_from_manifest_url(&url).to_owned());
                }
            }
            Input::AddStream {
                stream,
                stream_type,
                index,
            } => {
                let swarm = self.swarm_id.clone().unwrap_or_default();
                self.streams
                    .entry(stream)
                    .or_insert_with(|| Stream::new(stream, stream_type, &swarm, &index));
            }
            Input::UpdateStream {
                stream,
                add,
                remove,
            } => {
                if let Some(s) = self.streams.get_mut(&stream) {
                    s.update(add, &remove);
                    let before = s.listed.newest();
                    if let Some(last) = s.last().map(|l| l.id) {
                        s.listed.push(last, now);
                    }
                    let newest = s.listed.newest();
                    if self.live && newest != before {
                        if let Some(id) = newest {
                            self.announce_listed(now, stream, id);
                        }
                    }
                }
            }
            Input::Live(live) => {
                self.live = live;
                self.storage.set_live(live);
            }
            Input::Playback { position, rate } => {
                let rate = if rate > 0.0 {
                    rate
                } else {
                    self.playhead.map_or(1.0, |p| p.rate)
                };
                self.playhead = Some(Playhead {
                    position,
                    rate,
                    at: now,
                });
                self.storage.update_playback(position, rate);
            }
            Input::LoadSegment {
                request,
                stream,
                segment,
            } => self.load_segment(now, request, stream, segment),
            Input::AbortSegment { request } => {
                for t in TYPES {
                    let loader = self.loaders.get_mut(t);
                    if loader.player.as_ref().is_some_and(|p| p.id == request) {
                        loader.player = None;
                    }
                }
            }
            Input::ActiveBitrate(bps) => self.active_bitrate = bps,
            Input::HttpHeaders {
                fetch,
                status,
                content_length,
            } => self.http_headers(now, fetch, status, content_length),
            Input::HttpData { fetch, data } => self.http_data(now, fetch, data),
            Input::HttpEnd { fetch } => self.http_end(now, fetch),
            Input::HttpFailed { fetch, reason } => self.http_failed(now, fetch, &reason),
            Input::TrackerOpened { tracker } => self.tracker_opened(now, tracker),
            Input::TrackerMessage { tracker, text } => self.tracker_message(now, tracker, &text),
            Input::TrackerClosed { tracker } => self.tracker_closed(now, tracker),
            Input::OfferCreated { conn, sdp } => self.offer_created(now, conn, sdp),
            Input::AnswerCreated { conn, sdp } => self.answer_created(now, conn, sdp),
            Input::ChannelOpen { conn } => self.channel_open(now, conn),
            Input::ChannelMessage { conn, data } => {
                self.open_on_message(now, conn);
                self.with_conn(now, conn, |c, now| c.handle_message(now, data))
            }
            Input::ChannelBuffered { conn, amount } => {
                self.with_conn(now, conn, |c, now| c.handle_buffered_amount(now, amount))
            }
            Input::ChannelClosed { conn } => self.channel_closed(now, conn),
        }
        if std::mem::take(&mut self.reschedule) {
            self.schedule(now);
        }
        self.flush_announcements(now);
    }

    /// Runs timers that are due. The scheduler runs only if its own check
    /// came due or a timer changed something (a stale wake-up, such as a
    /// no-bytes deadline that later bytes pushed back, costs nothing).
    pub fn handle_timeout(&mut self, now: Instant) {
        let check_due = self.next_check.is_some_and(|t| now >= t);
        self.http_timeouts(now);
        self.swarm_timeouts(now);
        if check_due || std::mem::take(&mut self.reschedule) {
            self.schedule(now);
        }
        self.flush_announcements(now);
    }

    /// The next thing for the host to do.
    pub fn poll_output(&mut self) -> Option<Output<P>> {
        self.out.pop_front()
    }

    /// When [`Self::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.http_deadline(), self.swarm_deadline(), self.next_check]
            .into_iter()
            .flatten()
            .min()
    }
}
