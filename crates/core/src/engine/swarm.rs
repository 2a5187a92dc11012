//! Swarms (one per stream being played or lingering), their tracker
//! announcers and peer connections.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use p2pml_proto::command::{
    Announcement, Extension, MAX_BLOCKS, MAX_ENTRIES_PER_BLOCK, PeerCommand,
};
use p2pml_proto::identity::{InfoHash, OfferId, PeerId, StreamType};
use p2pml_proto::tracker::TrackerMessage;

use super::io::{Event, Output, Source, TrackerId};
use super::loader::{ANNOUNCEMENT_WAIT, Attempt, rendezvous_key};
use super::{Engine, TYPES};
use crate::bandwidth::BandwidthCalculator;
use crate::payload::Payload;
use crate::peer::{CloseReason, PeerConnection, PeerEvent};
use crate::storage::{SegmentStorage, StreamKey};
use crate::streams::StreamId;
use crate::time::Instant;
use crate::tracker::{
    Announcer, AnnouncerOutput, Backoff, ConnId, info_hash_of, keep_link_offered_by,
};

/// A connection that is not open this long after it was created is dropped
/// (an answer that never came back, ICE that never completed).
const SETUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A tracker socket, shared by all swarms.
#[derive(Debug)]
pub(crate) struct TrackerSocket {
    url: String,
    state: SocketState,
    backoff: Backoff,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SocketState {
    Idle,
    Connecting,
    Open,
    Waiting(Instant),
}

impl TrackerSocket {
    pub(crate) fn new(url: String) -> Self {
        Self {
            url,
            state: SocketState::Idle,
            backoff: Backoff::default(),
        }
    }
}

#[derive(Debug)]
pub(crate) enum ConnState<P> {
    /// Our offer is out; waiting for an answer.
    Offering,
    /// Answering a remote offer.
    Answering { offer_id: OfferId },
    /// Signalling done; waiting for the channel.
    Connecting,
    /// The channel is open.
    Open(Box<PeerConnection<P>>),
}

#[derive(Debug)]
pub(crate) struct Conn<P> {
    pub(crate) created: Instant,
    /// When the data channel opened.
    pub(crate) opened: Option<Instant>,
    pub(crate) remote: Option<PeerId>,
    pub(crate) we_offered: bool,
    pub(crate) tracker: TrackerId,
    pub(crate) state: ConnState<P>,
    pub(crate) bandwidth: BandwidthCalculator,
    /// The remote's rendezvous key in this swarm, once the remote is known
    /// (see [`super::loader::rendezvous_key`]).
    pub(crate) rendezvous_key: u64,
    /// Its deadline as entered in [`Swarm::timeouts`].
    timeout: Option<Instant>,
}

impl<P> Conn<P> {
    fn new(created: Instant, we_offered: bool, tracker: TrackerId, state: ConnState<P>) -> Self {
        Self {
            created,
            opened: None,
            remote: None,
            we_offered,
            tracker,
            state,
            bandwidth: BandwidthCalculator::default(),
            rendezvous_key: 0,
            timeout: None,
        }
    }

    fn set_remote(&mut self, remote: PeerId, info_hash: &InfoHash) {
        self.remote = Some(remote);
        self.rendezvous_key = rendezvous_key(&remote, info_hash);
    }

    pub(crate) fn open(&self) -> Option<&PeerConnection<P>> {
        match &self.state {
            ConnState::Open(p) => Some(p),
            _ => None,
        }
    }
}

impl<P: Payload> Conn<P> {
    /// When the engine must look at this connection: its download's
    /// no-bytes deadline once open, its setup deadline before.
    fn due(&self) -> Option<Instant> {
        match &self.state {
            ConnState::Open(p) => p.poll_timeout(),
            ConnState::Answering { .. } | ConnState::Connecting => {
                Some(self.created + SETUP_TIMEOUT)
            }
            ConnState::Offering => None,
        }
    }
}

/// One stream's swarm.
#[derive(Debug)]
pub(crate) struct Swarm<P> {
    pub(crate) stream_type: StreamType,
    pub(crate) key: StreamKey,
    pub(crate) info_hash: InfoHash,
    pub(crate) peer_id: PeerId,
    /// Our rendezvous key in this swarm.
    pub(crate) rendezvous_key: u64,
    announcers: Vec<(TrackerId, Announcer)>,
    pub(crate) conns: BTreeMap<ConnId, Conn<P>>,
    /// Every connection's deadline, soonest first. The engine's deadline is
    /// asked for after every input; walking each connection (and the
    /// protocol state behind it) for it cost more than most inputs.
    timeouts: BTreeSet<(Instant, ConnId)>,
    /// Set while the swarm is no longer played but still serves.
    linger_until: Option<Instant>,
    /// The relaying ids our peers were last told.
    relaying_sent: Vec<i64>,
}

impl<P: Payload> Swarm<P> {
    fn insert_conn(&mut self, conn: ConnId, c: Conn<P>) {
        if let Some(old) = self.conns.insert(conn, c) {
            if let Some(at) = old.timeout {
                self.timeouts.remove(&(at, conn));
            }
        }
        self.refresh_timeout(conn);
    }

    fn remove_conn(&mut self, conn: ConnId) -> Option<Conn<P>> {
        let c = self.conns.remove(&conn)?;
        if let Some(at) = c.timeout {
            self.timeouts.remove(&(at, conn));
        }
        Some(c)
    }

    /// Re-enters a connection's deadline after its state may have changed.
    fn refresh_timeout(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let due = c.due();
        if due != c.timeout {
            if let Some(at) = c.timeout {
                self.timeouts.remove(&(at, conn));
            }
            if let Some(at) = due {
                self.timeouts.insert((at, conn));
            }
            c.timeout = due;
        }
    }

    /// The soonest deadline of a connection.
    fn conns_deadline(&self) -> Option<Instant> {
        let soonest = self.timeouts.first().map(|(at, _)| *at);
        debug_assert_eq!(
            soonest,
            self.conns.values().filter_map(Conn::due).min(),
            "a connection changed without refresh_timeout"
        );
        soonest
    }

    pub(crate) fn open_count(&self) -> usize {
        self.conns.values().filter(|c| c.open().is_some()).count()
    }

    /// When the last of the open peers that have not announced yet will
    /// have had `wait` to do so since its channel opened; `None` when none
    /// is still expected to.
    pub(crate) fn announcements_due(&self, now: Instant, wait: Duration) -> Option<Instant> {
        self.conns
            .values()
            .filter(|c| c.open().is_some_and(|p| !p.has_announced()))
            .filter_map(|c| c.opened.map(|at| at + wait))
            .filter(|due| *due > now)
            .max()
    }

    /// Open peers, with their connection ids.
    pub(crate) fn open_peers(&self) -> impl Iterator<Item = (ConnId, &PeerConnection<P>)> {
        self.conns
            .iter()
            .filter_map(|(id, c)| c.open().map(|p| (*id, p)))
    }

    fn has_remote(&self, remote: &PeerId) -> bool {
        self.conns
            .values()
            .any(|c| c.remote.as_ref() == Some(remote))
    }
}

/// Keeps an id list within 255 blocks of 255 entries: the ids nearest
/// `center` (rarely needed: only huge or scattered VOD stores).
fn fit_blocks(mut ids: Vec<i64>, center: i64) -> Vec<i64> {
    let blocks = |ids: &[i64]| {
        let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
        ids.iter()
            .for_each(|id| *counts.entry(id & !0xff).or_default() += 1);
        counts
            .values()
            .map(|n| n.div_ceil(MAX_ENTRIES_PER_BLOCK))
            .sum::<usize>()
    };
    if blocks(&ids) <= MAX_BLOCKS {
        return ids;
    }
    ids.sort_by_key(|id| id.abs_diff(center));
    let mut lo = 0;
    let mut hi = ids.len();
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if blocks(ids.get(..mid).unwrap_or_default()) <= MAX_BLOCKS {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    ids.truncate(lo);
    ids.sort_unstable();
    ids
}

impl<P: Payload, S: SegmentStorage<P>> Engine<P, S> {
    /// Makes `stream` the active swarm of its type, creating it if needed;
    /// the previous one lingers (or goes at once if it stores nothing).
    pub(crate) fn activate_swarm(&mut self, now: Instant, stream: StreamId) {
        let Some(s) = self.streams.get(&stream) else {
            return;
        };
        let (t, key, info_hash) = (s.stream_type, s.key.clone(), s.info_hash);
        let previous = self.loaders.get(t).active;
        if previous == Some(stream) && self.swarms.contains_key(&stream) {
            return;
        }
        if let Some(old) = previous.filter(|o| *o != stream) {
            let linger = self.stream_config(t).inactive_swarm_linger;
            let stores = self
                .swarms
                .get(&old)
                .is_some_and(|sw| !self.storage.stored_ids(&sw.key).is_empty());
            match self.swarms.get_mut(&old) {
                Some(sw) if stores => sw.linger_until = Some(now + linger),
                Some(_) => self.destroy_swarm(old),
                None => {}
            }
        }
        self.loaders.get_mut(t).active = Some(stream);
        if let Some(sw) = self.swarms.get_mut(&stream) {
            sw.linger_until = None;
            return;
        }
        if self.config.main.p2p_disabled && t == StreamType::Main
            || self.config.secondary.p2p_disabled && t == StreamType::Secondary
        {
            return;
        }
        let prefix = self.config.common.peer_id_prefix.clone();
        let rng = &mut self.rng;
        let peer_id = *self
            .peer_ids
            .entry(info_hash)
            .or_insert_with(|| PeerId::generate(&prefix, rng).unwrap_or(PeerId([b'0'; 20])));
        let announcers = (0..self.trackers.len())
            .map(|t| {
                (
                    t,
                    Announcer::new(self.config.announcer.clone(), info_hash, peer_id),
                )
            })
            .collect();
        self.swarms.insert(
            stream,
            Swarm {
                stream_type: t,
                key,
                info_hash,
                peer_id,
                rendezvous_key: rendezvous_key(&peer_id, &info_hash),
                announcers,
                conns: BTreeMap::new(),
                timeouts: BTreeSet::new(),
                linger_until: None,
                relaying_sent: Vec::new(),
            },
        );
        for tracker in 0..self.trackers.len() {
            self.ensure_tracker(now, tracker);
            if self
                .trackers
                .get(tracker)
                .is_some_and(|s| s.state == SocketState::Open)
            {
                let wanted = self.wanted_offers(stream);
                if let Some(a) = self.announcer_mut(stream, tracker) {
                    a.connected(now, wanted);
                }
            }
        }
        self.pump_announcers(now, stream);
    }

    pub(super) fn destroy_swarm(&mut self, stream: StreamId) {
        let Some(mut sw) = self.swarms.remove(&stream) else {
            return;
        };
        for (tracker, a) in &mut sw.announcers {
            a.stop();
            while let Some(o) = a.poll_output() {
                if let AnnouncerOutput::Send(m) = o {
                    self.out.push_back(Output::TrackerSend {
                        tracker: *tracker,
                        text: m.to_json(),
                    });
                }
            }
        }
        for (conn, c) in sw.conns {
            self.conns.remove(&conn);
            self.out.push_back(Output::Close { conn });
            if let (Some(peer), Some(_)) = (c.remote, c.open()) {
                self.emit(Event::PeerClose {
                    peer,
                    stream_type: sw.stream_type,
                });
            }
        }
        for t in TYPES {
            let loader = self.loaders.get_mut(t);
            if loader.active == Some(stream) {
                loader.active = None;
            }
        }
    }

    fn ensure_tracker(&mut self, now: Instant, tracker: TrackerId) {
        if let Some(sock) = self.trackers.get_mut(tracker) {
            let due = match sock.state {
                SocketState::Idle => true,
                SocketState::Waiting(at) => now >= at,
                _ => false,
            };
            if due {
                sock.state = SocketState::Connecting;
                self.out.push_back(Output::TrackerConnect {
                    tracker,
                    url: sock.url.clone(),
                });
            }
        }
    }

    fn announcer_mut(&mut self, stream: StreamId, tracker: TrackerId) -> Option<&mut Announcer> {
        self.swarms
            .get_mut(&stream)?
            .announcers
            .iter_mut()
            .find(|(t, _)| *t == tracker)
            .map(|(_, a)| a)
    }

    /// How many more connections a swarm wants (none while lingering).
    fn wanted_offers(&self, stream: StreamId) -> usize {
        self.swarms.get(&stream).map_or(0, |sw| {
            if sw.linger_until.is_some() {
                0
            } else {
                self.config
                    .common
                    .max_peers_per_swarm
                    .saturating_sub(sw.conns.len())
            }
        })
    }

    pub(crate) fn tracker_opened(&mut self, now: Instant, tracker: TrackerId) {
        if let Some(sock) = self.trackers.get_mut(tracker) {
            sock.state = SocketState::Open;
            sock.backoff.succeeded();
        }
        let streams: Vec<StreamId> = self.swarms.keys().copied().collect();
        for stream in streams {
            let wanted = self.wanted_offers(stream);
            if let Some(a) = self.announcer_mut(stream, tracker) {
                a.connected(now, wanted);
            }
            self.pump_announcers(now, stream);
        }
    }

    pub(crate) fn tracker_closed(&mut self, now: Instant, tracker: TrackerId) {
        let rng = &mut self.rng;
        if let Some(sock) = self.trackers.get_mut(tracker) {
            sock.state = SocketState::Waiting(sock.backoff.failed(now, rng));
            let message = format!("connection to {} closed", sock.url);
            self.emit(Event::TrackerError {
                stream_type: None,
                message,
            });
        }
        for sw in self.swarms.values_mut() {
            for (_, a) in sw.announcers.iter_mut().filter(|(t, _)| *t == tracker) {
                a.disconnected();
            }
        }
    }

    pub(crate) fn tracker_message(&mut self, now: Instant, tracker: TrackerId, text: &str) {
        let message = match TrackerMessage::parse(text) {
            Ok(m) => m,
            Err(e) => {
                self.emit(Event::TrackerError {
                    stream_type: None,
                    message: format!("unreadable tracker message: {e}"),
                });
                return;
            }
        };
        let Some(info_hash) = info_hash_of(&message) else {
            if let TrackerMessage::Failure(f) = message {
                self.emit(Event::TrackerError {
                    stream_type: None,
                    message: f.reason,
                });
            }
            return;
        };
        let Some(stream) = self
            .swarms
            .iter()
            .find(|(_, sw)| sw.info_hash == info_hash)
            .map(|(id, _)| *id)
        else {
            return;
        };
        let cap = self.config.common.max_peers_per_swarm;
        if let Some(sw) = self.swarms.get_mut(&stream) {
            let (lingering, count) = (sw.linger_until.is_some(), sw.conns.len());
            let known: Vec<PeerId> = sw.conns.values().filter_map(|c| c.remote).collect();
            if let Some((_, a)) = sw.announcers.iter_mut().find(|(t, _)| *t == tracker) {
                a.handle_message(now, message, |remote| {
                    !lingering && count < cap && !known.contains(remote)
                });
            }
        }
        self.pump_announcers(now, stream);
    }

    /// Performs what a swarm's announcers asked for.
    pub(crate) fn pump_announcers(&mut self, now: Instant, stream: StreamId) {
        let Some(sw) = self.swarms.get_mut(&stream) else {
            return;
        };
        let mut outputs = Vec::new();
        for (tracker, a) in &mut sw.announcers {
            while let Some(o) = a.poll_output() {
                outputs.push((*tracker, o));
            }
        }
        for (tracker, o) in outputs {
            match o {
                AnnouncerOutput::Send(m) => self.out.push_back(Output::TrackerSend {
                    tracker,
                    text: m.to_json(),
                }),
                AnnouncerOutput::CreateOffers { count } => {
                    for _ in 0..count {
                        let conn = self.new_id();
                        self.add_conn(
                            stream,
                            conn,
                            Conn::new(now, true, tracker, ConnState::Offering),
                        );
                        self.out.push_back(Output::CreateOffer { conn });
                    }
                }
                AnnouncerOutput::CreateAnswer {
                    remote,
                    offer_id,
                    offer,
                } => {
                    let conn = self.new_id();
                    let state = ConnState::Answering { offer_id };
                    let mut c = Conn::new(now, false, tracker, state);
                    if let Some(sw) = self.swarms.get(&stream) {
                        c.set_remote(remote, &sw.info_hash);
                    }
                    self.add_conn(stream, conn, c);
                    self.out.push_back(Output::CreateAnswer { conn, offer });
                }
                AnnouncerOutput::AcceptAnswer {
                    conn,
                    remote,
                    answer,
                } => {
                    let duplicate = self
                        .swarms
                        .get(&stream)
                        .is_some_and(|sw| sw.has_remote(&remote));
                    let info_hash = self.swarms.get(&stream).map(|sw| sw.info_hash);
                    let accepted = self.conn_mut(stream, conn).is_some_and(|c| {
                        if duplicate || !matches!(c.state, ConnState::Offering) {
                            return false;
                        }
                        if let Some(info_hash) = &info_hash {
                            c.set_remote(remote, info_hash);
                        }
                        c.state = ConnState::Connecting;
                        true
                    });
                    if let Some(sw) = self.swarms.get_mut(&stream) {
                        sw.refresh_timeout(conn);
                    }
                    if accepted {
                        self.out.push_back(Output::AcceptAnswer { conn, answer });
                    } else {
                        self.drop_conn(now, stream, conn);
                    }
                }
                AnnouncerOutput::DropOffer { conn } => {
                    let offering = self
                        .swarms
                        .get(&stream)
                        .and_then(|sw| sw.conns.get(&conn))
                        .is_some_and(|c| matches!(c.state, ConnState::Offering));
                    if offering {
                        self.drop_conn(now, stream, conn);
                    }
                }
                AnnouncerOutput::Warning(message) => self.emit(Event::TrackerWarning {
                    stream_type: self.swarms.get(&stream).map(|sw| sw.stream_type),
                    message,
                }),
                AnnouncerOutput::Error(message) => self.emit(Event::TrackerError {
                    stream_type: self.swarms.get(&stream).map(|sw| sw.stream_type),
                    message,
                }),
            }
        }
    }

    fn add_conn(&mut self, stream: StreamId, conn: ConnId, c: Conn<P>) {
        if let Some(sw) = self.swarms.get_mut(&stream) {
            sw.insert_conn(conn, c);
            self.conns.insert(conn, stream);
        }
    }

    /// Closes a connection and forgets it; a download from it fails.
    pub(crate) fn drop_conn(&mut self, now: Instant, stream: StreamId, conn: ConnId) {
        self.reschedule = true;
        self.conns.remove(&conn);
        let Some(sw) = self.swarms.get_mut(&stream) else {
            return;
        };
        let stream_type = sw.stream_type;
        let Some(mut c) = sw.remove_conn(conn) else {
            return;
        };
        self.out.push_back(Output::Close { conn });
        if let ConnState::Open(peer) = &mut c.state {
            peer.handle_closed();
            let events: Vec<PeerEvent<P>> = std::iter::from_fn(|| peer.poll_event()).collect();
            for e in events {
                self.peer_event(now, stream, conn, e);
            }
            if let Some(peer) = c.remote {
                self.emit(Event::PeerClose { peer, stream_type });
            }
        }
    }

    pub(crate) fn offer_created(&mut self, now: Instant, conn: ConnId, sdp: String) {
        let Some(&stream) = self.conns.get(&conn) else {
            self.out.push_back(Output::Close { conn });
            return;
        };
        let tracker = self
            .swarms
            .get(&stream)
            .and_then(|sw| sw.conns.get(&conn))
            .map(|c| c.tracker);
        if let Some(tracker) = tracker {
            let rng = &mut self.rng;
            if let Some((_, a)) = self
                .swarms
                .get_mut(&stream)
                .and_then(|sw| sw.announcers.iter_mut().find(|(t, _)| *t == tracker))
            {
                a.offer_created(now, conn, sdp, rng);
            }
        }
        self.pump_announcers(now, stream);
    }

    pub(crate) fn answer_created(&mut self, now: Instant, conn: ConnId, sdp: String) {
        let Some(&stream) = self.conns.get(&conn) else {
            self.out.push_back(Output::Close { conn });
            return;
        };
        let Some(sw) = self.swarms.get_mut(&stream) else {
            return;
        };
        let Some(c) = sw.conns.get_mut(&conn) else {
            return;
        };
        if let (ConnState::Answering { offer_id }, Some(remote)) = (&c.state, c.remote) {
            let (offer_id, tracker) = (*offer_id, c.tracker);
            c.state = ConnState::Connecting;
            sw.refresh_timeout(conn);
            if let Some((_, a)) = sw.announcers.iter_mut().find(|(t, _)| *t == tracker) {
                a.answer_created(remote, offer_id, sdp);
            }
        }
        self.pump_announcers(now, stream);
    }

    pub(crate) fn channel_open(&mut self, now: Instant, conn: ConnId) {
        self.reschedule = true;
        let Some(&stream) = self.conns.get(&conn) else {
            self.out.push_back(Output::Close { conn });
            return;
        };
        let first_request_id = i64::from(self.rng_u32() % 1000);
        let Some(t) = self.swarms.get(&stream).map(|sw| sw.stream_type) else {
            return;
        };
        let peer_config = self.peer_config(t);
        let Some(sw) = self.swarms.get_mut(&stream) else {
            return;
        };
        let me = sw.peer_id;
        let Some(c) = sw.conns.get(&conn) else {
            return;
        };
        let Some(remote) = c.remote else {
            return;
        };
        if c.open().is_some() {
            // A second open event: the peer and its state stay.
            return;
        }
        // Two links to one peer: both sides keep the one offered by the lower id.
        let offerer = |c: &Conn<P>| if c.we_offered { me } else { remote };
        let this_offerer = offerer(c);
        let other = sw
            .conns
            .iter()
            .find(|(id, o)| **id != conn && o.remote == Some(remote) && o.open().is_some())
            .map(|(id, o)| (*id, offerer(o)));
        if let Some((other_id, other_offerer)) = other {
            let loser = if keep_link_offered_by(&this_offerer, &other_offerer) {
                other_id
            } else {
                conn
            };
            self.drop_conn(now, stream, loser);
            if loser == conn {
                return;
            }
        }
        let stream_type = self.swarms.get(&stream).map(|sw| sw.stream_type);
        if let Some(c) = self.conn_mut(stream, conn) {
            c.state = ConnState::Open(Box::new(PeerConnection::new(peer_config, first_request_id)));
            c.opened = Some(now);
        }
        if let Some(sw) = self.swarms.get_mut(&stream) {
            sw.refresh_timeout(conn);
        }
        if let Some(stream_type) = stream_type {
            self.emit(Event::PeerConnect {
                peer: remote,
                stream_type,
            });
        }
        let announcement = self.announcement(stream);
        let relay = self.config.common.relay;
        self.with_conn(now, conn, |p, _| {
            if let Some(a) = announcement {
                p.announce(a);
            }
            if relay {
                p.hello();
            }
        });
    }

    /// A message on a connection that signalled but has not reported its
    /// channel open: the channel is open (webrtc-rs can deliver an answering
    /// side's first messages before its open event), so it opens now and
    /// the message, often the remote's announcement, is not lost.
    pub(crate) fn open_on_message(&mut self, now: Instant, conn: ConnId) {
        let Some(&stream) = self.conns.get(&conn) else {
            return;
        };
        let connecting = self
            .swarms
            .get(&stream)
            .and_then(|sw| sw.conns.get(&conn))
            .is_some_and(|c| matches!(c.state, ConnState::Connecting));
        if connecting {
            self.channel_open(now, conn);
        }
    }

    pub(crate) fn channel_closed(&mut self, now: Instant, conn: ConnId) {
        if let Some(&stream) = self.conns.get(&conn) {
            self.drop_conn(now, stream, conn);
        }
    }

    fn rng_u32(&mut self) -> u32 {
        rand_core::Rng::next_u32(&mut self.rng)
    }

    /// The remote peer of connection `conn`, once known.
    pub(crate) fn remote_of(&self, stream: StreamId, conn: ConnId) -> Option<PeerId> {
        self.swarms.get(&stream)?.conns.get(&conn)?.remote
    }

    /// Connection `conn` of the swarm of `stream`.
    pub(crate) fn conn_mut(&mut self, stream: StreamId, conn: ConnId) -> Option<&mut Conn<P>> {
        self.swarms.get_mut(&stream)?.conns.get_mut(&conn)
    }

    /// Runs `f` on an open connection, then performs what it produced.
    pub(crate) fn with_conn(
        &mut self,
        now: Instant,
        conn: ConnId,
        f: impl FnOnce(&mut PeerConnection<P>, Instant),
    ) {
        let Some(&stream) = self.conns.get(&conn) else {
            return;
        };
        let Some(c) = self.conn_mut(stream, conn) else {
            return;
        };
        let ConnState::Open(peer) = &mut c.state else {
            return;
        };
        f(peer, now);
        self.pump_conn(now, stream, conn);
    }

    /// Sends what a connection queued and handles its events.
    pub(crate) fn pump_conn(&mut self, now: Instant, stream: StreamId, conn: ConnId) {
        self.pump_conn_events(now, stream, conn);
        // Every change to a connection's download goes through here.
        if let Some(sw) = self.swarms.get_mut(&stream) {
            sw.refresh_timeout(conn);
        }
    }

    fn pump_conn_events(&mut self, now: Instant, stream: StreamId, conn: ConnId) {
        loop {
            let Some(c) = self
                .swarms
                .get_mut(&stream)
                .and_then(|sw| sw.conns.get_mut(&conn))
            else {
                return;
            };
            let ConnState::Open(peer) = &mut c.state else {
                return;
            };
            let mut progressed = false;
            while let Some(data) = peer.poll_transmit() {
                self.out.push_back(Output::Send { conn, data });
                progressed = true;
            }
            if peer.poll_buffered_query() {
                self.out.push_back(Output::QueryBuffered { conn });
            }
            let event = peer.poll_event();
            match event {
                Some(e) => self.peer_event(now, stream, conn, e),
                None if !progressed => return,
                None => {}
            }
        }
    }

    fn peer_event(&mut self, now: Instant, stream: StreamId, conn: ConnId, event: PeerEvent<P>) {
        match event {
            PeerEvent::Announced => {
                // A new peer's first announcements end the wait of seeding
                // for them (`announcements_due`), whatever they hold.
                let matters = self
                    .swarms
                    .get(&stream)
                    .and_then(|sw| sw.conns.get(&conn))
                    .is_some_and(|c| match &c.state {
                        ConnState::Open(peer) => {
                            c.opened.is_some_and(|at| now < at + ANNOUNCEMENT_WAIT)
                                || self.announcement_matters(stream, peer)
                        }
                        _ => false,
                    });
                self.reschedule |= matters;
            }
            PeerEvent::UploadRequested {
                segment_id,
                request_id,
                byte_from,
            } => {
                // Upload slots: beyond them, Absent at once, so the requester
                // asks another holder instead of waiting behind a full uplink.
                let uploading: usize = self
                    .swarms
                    .values()
                    .map(|sw| sw.open_peers().filter(|(_, p)| p.is_uploading()).count())
                    .sum();
                let mut full = uploading >= self.config.common.max_concurrent_uploads;
                if full {
                    full = !self.preempt_for_rare(now, stream, conn, segment_id);
                }
                let Some(sw) = self.swarms.get(&stream) else {
                    return;
                };
                let t = sw.stream_type;
                let allowed = !full && !self.stream_config(t).p2p_upload_disabled;
                let data = allowed
                    .then(|| self.storage.get(&sw.key, segment_id))
                    .flatten();
                // Not stored yet: one of ours may stream it while it arrives.
                let ours = self.config.common.relay
                    && sw.open_peers().any(|(id, p)| id == conn && p.is_ours());
                let relay = (allowed && data.is_none() && ours)
                    .then(|| self.loaders.get(t).downloads.get(&(stream, segment_id)))
                    .flatten()
                    .filter(|d| {
                        d.relayable()
                            && d.attempt != (Attempt::P2p { conn })
                            && byte_from <= d.received
                    })
                    .and_then(|d| Some((d.total?, d.bytes_from(byte_from))));
                if let Some(c) = self.conn_mut(stream, conn) {
                    if let ConnState::Open(peer) = &mut c.state {
                        match relay {
                            Some((total, have)) => {
                                peer.serve_relay(segment_id, request_id, byte_from, total, have);
                            }
                            None => peer.serve(segment_id, request_id, byte_from, data),
                        }
                    }
                }
            }
            PeerEvent::Hello if !self.config.common.relay => {}
            PeerEvent::Hello => {
                self.reschedule = true;
                let ids = self.relaying_ids(stream);
                if let Some(c) = self.conn_mut(stream, conn) {
                    if let ConnState::Open(peer) = &mut c.state {
                        peer.announce_relaying(&ids);
                    }
                }
            }
            PeerEvent::Downloaded {
                segment_id,
                data,
                total,
            } => {
                let bytes = data.len() as u64;
                self.p2p_bytes(now, stream, conn, segment_id, data, total);
                if let Some(c) = self.conn_mut(stream, conn) {
                    c.bandwidth.add_bytes(now, bytes);
                }
                self.bw_all.add_bytes(now, bytes);
                let peer = self.remote_of(stream, conn);
                self.emit(Event::ChunkDownloaded {
                    bytes,
                    source: Source::P2p,
                    peer,
                });
            }
            PeerEvent::DownloadCompleted { segment_id, bytes } => {
                self.p2p_completed(now, stream, conn, segment_id, bytes)
            }
            PeerEvent::DownloadFailed {
                segment_id,
                error,
                partial,
            } => self.p2p_failed(now, stream, conn, segment_id, error, partial),
            PeerEvent::Uploaded { bytes } => {
                let peer = self.remote_of(stream, conn);
                self.emit(Event::ChunkUploaded {
                    bytes: bytes as u64,
                    peer,
                });
            }
            PeerEvent::Malformed(e) => self.peer_error(stream, conn, e.to_string()),
            PeerEvent::Close(reason) => {
                let reason = match reason {
                    CloseReason::TooManyTimeouts => "too many timeouts".to_owned(),
                    CloseReason::ProtocolViolation(e) => format!("protocol violation: {e:?}"),
                };
                self.peer_error(stream, conn, reason);
                self.drop_conn(now, stream, conn);
            }
        }
    }

    fn peer_error(&mut self, stream: StreamId, conn: ConnId, reason: String) {
        if let Some(sw) = self.swarms.get(&stream) {
            let peer = sw.conns.get(&conn).and_then(|c| c.remote);
            let stream_type = sw.stream_type;
            self.emit(Event::PeerError {
                peer,
                stream_type,
                reason,
            });
        }
    }

    /// This swarm's announcement: what we store, and what we fetch over HTTP.
    fn announcement(&self, stream: StreamId) -> Option<Announcement> {
        let sw = self.swarms.get(&stream)?;
        if self.stream_config(sw.stream_type).p2p_upload_disabled {
            return None;
        }
        let center = self
            .loaders
            .get(sw.stream_type)
            .last_requested
            .map_or(0, |(_, id)| id);
        let loaded = fit_blocks(self.storage.stored_ids(&sw.key), center);
        let http_loading = fit_blocks(
            self.loaders.get(sw.stream_type).http_loading(stream),
            center,
        );
        Some(Announcement {
            loaded,
            http_loading,
        })
    }

    /// Segments of `stream` we can stream to our peers while they arrive.
    fn relaying_ids(&self, stream: StreamId) -> Vec<i64> {
        self.swarms
            .get(&stream)
            .map(|sw| self.loaders.get(sw.stream_type).relaying(stream))
            .unwrap_or_default()
    }

    /// Upload slots are full and `conn` asks for `segment`: if no other peer
    /// of ours can give it (nobody else holds or relays it, as when we just
    /// seeded it), frees a slot by giving up an upload to one of our peers
    /// of a segment another peer holds; that peer resumes it there. A
    /// segment only we hold is worth more of our uplink than one the swarm
    /// already has. Returns whether a slot was freed.
    fn preempt_for_rare(
        &mut self,
        now: Instant,
        stream: StreamId,
        conn: ConnId,
        segment: i64,
    ) -> bool {
        let Some(sw) = self.swarms.get(&stream) else {
            return false;
        };
        let elsewhere = |except: ConnId, id: i64| {
            sw.open_peers()
                .any(|(c, p)| c != except && (p.has(id) || p.relays(id)))
        };
        if elsewhere(conn, segment) {
            return false;
        }
        let victim = sw.open_peers().find_map(|(c, p)| {
            let id = p.uploading()?;
            (c != conn && p.is_ours() && id != segment && elsewhere(c, id)).then_some(c)
        });
        let Some(victim) = victim else {
            return false;
        };
        let mut freed = false;
        self.with_conn(now, victim, |p, _| freed = p.preempt_upload());
        freed
    }

    /// Tells our peers in the swarm of `stream` that our live playlist now
    /// lists `id` (the `Listed` extension; JS peers are not sent it).
    /// Only coordinated seeding reads it.
    pub(crate) fn announce_listed(&mut self, now: Instant, stream: StreamId, id: i64) {
        if self.config.common.seeding != crate::config::Seeding::Coordinated {
            return;
        }
        let ours: Vec<ConnId> = self
            .swarms
            .get(&stream)
            .map(|sw| {
                sw.open_peers()
                    .filter(|(_, p)| p.is_ours())
                    .map(|(c, _)| c)
                    .collect()
            })
            .unwrap_or_default();
        for conn in ours {
            self.with_conn(now, conn, |p, _| p.announce_listed(id));
        }
    }

    /// Passes bytes of segment `id` on to the relayed uploads waiting for them.
    pub(crate) fn relay_chunk(&mut self, now: Instant, stream: StreamId, id: i64, data: &P) {
        let Some(sw) = self.swarms.get(&stream) else {
            return;
        };
        let waiting: Vec<ConnId> = sw
            .open_peers()
            .filter(|(_, p)| p.relay_waiting() == Some(id))
            .map(|(conn, _)| conn)
            .collect();
        for conn in waiting {
            // Pumped at once: the bytes go out now, not with the next
            // message that happens to touch this connection.
            self.with_conn(now, conn, |p, _| p.extend_upload(id, data.clone()));
        }
    }

    /// Ends relayed uploads of `stream` whose source download stopped (or
    /// lost its bytes); the requesters resume elsewhere.
    fn sweep_relays(&mut self, stream: StreamId, force: Option<i64>) {
        let Some(sw) = self.swarms.get_mut(&stream) else {
            return;
        };
        let loader = self.loaders.get(sw.stream_type);
        for c in sw.conns.values_mut() {
            if let ConnState::Open(peer) = &mut c.state {
                if let Some(id) = peer.relay_waiting() {
                    let alive = loader
                        .downloads
                        .get(&(stream, id))
                        .is_some_and(|d| d.attempt != Attempt::Idle);
                    if !alive || force == Some(id) {
                        peer.relay_failed(id);
                    }
                }
            }
        }
    }

    /// The bytes of `(stream, id)` were dropped: relays of it cannot go on.
    pub(crate) fn relays_lost(&mut self, stream: StreamId, id: i64) {
        self.sweep_relays(stream, Some(id));
        self.relay_dirty.insert(stream);
    }

    /// Marks the swarms of `keys` for a fresh announcement.
    pub(crate) fn mark_dirty(&mut self, keys: &[StreamKey]) {
        let ids: Vec<StreamId> = self
            .swarms
            .iter()
            .filter(|(_, sw)| keys.contains(&sw.key))
            .map(|(id, _)| *id)
            .collect();
        self.dirty.extend(ids);
    }

    /// Sends one coalesced announcement to every open peer of each changed swarm.
    pub(crate) fn flush_announcements(&mut self, now: Instant) {
        // Runs after every input, and most change nothing to announce.
        if self.dirty.is_empty() && self.relay_dirty.is_empty() {
            return;
        }
        let dirty: Vec<StreamId> = std::mem::take(&mut self.dirty).into_iter().collect();
        let relay_dirty: Vec<StreamId> =
            std::mem::take(&mut self.relay_dirty).into_iter().collect();
        for stream in dirty {
            let Some(a) = self.announcement(stream) else {
                continue;
            };
            // Encoded once for the whole swarm: every peer gets the same bytes.
            let Some(t) = self.swarms.get(&stream).map(|sw| sw.stream_type) else {
                continue;
            };
            let max = self.stream_config(t).max_message_size;
            let Ok(parts) = PeerCommand::SegmentsAnnouncement(a).encode(max) else {
                continue;
            };
            let parts: Vec<P> = parts.into_iter().map(P::from_command).collect();
            let conns: Vec<ConnId> = self
                .swarms
                .get(&stream)
                .map(|sw| sw.open_peers().map(|(id, _)| id).collect())
                .unwrap_or_default();
            for conn in conns {
                self.with_conn(now, conn, |p, _| p.send_encoded(&parts));
            }
        }
        for stream in relay_dirty {
            self.sweep_relays(stream, None);
            let ids = self.relaying_ids(stream);
            let Some(sw) = self.swarms.get_mut(&stream) else {
                continue;
            };
            // A download that completed leaves the list, but its segment is
            // now announced as loaded, which peers look at first: no need to
            // tell them. Only a new relayable download, or one that stopped
            // without its segment, is news.
            let storage = &self.storage;
            let news = ids.iter().any(|id| !sw.relaying_sent.contains(id))
                || sw
                    .relaying_sent
                    .iter()
                    .any(|id| !ids.contains(id) && !storage.has(&sw.key, *id));
            if !news {
                continue;
            }
            sw.relaying_sent.clone_from(&ids);
            let conns: Vec<ConnId> = sw
                .open_peers()
                .filter(|(_, p)| p.is_ours())
                .map(|(id, _)| id)
                .collect();
            let t = sw.stream_type;
            // Encoded once, as announcements are: our peers get the same bytes.
            let max = self.stream_config(t).max_message_size;
            let relaying = Extension::Relaying { ids }.to_raw();
            let Ok(parts) = PeerCommand::Extension(relaying).encode(max) else {
                continue;
            };
            let parts: Vec<P> = parts.into_iter().map(P::from_command).collect();
            for conn in conns {
                self.with_conn(now, conn, |p, _| p.send_encoded(&parts));
            }
        }
    }

    pub(crate) fn swarm_timeouts(&mut self, now: Instant) {
        for tracker in 0..self.trackers.len() {
            if !self.swarms.is_empty() {
                self.ensure_tracker(now, tracker);
            }
        }
        let expired: Vec<StreamId> = self
            .swarms
            .iter()
            .filter(|(_, sw)| sw.linger_until.is_some_and(|t| now >= t))
            .map(|(id, _)| *id)
            .collect();
        for stream in expired {
            self.destroy_swarm(stream);
        }
        let streams: Vec<StreamId> = self.swarms.keys().copied().collect();
        for stream in &streams {
            // Connections that never opened: an answer that never came, ICE
            // that never completed.
            let stuck: Vec<ConnId> = self.swarms.get(stream).map_or_else(Vec::new, |sw| {
                sw.conns
                    .iter()
                    .filter(|(_, c)| {
                        matches!(c.state, ConnState::Answering { .. } | ConnState::Connecting)
                            && now - c.created >= SETUP_TIMEOUT
                    })
                    .map(|(id, _)| *id)
                    .collect()
            });
            for conn in stuck {
                self.drop_conn(now, *stream, conn);
            }
        }
        for stream in streams {
            let wanted = self.wanted_offers(stream);
            if let Some(sw) = self.swarms.get_mut(&stream) {
                for (_, a) in &mut sw.announcers {
                    a.handle_timeout(now, wanted);
                }
            }
            self.pump_announcers(now, stream);
            let due: Vec<ConnId> = self
                .swarms
                .get(&stream)
                .map(|sw| {
                    sw.open_peers()
                        .filter(|(_, p)| p.poll_timeout().is_some_and(|t| now >= t))
                        .map(|(id, _)| id)
                        .collect()
                })
                .unwrap_or_default();
            for conn in due {
                self.with_conn(now, conn, |p, now| p.handle_timeout(now));
            }
        }
    }

    pub(crate) fn swarm_deadline(&self) -> Option<Instant> {
        let sockets = self.trackers.iter().filter_map(|s| match s.state {
            SocketState::Waiting(at) => Some(at),
            _ => None,
        });
        // Runs after every input: one plain pass, no iterator chains.
        let mut next = sockets.min();
        let mut earlier = |at: Option<Instant>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |n: Instant| n.min(at)));
            }
        };
        for sw in self.swarms.values() {
            for (_, a) in &sw.announcers {
                earlier(a.poll_timeout());
            }
            earlier(sw.conns_deadline());
            earlier(sw.linger_until);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::fit_blocks;

    #[test]
    fn id_lists_are_trimmed_around_the_playhead_to_fit_255_blocks() {
        let small: Vec<i64> = (0..1000).collect();
        assert_eq!(fit_blocks(small.clone(), 0), small);
        // One id per block: 400 blocks, so only the 255 nearest 300 * 256 stay.
        let scattered: Vec<i64> = (0..400).map(|b| b * 256).collect();
        let kept = fit_blocks(scattered, 300 * 256);
        assert_eq!(kept.len(), 255);
        assert!(kept.contains(&(300 * 256)) && !kept.contains(&0));
    }
}
