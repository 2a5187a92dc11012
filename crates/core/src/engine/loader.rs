//! Downloads and the scheduler: which segment comes from where, and when.
//!
//! The rule that moves the numbers: every segment has a deadline (when the
//! playhead reaches it, extrapolated at the playback rate). While there is
//! more slack than an HTTP download needs plus a safety margin, the segment
//! is left to peers: fetched from one that has it, or awaited from one that
//! is fetching it, or — if nobody has it — fetched over HTTP by the single
//! peer that rendezvous hashing designates among those connected. When the
//! slack runs out, HTTP takes over, resuming from any bytes already
//! received. P2P Media Loader instead sends everything within 15 s of the
//! playhead to HTTP, which is every segment of a short live window.

use std::collections::BTreeMap;
use std::time::Duration;

use p2pml_proto::identity::{InfoHash, PeerId, StreamType};
use rand_core::Rng;

use super::io::{Event, FetchId, Output, PlayerRequestId, Source};
use super::swarm::{ConnState, Swarm};
use super::{Engine, TYPES};
use crate::config::Seeding;
use crate::payload::{Joiner, Payload};
use crate::peer::{DownloadError, PeerConnection};
use crate::storage::{SegmentStorage, SegmentTiming};
use crate::streams::{ListedLog, SegmentInfo, StreamId};
use crate::time::Instant;
use crate::tracker::ConnId;

/// HTTP failures are forgotten this long after the last one (P2PML: 60 s).
const FAILURE_MEMORY: Duration = Duration::from_secs(60);
/// Wait before asking peers again after a failed P2P attempt (P2PML retries
/// at once, without limit).
const P2P_RETRY_DELAY: Duration = Duration::from_millis(500);
/// Assumed before any HTTP download was measured.
const DEFAULT_HTTP_BPS: f64 = 4e6;
const DEFAULT_TTFB: f64 = 0.3;
/// A P2P download projected to finish this long before the deadline is
/// left to finish even when HTTP would otherwise take over.
const P2P_FINISH_MARGIN: f64 = 0.3;
/// How long seeding over HTTP waits for a newly connected peer's first
/// announcement (peers announce as soon as the channel opens).
pub(super) const ANNOUNCEMENT_WAIT: Duration = Duration::from_secs(1);
/// How often a P2P download inside the HTTP lead is checked.
const P2P_PROGRESS_CHECK: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlayerRequest {
    pub(crate) id: PlayerRequestId,
    pub(crate) stream: StreamId,
    pub(crate) segment: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Attempt {
    Idle,
    Http {
        fetch: FetchId,
        started: Instant,
        /// No-bytes deadline.
        deadline: Instant,
        /// Whether a range was asked for (resume or byte-range segment).
        ranged: bool,
        first_byte: bool,
    },
    P2p {
        conn: ConnId,
    },
}

#[derive(Debug)]
pub(super) struct Download<P: Payload> {
    /// The pieces as they came, for relays to slice.
    pub(super) chunks: Vec<P>,
    /// The same bytes, joined while they arrive.
    joined: P::Joiner,
    pub(super) received: u64,
    pub(super) http_bytes: u64,
    pub(super) total: Option<u64>,
    pub(super) attempt: Attempt,
    /// Bytes held when the current attempt started (a P2P attempt that
    /// fails without valid bytes rolls back to here).
    pub(super) attempt_from: u64,
    /// When the current attempt started.
    pub(super) attempt_started: Instant,
    pub(super) http_failures: u32,
    pub(super) last_failure: Option<Instant>,
    pub(super) p2p_not_before: Option<Instant>,
    /// Random seeding (P2P Media Loader's mode): when to roll again.
    pub(super) next_roll: Option<Instant>,
    /// Timing guessed for a segment fetched before our playlist lists it.
    pub(super) guessed: Option<(f64, f64)>,
    /// The last peer that sent bytes of it.
    pub(super) last_peer: Option<PeerId>,
}

impl<P: Payload> Download<P> {
    pub(super) fn new() -> Self {
        Self {
            chunks: Vec::new(),
            joined: P::Joiner::default(),
            received: 0,
            http_bytes: 0,
            total: None,
            attempt: Attempt::Idle,
            attempt_from: 0,
            attempt_started: Instant::ZERO,
            http_failures: 0,
            last_failure: None,
            p2p_not_before: None,
            next_roll: None,
            guessed: None,
            last_peer: None,
        }
    }

    /// Adds bytes received in order.
    pub(super) fn append(&mut self, data: P) {
        self.received += data.len() as u64;
        self.joined.push(&data, self.total);
        self.chunks.push(data);
    }

    pub(super) fn reset_bytes(&mut self) {
        self.chunks.clear();
        self.joined = P::Joiner::default();
        self.received = 0;
        self.http_bytes = 0;
    }

    /// Drops bytes past `len` (chunks were appended at attempt boundaries,
    /// so `len` is one).
    fn truncate(&mut self, len: u64) {
        while self.received > len {
            let Some(last) = self.chunks.pop() else {
                break;
            };
            self.received -= last.len() as u64;
        }
        self.joined
            .truncate(usize::try_from(self.received).unwrap_or(usize::MAX));
    }

    /// The bytes held from offset `from` on, as slices of the chunks.
    pub(super) fn bytes_from(&self, from: u64) -> Vec<P> {
        let mut at = 0u64;
        let mut out = Vec::new();
        for c in &self.chunks {
            let len = c.len() as u64;
            if at + len > from {
                let skip = usize::try_from(from.saturating_sub(at)).unwrap_or(usize::MAX);
                out.push(if skip > 0 {
                    c.slice(skip..c.len())
                } else {
                    c.clone()
                });
            }
            at += len;
        }
        out
    }

    /// Whether bytes are flowing in with a known total, so that our peers
    /// can be served while they arrive.
    pub(super) fn relayable(&self) -> bool {
        self.attempt != Attempt::Idle && self.total.is_some() && self.received > 0
    }
}

/// Downloads of one stream type.
#[derive(Debug)]
pub(crate) struct Loader<P: Payload> {
    pub(crate) active: Option<StreamId>,
    pub(crate) player: Option<PlayerRequest>,
    pub(crate) last_requested: Option<(StreamId, i64)>,
    /// Before the player reports a position: the start of the earliest
    /// segment it asked for. Players buffer several segments before the
    /// first position report, and each of those is not due when asked for.
    pub(crate) first_wanted: Option<f64>,
    pub(super) downloads: BTreeMap<(StreamId, i64), Download<P>>,
    pub(super) started: Instant,
    /// Mean size of completed segments, for estimates.
    pub(super) mean_size: Option<f64>,
    /// Mean HTTP time to first byte, in seconds.
    pub(super) ttfb: Option<f64>,
}

impl<P: Payload> Loader<P> {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            active: None,
            player: None,
            last_requested: None,
            first_wanted: None,
            downloads: BTreeMap::new(),
            started: now,
            mean_size: None,
            ttfb: None,
        }
    }

    /// Ids we can relay in `stream` (the list of our `Relaying` extension).
    pub(crate) fn relaying(&self, stream: StreamId) -> Vec<i64> {
        self.downloads
            .iter()
            .filter(|((s, _), d)| *s == stream && d.relayable())
            .map(|((_, id), _)| *id)
            .take(p2pml_proto::command::MAX_RELAYING_IDS)
            .collect()
    }

    /// Ids being fetched over HTTP in `stream` (the `p` of announcements).
    pub(crate) fn http_loading(&self, stream: StreamId) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .downloads
            .iter()
            .filter(|((s, _), d)| *s == stream && matches!(d.attempt, Attempt::Http { .. }))
            .map(|((_, id), _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    pub(super) fn count(&self, http: bool) -> usize {
        self.downloads
            .values()
            .filter(|d| match d.attempt {
                Attempt::Http { .. } => http,
                Attempt::P2p { .. } => !http,
                Attempt::Idle => false,
            })
            .count()
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The part of a peer's rendezvous scores that does not depend on the
/// segment: FNV-1a over its peer id and the swarm's info hash. Kept per
/// connection, so a score costs eight bytes of hashing, not 48.
pub(super) fn rendezvous_key(peer: &PeerId, info_hash: &InfoHash) -> u64 {
    let mut h = FNV_OFFSET;
    for &b in peer.0.iter().chain(info_hash.0.iter()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Rendezvous score of a peer (by its [`rendezvous_key`]) for a segment:
/// every peer computes the same scores from the same ids, so the swarm
/// agrees on who seeds what.
fn rendezvous_score(key: u64, segment: i64) -> u64 {
    let mut h = key;
    for b in segment.to_le_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    // Finish with splitmix64 so nearby segment ids scatter.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Where we stand among the first to learn of new live segments.
enum Lead {
    /// Our playlist lists them more than the lead window after a peer's:
    /// the earlier ones seed.
    Behind,
    /// We are within the window of the first: the rendezvous keys of the
    /// peers that are too.
    Within(Vec<u64>),
}

/// Compares our playlist's listing times (`mine`) with our peers' `Listed`
/// messages. Players refresh live playlists at different moments, each at
/// a steady phase; a segment seeded by a peer that lists it early has
/// longer to spread before the players need it than one seeded by whoever
/// rendezvous hashing picks among all. The first alone would carry every
/// segment; the peers within `window` of the first share them. A message's
/// transit makes its sender look later, so a peer sees itself a little
/// earlier than others see it: at the window's edge it may seed a segment
/// another also seeds, never leave one unseeded. Peers that sent no
/// comparable `Listed` take no part, nor do those whose playlist stopped
/// growing (a peer that died keeps its connection until it times out: as
/// one of the first two listers it would hold a seeding place it never
/// uses); `None` if none is left.
fn lead<P: Payload>(sw: &Swarm<P>, mine: &ListedLog, window: f64) -> Option<Lead> {
    let delays: Vec<(u64, f64)> = sw
        .conns
        .values()
        .filter_map(|c| {
            let theirs = c.open()?.listed()?;
            if !theirs.keeps_up_with(mine) {
                return None;
            }
            Some((c.rendezvous_key, theirs.delay_after(mine)?))
        })
        .collect();
    if delays.is_empty() {
        return None;
    }
    // Ours is 0; the window reaches at least the second lister, so the
    // first never seeds alone however far ahead it is.
    let mut sorted: Vec<f64> = delays.iter().map(|(_, d)| *d).chain([0.0]).collect();
    sorted.sort_by(f64::total_cmp);
    let first = sorted.first().copied().unwrap_or(0.0);
    let second = sorted.get(1).copied().unwrap_or(0.0);
    let edge = (first + window).max(second);
    if 0.0 > edge {
        return Some(Lead::Behind);
    }
    Some(Lead::Within(
        delays
            .iter()
            .filter(|(_, d)| *d <= edge)
            .map(|(k, _)| *k)
            .collect(),
    ))
}

/// How long a peer that refused a request is not asked again (about one
/// segment upload at a typical uplink; 0.3 s and 0.1 s measured worse).
const BUSY_BACKOFF: Duration = Duration::from_millis(1000);

/// Segments the scheduler's last run left waiting on one stream.
#[derive(Debug, Default)]
pub(crate) struct Waiting {
    ids: Vec<i64>,
    /// The newest segment in its queue (live).
    beyond: i64,
}

/// What the scheduler decided for one segment.
enum Plan {
    Http,
    P2p(ConnId),
    Wait,
}

impl<P: Payload, S: SegmentStorage<P>> Engine<P, S> {
    /// The download of `(stream, id)` in loader `t`.
    pub(super) fn download_mut(
        &mut self,
        t: StreamType,
        stream: StreamId,
        id: i64,
    ) -> Option<&mut Download<P>> {
        self.loaders.get_mut(t).downloads.get_mut(&(stream, id))
    }

    /// The download of `(stream, id)` in loader `t`, created if new.
    pub(super) fn download_entry(
        &mut self,
        t: StreamType,
        stream: StreamId,
        id: i64,
    ) -> &mut Download<P> {
        self.loaders
            .get_mut(t)
            .downloads
            .entry((stream, id))
            .or_insert_with(Download::new)
    }

    /// Drops the bytes held for `(stream, id)`; relays of them cannot go on.
    pub(super) fn reset_download_bytes(&mut self, t: StreamType, stream: StreamId, id: i64) {
        let Some(d) = self.download_mut(t, stream, id) else {
            return;
        };
        let held = d.received > 0;
        d.reset_bytes();
        if held {
            self.relays_lost(stream, id);
        }
    }

    pub(crate) fn load_segment(
        &mut self,
        now: Instant,
        request: PlayerRequestId,
        stream: StreamId,
        segment: i64,
    ) {
        let Some(s) = self.streams.get(&stream) else {
            self.out.push_back(Output::SegmentFailed {
                request,
                reason: format!("unknown stream {stream}"),
            });
            return;
        };
        let (t, key) = (s.stream_type, s.key.clone());
        let start = s.segment(segment).map(|seg| seg.start);
        self.activate_swarm(now, stream);
        let unplayed = self.playhead.is_none();
        let loader = self.loaders.get_mut(t);
        loader.last_requested = Some((stream, segment));
        if unplayed {
            if let Some(start) = start {
                loader.first_wanted = Some(loader.first_wanted.map_or(start, |f| f.min(start)));
            }
        }
        if let Some(previous) = loader.player.replace(PlayerRequest {
            id: request,
            stream,
            segment,
        }) {
            if previous.id != request {
                self.out.push_back(Output::SegmentFailed {
                    request: previous.id,
                    reason: "aborted: replaced by a newer request".into(),
                });
            }
        }
        if let Some(d) = self.download_mut(t, stream, segment) {
            // A request from the player is always retried.
            d.http_failures = 0;
        }
        if let Some(data) = self.storage.get(&key, segment) {
            self.resolve_player(t, data);
        }
    }

    fn resolve_player(&mut self, t: StreamType, data: P) {
        if let Some(p) = self.loaders.get_mut(t).player.take() {
            let bandwidth = [1, 3, 5]
                .into_iter()
                .map(|s| self.bw_all.loading_only(Duration::from_secs(s)))
                .fold(0.0, f64::max);
            self.out.push_back(Output::SegmentLoaded {
                request: p.id,
                data,
                bandwidth,
            });
        }
    }

    /// Size of a segment: known from its byte range, else the mean so far,
    /// else the active bitrate times its duration.
    fn size_estimate(&self, t: StreamType, seg: &SegmentInfo) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "an estimate")]
        let known = seg.known_size().map(|n| n as f64);
        known
            .or(self.loaders.get(t).mean_size)
            .unwrap_or_else(|| self.active_bitrate.max(2e6) * seg.duration().max(1.0) / 8.0)
    }

    /// Seconds an HTTP download of what we still miss of `seg` is expected
    /// to take, and whether a P2P download of it is on course to finish
    /// within `wait` seconds (measured over at least half a second).
    fn http_seconds(
        &self,
        now: Instant,
        t: StreamType,
        stream: StreamId,
        seg: &SegmentInfo,
        http_bps: f64,
        wait: f64,
    ) -> (f64, bool) {
        let loader = self.loaders.get(t);
        let ttfb = loader.ttfb.unwrap_or(DEFAULT_TTFB);
        let d = loader.downloads.get(&(stream, seg.id));
        #[expect(clippy::cast_precision_loss, reason = "estimates")]
        let (held, total) = (
            d.map_or(0.0, |d| d.received as f64),
            d.and_then(|d| d.total).map(|t| t as f64),
        );
        let remaining = (total.unwrap_or_else(|| self.size_estimate(t, seg)) - held).max(0.0);
        let on_course = d.is_some_and(|d| {
            let elapsed = (now - d.attempt_started).as_secs_f64();
            #[expect(clippy::cast_precision_loss, reason = "a rate")]
            let rate = (d.received - d.attempt_from) as f64 / elapsed.max(1e-3);
            matches!(d.attempt, Attempt::P2p { .. })
                && elapsed >= 0.5
                && rate > 0.0
                && remaining / rate + P2P_FINISH_MARGIN < wait
        });
        (ttfb + remaining * 8.0 / http_bps, on_course)
    }

    /// Measured HTTP throughput; one sample says nothing about throughput,
    /// so it takes 250 ms of data.
    fn http_bps(&self) -> f64 {
        self.bw_http
            .loading_only_if_spanning(Duration::from_secs(10), Duration::from_millis(250))
            .filter(|b| *b > 0.0)
            .map_or(DEFAULT_HTTP_BPS, |b| b.min(1e10))
    }

    /// Runs the scheduler for both stream types.
    pub(crate) fn schedule(&mut self, now: Instant) {
        self.next_check = None;
        self.waiting.clear();
        self.scheduled_at_position = self.position(now).unwrap_or(f64::NEG_INFINITY);
        for t in TYPES {
            self.schedule_type(now, t);
        }
    }

    fn schedule_type(&mut self, now: Instant, t: StreamType) {
        let Some(stream_id) = self.loaders.get(t).active else {
            return;
        };
        let Some(stream) = self.streams.get(&stream_id) else {
            return;
        };
        let player = self.loaders.get(t).player.filter(|p| p.stream == stream_id);
        let rate = self.rate();
        // Before the first position report, the playhead is taken to be at
        // the earliest segment the player asked for: it is still there.
        let first_wanted = self.loaders.get(t).first_wanted;
        let position = self.position(now).or_else(|| {
            let asked = player
                .and_then(|p| stream.segment(p.segment))
                .map(|s| s.start);
            match (asked, first_wanted) {
                (Some(a), Some(f)) => Some(a.min(f)),
                (a, f) => a.or(f),
            }
        });
        let Some(position) = position else {
            return;
        };
        let config = self.stream_config(t).clone();
        let pressure = self.storage.usage().available_percent();
        // P2P Media Loader's storage-pressure rules, and our byte bound.
        let horizon = if pressure <= 5.0 {
            0.0
        } else {
            config.p2p_download_window
        };
        let http_horizon = if pressure <= 10.0 {
            0.0
        } else {
            config.http_download_window
        };
        let anchor = match (stream.at(position).map(|s| s.id), player.map(|p| p.segment)) {
            (Some(a), Some(p)) => a.min(p),
            (a, p) => a.or(p).unwrap_or(i64::MAX),
        };
        let mut queue: Vec<SegmentInfo> = Vec::new();
        let mut bytes = 0.0;
        #[expect(clippy::cast_precision_loss, reason = "a byte budget")]
        let budget = self.config.common.max_prefetch_bytes as f64;
        for seg in stream.from(anchor) {
            let first = queue.is_empty() || player.is_some_and(|p| p.segment == seg.id);
            if !first && (seg.start > position + horizon * rate || bytes > budget) {
                break;
            }
            bytes += self.size_estimate(t, seg);
            queue.push(seg.clone());
        }
        // The player's own request is served even beyond the windows and the
        // budget: before the first playhead report, the window starts at the
        // earliest segment it asked for, which can be far behind.
        if let Some(p) = player {
            if !queue.iter().any(|s| s.id == p.segment) {
                if let Some(seg) = stream.segment(p.segment) {
                    queue.push(seg.clone());
                }
            }
        }
        // Live: peers announce segments our playlist does not list yet (it
        // refreshes only every target duration). Fetch those from peers at
        // once; by the player's next refresh they are stored.
        // Segments from here on are not in our playlist yet.
        let listed = queue.len();
        if self.live {
            if let (Some(last), Some(sw)) = (stream.last(), self.swarms.get(&stream_id)) {
                let d = stream.average_duration().max(0.1);
                let newest = sw
                    .open_peers()
                    .filter_map(|(_, p)| p.highest_loaded().max(p.highest_relaying()))
                    .max()
                    .unwrap_or(last.id);
                for id in last.id + 1..=newest.min(last.id + 2) {
                    #[expect(clippy::cast_precision_loss, reason = "segment times")]
                    let start = last.end + (id - last.id - 1) as f64 * d;
                    queue.push(SegmentInfo {
                        id,
                        url: String::new(),
                        byte_range: None,
                        start,
                        end: start + d,
                    });
                }
            }
        }
        let key = stream.key.clone();
        let http_bps = self.http_bps();
        self.housekeeping(now, t, stream_id, &queue, player);
        let mut waiting = Waiting {
            ids: Vec::new(),
            // Live: a peer announcing a newer segment extends the queue.
            beyond: if self.live {
                queue.last().map_or(i64::MIN, |s| s.id)
            } else {
                i64::MAX
            },
        };
        for (k, seg) in queue.iter().enumerate() {
            if self.storage.has(&key, seg.id) {
                continue;
            }
            if k >= listed {
                // Not in our playlist yet: peers only, never urgent.
                match self.plan(now, t, stream_id, seg, false, false) {
                    Plan::P2p(conn) => {
                        self.start_p2p(now, t, stream_id, seg, conn);
                        if let Some(d) = self.download_mut(t, stream_id, seg.id) {
                            d.guessed = Some((seg.start, seg.end));
                        }
                    }
                    Plan::Wait if self.is_idle(t, stream_id, seg.id) => waiting.ids.push(seg.id),
                    Plan::Wait | Plan::Http => {}
                }
                continue;
            }
            let wait = ((seg.start - position) / rate).max(0.0);
            let (http_secs, on_course) = self.http_seconds(now, t, stream_id, seg, http_bps, wait);
            let lead = http_secs + self.config.common.http_safety_margin;
            let overdue = player.is_some_and(|p| p.segment == seg.id) && seg.end <= position;
            if wait <= lead && on_course && !overdue {
                // Late for HTTP's comfort, but the peer will make it: look again soon.
                let turn = now + P2P_PROGRESS_CHECK;
                self.check_at(turn);
            }
            let urgent = wait <= lead && !on_course || overdue;
            let within_http = seg.start <= position + http_horizon * rate;
            match self.plan(now, t, stream_id, seg, urgent, within_http) {
                Plan::Http => self.start_http(now, t, stream_id, seg),
                Plan::P2p(conn) => self.start_p2p(now, t, stream_id, seg, conn),
                Plan::Wait => {
                    if self.is_idle(t, stream_id, seg.id) {
                        waiting.ids.push(seg.id);
                    }
                    if !urgent {
                        let turn = now + Duration::from_secs_f64((wait - lead).clamp(0.05, 3600.0));
                        self.check_at(turn);
                    }
                }
            }
        }
        // With every P2P slot taken, no announcement can start anything: a
        // freed slot runs the scheduler anyway.
        let loader = self.loaders.get(t);
        if loader.count(false) >= self.stream_config(t).simultaneous_p2p_downloads {
            waiting.ids.clear();
            waiting.beyond = i64::MAX;
        }
        self.waiting.insert(stream_id, waiting);
    }

    /// Makes the scheduler look again at `at` (or earlier, if already due).
    fn check_at(&mut self, at: Instant) {
        self.next_check = Some(self.next_check.map_or(at, |c| c.min(at)));
    }

    /// Whether no download of the segment is under way.
    fn is_idle(&self, t: StreamType, stream: StreamId, id: i64) -> bool {
        self.loaders
            .get(t)
            .downloads
            .get(&(stream, id))
            .is_none_or(|d| d.attempt == Attempt::Idle)
    }

    /// Whether a peer's new announcement can change a decision of the
    /// scheduler's last run: it offers (or fetches from HTTP) a segment that
    /// run waited for, or a live segment beyond its queue. Announcements
    /// arrive from every peer for every segment; most change nothing.
    pub(super) fn announcement_matters(&self, stream: StreamId, peer: &PeerConnection<P>) -> bool {
        let Some(w) = self.waiting.get(&stream) else {
            return false;
        };
        if peer.is_downloading() {
            // Our one request to it is taken.
            return false;
        }
        w.ids
            .iter()
            .any(|&id| peer.has(id) || peer.relays(id) || peer.is_http_loading(id))
            || peer
                .highest_loaded()
                .max(peer.highest_relaying())
                .is_some_and(|h| h > w.beyond)
    }

    /// Aborts what is no longer needed and forgets old failures.
    fn housekeeping(
        &mut self,
        now: Instant,
        t: StreamType,
        stream: StreamId,
        queue: &[SegmentInfo],
        player: Option<PlayerRequest>,
    ) {
        let wanted = |s: StreamId, id: i64| {
            s == stream && queue.iter().any(|q| q.id == id)
                || player.is_some_and(|p| p.stream == s && p.segment == id)
        };
        let doomed: Vec<(StreamId, i64)> = self
            .loaders
            .get(t)
            .downloads
            .keys()
            .filter(|(s, id)| !wanted(*s, *id))
            .copied()
            .collect();
        for (s, id) in doomed {
            self.abort_attempt(now, t, s, id);
            self.loaders.get_mut(t).downloads.remove(&(s, id));
        }
        for d in self.loaders.get_mut(t).downloads.values_mut() {
            if d.last_failure.is_some_and(|f| now - f >= FAILURE_MEMORY) {
                d.http_failures = 0;
                d.last_failure = None;
            }
        }
    }

    fn plan(
        &mut self,
        now: Instant,
        t: StreamType,
        stream: StreamId,
        seg: &SegmentInfo,
        urgent: bool,
        within_http: bool,
    ) -> Plan {
        let config = self.stream_config(t);
        let (http_slots, p2p_slots, retries) = (
            config.simultaneous_http_downloads,
            config.simultaneous_p2p_downloads,
            config.http_error_retries,
        );
        let delay_over = now - self.loaders.get(t).started >= config.http_initial_delay;
        let loader = self.loaders.get(t);
        let d = loader.downloads.get(&(stream, seg.id));
        let attempt = d.map_or(Attempt::Idle, |d| d.attempt);
        let can_http = delay_over && d.is_none_or(|d| d.http_failures < retries);
        let http_free = loader.count(true) < http_slots;
        let p2p_free = loader.count(false) < p2p_slots;
        let p2p_allowed = d.is_none_or(|d| d.p2p_not_before.is_none_or(|at| now >= at));
        let roll_due = d.is_none_or(|d| d.next_roll.is_none_or(|at| now >= at));
        match attempt {
            Attempt::Http { .. } => return Plan::Wait,
            Attempt::P2p { .. } => {
                if urgent && can_http && (http_free || self.preempt_http(now, t, stream, seg.id)) {
                    // Too late for the peer: switch to HTTP, keeping its bytes.
                    self.abort_attempt(now, t, stream, seg.id);
                    return Plan::Http;
                }
                return Plan::Wait;
            }
            Attempt::Idle => {}
        }
        let Some(sw) = self.swarms.get(&stream) else {
            // No swarm (P2P disabled): plain HTTP, ahead of need within the slots.
            return if can_http && (http_free || urgent && self.preempt_http(now, t, stream, seg.id))
            {
                Plan::Http
            } else {
                Plan::Wait
            };
        };
        let mut busy_until: Option<Instant> = None;
        let mut holders_where = |f: &dyn Fn(&PeerConnection<P>) -> bool| {
            sw.open_peers()
                .filter(|(_, p)| f(p) && !p.is_downloading())
                .filter(
                    |(_, p)| match p.busy_until(BUSY_BACKOFF).filter(|at| *at > now) {
                        Some(at) => {
                            busy_until = Some(busy_until.map_or(at, |b| b.min(at)));
                            false
                        }
                        None => true,
                    },
                )
                .map(|(id, _)| {
                    (
                        id,
                        sw.conns
                            .get(&id)
                            .map_or(0.0, |c| c.bandwidth.loading_only(Duration::from_secs(15))),
                    )
                })
                .collect::<Vec<_>>()
        };
        let relay = self.config.common.relay;
        let mut holders = holders_where(&|p| p.has(seg.id));
        if holders.is_empty() && relay {
            // Nobody stores it yet: stream it from one of ours that is receiving it.
            holders = holders_where(&|p| p.relays(seg.id));
        }
        // Random seeding waits for anyone fetching it; the seeders that
        // rendezvous designates fetch it together, so it spreads from several.
        let coordinated = self.config.common.seeding != Seeding::Random;
        let someone_has = sw.open_peers().any(|(_, p)| {
            p.has(seg.id)
                || !coordinated && (p.is_http_loading(seg.id) || p.relays(seg.id) && relay)
        });
        let peers = sw.open_count();
        if holders.is_empty() {
            if let Some(at) = busy_until {
                // Holders there are, all busy: look again when one may be free.
                self.check_at(at);
            }
        }

        if urgent {
            if can_http && (http_free || self.preempt_http(now, t, stream, seg.id)) {
                return Plan::Http;
            }
            if p2p_free && p2p_allowed {
                if let Some(conn) = self.choose_peer(&holders) {
                    return Plan::P2p(conn);
                }
            }
            return Plan::Wait;
        }
        if p2p_allowed && p2p_free {
            if let Some(conn) = self.choose_peer(&holders) {
                return Plan::P2p(conn);
            }
        }
        if someone_has || !within_http || !can_http || !http_free {
            return Plan::Wait;
        }
        let seeds = match self.config.common.seeding {
            Seeding::Coordinated => {
                let Some(sw) = self.swarms.get(&stream) else {
                    return Plan::Wait;
                };
                // From the start of playback, not of this swarm: after a
                // rendition switch the player is running and cannot wait.
                let grace_end = self.loaders.get(t).started + self.config.common.seeding_grace;
                if peers == 0 && now < grace_end {
                    // Just started and alone so far: peers may hold all of it.
                    self.check_at(grace_end);
                    return Plan::Wait;
                }
                if let Some(due) = sw.announcements_due(now, ANNOUNCEMENT_WAIT) {
                    // A peer just connected and has not said what it holds
                    // yet: it may hold this one.
                    self.check_at(due);
                    return Plan::Wait;
                }
                // Rendezvous: am I among the k connected peers with the highest scores?
                let my_score = rendezvous_score(sw.rendezvous_key, seg.id);
                let seeders = (peers + 1).div_ceil(self.config.common.peers_per_seeder.max(1));
                let listed = self
                    .streams
                    .get(&stream)
                    .filter(|_| self.live)
                    .and_then(|s| {
                        let window = self.config.common.seeding_lead_window.as_secs_f64();
                        lead(sw, &s.listed, window)
                    });
                match listed {
                    Some(Lead::Behind) => false,
                    Some(Lead::Within(keys)) => {
                        let above_me = keys
                            .iter()
                            .filter(|k| rendezvous_score(**k, seg.id) > my_score)
                            .count();
                        above_me < seeders
                    }
                    None => {
                        let mine = self.streams.get(&stream).map(|s| &s.listed);
                        let above_me = sw
                            .conns
                            .values()
                            .filter(|c| c.remote.is_some())
                            .filter(|c| {
                                // Not one of ours whose live playlist stopped growing.
                                c.open().is_some_and(|p| {
                                    !self.live
                                        || p.listed().zip(mine).is_none_or(|(theirs, mine)| {
                                            theirs.newest().is_none() || theirs.keeps_up_with(mine)
                                        })
                                })
                            })
                            .filter(|c| rendezvous_score(c.rendezvous_key, seg.id) > my_score)
                            .count();
                        above_me < seeders
                    }
                }
            }
            Seeding::All => true,
            Seeding::Random => {
                if !roll_due {
                    false
                } else {
                    #[expect(clippy::cast_precision_loss, reason = "a probability")]
                    let p = 1.0 / (peers as f64 + 1.0);
                    let period = 1.0
                        + f64::from(self.rng.next_u32() % 1000) / 1000.0 * (peers as f64).max(0.0);
                    let hit = f64::from(self.rng.next_u32()) / f64::from(u32::MAX) < p;
                    self.download_entry(t, stream, seg.id).next_roll =
                        Some(now + Duration::from_secs_f64(period));
                    hit
                }
            }
        };
        if seeds { Plan::Http } else { Plan::Wait }
    }

    /// P2P Media Loader's choice: weighted by measured bandwidth, with
    /// unproven peers together never outweighing proven ones.
    fn choose_peer(&mut self, holders: &[(ConnId, f64)]) -> Option<ConnId> {
        match holders {
            [] => None,
            [(id, _)] => Some(*id),
            _ => {
                let best = holders.iter().map(|(_, bw)| *bw).fold(0.0, f64::max);
                let r = f64::from(self.rng.next_u32()) / (f64::from(u32::MAX) + 1.0);
                if best <= 0.0 {
                    #[expect(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        clippy::cast_precision_loss,
                        reason = "an index below len"
                    )]
                    let i = (r * holders.len() as f64) as usize;
                    return holders.get(i).map(|(id, _)| *id);
                }
                let mut base = (0.1 * best).max(1.0);
                let unproven = holders.iter().filter(|(_, bw)| *bw <= base).count();
                let proven: f64 = holders
                    .iter()
                    .filter(|(_, bw)| *bw > base)
                    .map(|(_, bw)| bw)
                    .sum();
                #[expect(clippy::cast_precision_loss, reason = "a count")]
                if unproven as f64 * base > proven && unproven > 0 {
                    base = proven / unproven as f64;
                }
                let weights: Vec<f64> = holders.iter().map(|(_, bw)| bw.max(base)).collect();
                let mut target = r * weights.iter().sum::<f64>();
                for ((id, _), w) in holders.iter().zip(&weights) {
                    if target < *w {
                        return Some(*id);
                    }
                    target -= w;
                }
                holders.last().map(|(id, _)| *id)
            }
        }
    }

    /// Frees an HTTP slot by aborting the download furthest ahead, if it is
    /// later than `for_segment`.
    fn preempt_http(
        &mut self,
        now: Instant,
        t: StreamType,
        stream: StreamId,
        for_segment: i64,
    ) -> bool {
        let victim = self
            .loaders
            .get(t)
            .downloads
            .iter()
            .filter(|((s, id), d)| {
                *s == stream && *id > for_segment && matches!(d.attempt, Attempt::Http { .. })
            })
            .map(|((s, id), _)| (*s, *id))
            .max_by_key(|(_, id)| *id);
        match victim {
            Some((s, id)) => {
                self.abort_attempt(now, t, s, id);
                true
            }
            None => false,
        }
    }

    fn abort_attempt(&mut self, now: Instant, t: StreamType, stream: StreamId, segment: i64) {
        let Some(d) = self.download_mut(t, stream, segment) else {
            return;
        };
        let attempt = std::mem::replace(&mut d.attempt, Attempt::Idle);
        match attempt {
            Attempt::Idle => {}
            Attempt::Http { fetch, .. } => {
                self.fetches.remove(&fetch);
                self.out.push_back(Output::HttpAbort { fetch });
                self.finish_attempt(now, stream, Source::Http);
                self.emit(Event::SegmentAbort {
                    stream_type: t,
                    segment,
                    source: Source::Http,
                    peer: None,
                });
            }
            Attempt::P2p { conn } => {
                // The bytes so far are already ours (see `p2p_bytes`).
                if let Some(c) = self.conn_mut(stream, conn) {
                    if let ConnState::Open(peer) = &mut c.state {
                        peer.abort_download();
                    }
                }
                let peer = self.remote_of(stream, conn);
                self.emit(Event::SegmentAbort {
                    stream_type: t,
                    segment,
                    source: Source::P2p,
                    peer,
                });
                self.pump_conn(now, stream, conn);
            }
        }
    }

    fn start_p2p(
        &mut self,
        now: Instant,
        t: StreamType,
        stream: StreamId,
        seg: &SegmentInfo,
        conn: ConnId,
    ) {
        let d = self.download_entry(t, stream, seg.id);
        let (from, total) = (d.received, d.total.or(seg.known_size()));
        let started = self
            .conn_mut(stream, conn)
            .is_some_and(|c| match &mut c.state {
                ConnState::Open(peer) => peer.request(now, seg.id, from, total),
                _ => false,
            });
        if started {
            if let Some(d) = self.download_mut(t, stream, seg.id) {
                d.attempt = Attempt::P2p { conn };
                d.attempt_from = d.received;
                d.attempt_started = now;
            }
            if let Some(c) = self.conn_mut(stream, conn) {
                c.bandwidth.start_loading(now);
            }
            self.bw_all.start_loading(now);
            let peer = self.remote_of(stream, conn);
            self.emit(Event::SegmentStart {
                stream_type: t,
                segment: seg.id,
                source: Source::P2p,
                peer,
            });
            self.pump_conn(now, stream, conn);
        }
    }

    pub(super) fn finish_attempt(&mut self, now: Instant, stream: StreamId, source: Source) {
        self.relay_dirty.insert(stream);
        self.bw_all.stop_loading(now);
        if source == Source::Http {
            self.bw_http.stop_loading(now);
            self.mark_http_changed(stream);
        }
    }

    fn conn_type(&self, stream: StreamId) -> Option<StreamType> {
        self.streams.get(&stream).map(|s| s.stream_type)
    }

    /// Bookkeeping when a P2P attempt ends, however it ends; after a
    /// timeout the peer's throughput history is dropped, as P2P Media Loader
    /// does. Returns the stream type.
    fn end_p2p_attempt(
        &mut self,
        now: Instant,
        stream: StreamId,
        conn: ConnId,
        timed_out: bool,
    ) -> Option<StreamType> {
        self.reschedule = true;
        let t = self.conn_type(stream)?;
        if let Some(c) = self.conn_mut(stream, conn) {
            c.bandwidth.stop_loading(now);
            if timed_out {
                c.bandwidth.clear();
            }
        }
        self.finish_attempt(now, stream, Source::P2p);
        Some(t)
    }

    pub(crate) fn p2p_completed(
        &mut self,
        now: Instant,
        stream: StreamId,
        conn: ConnId,
        segment: i64,
        bytes: u64,
    ) {
        let Some(t) = self.end_p2p_attempt(now, stream, conn, false) else {
            return;
        };
        let Some(d) = self.download_mut(t, stream, segment) else {
            return;
        };
        if d.attempt != (Attempt::P2p { conn }) {
            return;
        }
        // Its bytes came chunk by chunk (see `p2p_bytes`).
        d.attempt = Attempt::Idle;
        if d.received - d.attempt_from != bytes {
            // Cannot happen with our peer machine; never store a bad join.
            d.truncate(d.attempt_from);
            self.relays_lost(stream, segment);
            return;
        }
        d.total = Some(d.received);
        self.complete(t, stream, segment);
    }

    /// Bytes of a P2P download arrived: keep them (so they can be relayed
    /// and survive a switch to HTTP) and pass them on to relays.
    pub(crate) fn p2p_bytes(
        &mut self,
        now: Instant,
        stream: StreamId,
        conn: ConnId,
        segment: i64,
        data: P,
        total: u64,
    ) {
        let Some(t) = self.conn_type(stream) else {
            return;
        };
        let peer = self.remote_of(stream, conn);
        let Some(d) = self.download_mut(t, stream, segment) else {
            return;
        };
        if d.attempt != (Attempt::P2p { conn }) {
            return;
        }
        let first = d.received == 0;
        d.total.get_or_insert(total);
        d.append(data.clone());
        d.last_peer = peer;
        if first {
            self.relay_dirty.insert(stream);
        }
        self.relay_chunk(now, stream, segment, &data);
    }

    pub(crate) fn p2p_failed(
        &mut self,
        now: Instant,
        stream: StreamId,
        conn: ConnId,
        segment: i64,
        error: DownloadError,
        partial: Option<u64>,
    ) {
        let Some(t) = self.end_p2p_attempt(now, stream, conn, error == DownloadError::Timeout)
        else {
            return;
        };
        let Some(d) = self.download_mut(t, stream, segment) else {
            return;
        };
        let ours = d.attempt == (Attempt::P2p { conn });
        if ours {
            // Bytes already came chunk by chunk; without valid ones, roll back.
            let valid = partial.unwrap_or(0);
            d.attempt = Attempt::Idle;
            if d.received - d.attempt_from != valid {
                d.truncate(d.attempt_from);
                self.relays_lost(stream, segment);
            }
            let Some(d) = self.download_mut(t, stream, segment) else {
                return;
            };
            // A refusal costs only a round trip, and the refuser is no longer
            // listed as a holder: ask another at once. After a timeout or a
            // broken response, pause.
            d.p2p_not_before = (error != DownloadError::Absent).then(|| now + P2P_RETRY_DELAY);
            if error != DownloadError::Aborted {
                let peer = self.remote_of(stream, conn);
                self.emit(Event::SegmentError {
                    stream_type: t,
                    segment,
                    source: Source::P2p,
                    peer,
                    reason: format!("{error:?}"),
                });
            }
        }
    }

    /// A segment's bytes are all here: store, announce, answer the player.
    pub(super) fn complete(&mut self, t: StreamType, stream: StreamId, id: i64) {
        self.reschedule = true;
        let Some(d) = self.loaders.get_mut(t).downloads.remove(&(stream, id)) else {
            return;
        };
        self.relay_dirty.insert(stream);
        let data = d.joined.finish();
        let size = data.len() as u64;
        if d.total.is_some_and(|total| total != size) || size != d.received {
            // Pieces that do not add up are never stored or served.
            self.emit(Event::SegmentError {
                stream_type: t,
                segment: id,
                source: Source::Http,
                peer: None,
                reason: format!("assembled {size} bytes, expected {:?}", d.total),
            });
            return;
        }
        let Some(s) = self.streams.get(&stream) else {
            return;
        };
        let key = s.key.clone();
        let (start, end) = s
            .segment(id)
            .map(|seg| (seg.start, seg.end))
            .or(d.guessed)
            .unwrap_or((0.0, 0.0));
        let timing = SegmentTiming {
            start,
            end,
            stream_type: t,
        };
        let loader = self.loaders.get_mut(t);
        #[expect(clippy::cast_precision_loss, reason = "an average")]
        let sz = size as f64;
        loader.mean_size = Some(loader.mean_size.map_or(sz, |m| 0.9 * m + 0.1 * sz));
        let changed = self.storage.store(&key, id, data.clone(), timing);
        self.mark_dirty(&changed);
        self.emit(Event::SegmentLoaded {
            stream_type: t,
            segment: id,
            bytes: size,
            http_bytes: d.http_bytes,
            peer: d.last_peer,
        });
        let player = self.loaders.get(t).player;
        if player.is_some_and(|p| p.stream == stream && p.segment == id) {
            self.resolve_player(t, data);
        }
    }
}
