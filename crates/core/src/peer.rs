//! One data-channel connection to a peer, speaking P2P Media Loader 2.3.x's
//! peer protocol (SPEC §1.6–1.7) as both downloader and uploader.
//!
//! A sans-IO child machine: feed it received messages, buffered-amount
//! reports and timeouts; drain [`PeerConnection::poll_transmit`] (messages to
//! write on the channel) and [`PeerConnection::poll_event`] (what the engine
//! must act on); wake it at [`PeerConnection::poll_timeout`].
//!
//! Compatible with JS peers: one outstanding request at a time, a 2 s
//! no-bytes timeout with strikes, cancel by request id, resume with `b`.
//! Better where the wire allows: `total = b + s` on resume, a cap on `s`,
//! `SegmentAbsent` for unknown ids (the engine decides), chunks that never
//! look like command frames, and bounded send buffering.

use std::collections::VecDeque;
use std::time::Duration;

use p2pml_proto::command::{
    Announcement, Extension, Incoming, MessageKind, PeerCommand, PeerMessageReader, RELAY_VERSION,
    ReceiveError, SegmentData, SegmentRef, SegmentRequest, classify,
};

use crate::payload::Payload;
use crate::streams::ListedLog;
use crate::time::Instant;

/// Below this many buffered bytes an upload counts as drained (the hosts'
/// `bufferedAmountLowThreshold`).
pub const UPLOAD_DRAINED: usize = 64 * 1024;

/// Shortest time between two buffered-amount reports that gives a drain-rate
/// sample.
const MIN_DRAIN_SAMPLE: Duration = Duration::from_millis(2);

/// Settings of one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerConfig {
    /// Largest message we send (P2PML: 65 535).
    pub max_message_size: usize,
    /// A download that receives nothing for this long fails (P2PML: 2 s).
    pub no_bytes_timeout: Duration,
    /// Timeouts since the last success before we close (P2PML: 3).
    pub max_strikes: u32,
    /// Largest segment we accept (`s`); JS has no cap, so a hostile peer could
    /// make it buffer without bound. 128 MiB covers 4K segments of 10 s.
    pub max_segment_bytes: u64,
    /// Upload bytes we let queue in the channel before waiting for the host's
    /// buffered-amount report, at least. 64 KiB (what simple-peer keeps) is an
    /// eighth of a second at 4 Mbit/s: enough to keep such a link busy, little
    /// enough that our own commands do not wait long behind data. Hosts raise
    /// it (1 MiB in browsers and native peers).
    pub send_high_water: usize,
    /// Upload bytes queued at most: above `send_high_water`, the mark follows
    /// the channel's measured drain rate so that the queue holds about
    /// [`Self::send_queue_time`] of data. A fast link needs megabytes in
    /// flight to stay busy (loopback and LAN peers move hundreds of MB/s);
    /// a slow one must not hold seconds of data ahead of our own commands.
    /// Equal to `send_high_water` (the default): a fixed mark.
    pub send_high_water_max: usize,
    /// How long the queued upload should take to drain at the measured rate,
    /// when the mark may grow (see [`Self::send_high_water_max`]).
    pub send_queue_time: Duration,
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            max_message_size: p2pml_proto::command::DEFAULT_MAX_MESSAGE_SIZE,
            no_bytes_timeout: Duration::from_secs(2),
            max_strikes: 3,
            max_segment_bytes: 128 << 20,
            send_high_water: 64 * 1024,
            send_high_water_max: 64 * 1024,
            send_queue_time: Duration::from_millis(20),
        }
    }
}

/// Why a download from this peer failed (P2P Media Loader's error types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadError {
    /// `bytes-receiving-timeout`: nothing arrived in time.
    Timeout,
    /// `peer-segment-absent`: the peer does not have it.
    Absent,
    /// `peer-response-bytes-length-mismatch`: sizes disagree.
    LengthMismatch,
    /// `peer-protocol-violation`: a completion for another request.
    ProtocolViolation,
    /// The peer announced a size above our cap.
    TooLarge,
    /// `abort`: we cancelled it.
    Aborted,
    /// `peer-closed`: the connection went away.
    Closed,
}

/// What the engine must act on.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent<P> {
    /// The peer replaced its announcement (or, for our peers, its list of
    /// segments it relays).
    Announced,
    /// The peer said it is a p2p-media-loader-rs peer.
    Hello,
    /// The peer asks for a segment: answer with [`PeerConnection::serve`].
    UploadRequested {
        /// Segment external id.
        segment_id: i64,
        /// Their request id.
        request_id: i64,
        /// Resume offset.
        byte_from: u64,
    },
    /// Bytes of our current download arrived, in order.
    Downloaded {
        /// Segment external id.
        segment_id: i64,
        /// The bytes.
        data: P,
        /// The segment's full size (`b + s`).
        total: u64,
    },
    /// Our download completed: its bytes from `byte_from` to the end came
    /// as [`PeerEvent::Downloaded`] events (the connection keeps no copy, so
    /// completing costs no copy of the segment).
    DownloadCompleted {
        /// Segment external id.
        segment_id: i64,
        /// How many bytes this attempt received.
        bytes: u64,
    },
    /// Our download failed; `partial` counts the bytes of this attempt (sent
    /// as [`PeerEvent::Downloaded`] events) that are still valid for a resume
    /// (none after a size disagreement).
    DownloadFailed {
        /// Segment external id.
        segment_id: i64,
        /// Why.
        error: DownloadError,
        /// Valid bytes received from `byte_from` on.
        partial: Option<u64>,
    },
    /// A chunk of an upload was handed to the channel.
    Uploaded {
        /// How many bytes.
        bytes: usize,
    },
    /// A message could not be understood; the connection stays open.
    Malformed(ReceiveError),
    /// The engine should close this connection (after draining transmits).
    Close(CloseReason),
}

/// Why a connection should close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Too many timeouts since the last success.
    TooManyTimeouts,
    /// The peer broke the protocol (sizes, completions).
    ProtocolViolation(DownloadError),
}

/// Segment ids a peer announced, sorted and without repeats. Every
/// announcement replaces the whole list, a handful of live segments or a
/// few hundred VOD ones, and lookups far outnumber changes: a sorted vector
/// costs one allocation per announcement and no hashing.
#[derive(Debug, Default)]
struct IdSet(Vec<i64>);

impl From<Vec<i64>> for IdSet {
    fn from(mut ids: Vec<i64>) -> Self {
        ids.sort_unstable();
        ids.dedup();
        Self(ids)
    }
}

impl IdSet {
    fn contains(&self, id: i64) -> bool {
        self.0.binary_search(&id).is_ok()
    }

    fn remove(&mut self, id: i64) {
        if let Ok(i) = self.0.binary_search(&id) {
            self.0.remove(i);
        }
    }

    fn max(&self) -> Option<i64> {
        self.0.last().copied()
    }
}

/// The download in progress (at most one per connection).
#[derive(Debug)]
struct Download {
    segment_id: i64,
    request_id: i64,
    byte_from: u64,
    /// Total segment size, if known before or from `SegmentData`.
    total: Option<u64>,
    /// Whether the `SegmentData` header was accepted.
    accepted: bool,
    received: u64,
    deadline: Instant,
}

/// The upload in progress (JS peers send one request at a time; a new one
/// pre-empts the old). A relayed upload starts before all its bytes are
/// here: the engine adds them with [`PeerConnection::extend_upload`].
#[derive(Debug)]
struct Upload<P> {
    segment_id: i64,
    request_id: i64,
    /// Bytes here and not yet queued, in order.
    pending: VecDeque<P>,
    /// Bytes of the response still to come from the engine.
    missing: usize,
}

/// One connection's protocol state.
#[derive(Debug)]
pub struct PeerConnection<P> {
    config: PeerConfig,
    reader: PeerMessageReader,
    remote_loaded: IdSet,
    remote_http_loading: IdSet,
    highest_loaded: Option<i64>,
    /// The peer sent at least one announcement.
    announced: bool,
    /// The peer said Hello: it speaks our extensions.
    ours: bool,
    /// Segments the peer (one of ours) relays while receiving them.
    remote_relaying: IdSet,
    /// When the peer's live playlist listed its newest segments, as its
    /// `Listed` messages arrived.
    remote_listed: ListedLog,
    /// When the peer last answered a request of ours with SegmentAbsent.
    refused_at: Option<Instant>,
    download: Option<Download>,
    next_request_id: i64,
    strikes: u32,
    upload: Option<Upload<P>>,
    /// Bytes handed to the channel since the host last reported its
    /// `bufferedAmount`, plus what it reported: an upper bound of what is
    /// still unsent.
    buffered: usize,
    /// A report was asked for and has not come yet.
    query_pending: bool,
    /// Bytes handed to the channel since the connection opened.
    handed: u64,
    /// The last report that found the channel busy: when, and how many bytes
    /// it had sent by then (the start of a drain-rate sample).
    drain_mark: Option<(Instant, u64)>,
    /// Bytes the channel drains in `send_queue_time`, smoothed over samples.
    drain_window: usize,
    /// Ask the host for a report.
    want_query: bool,
    transmit: VecDeque<P>,
    events: VecDeque<PeerEvent<P>>,
    closing: bool,
}

impl<P: Payload> PeerConnection<P> {
    /// A new open connection. `first_request_id` seeds the request-id
    /// counter (0..1000, as JS peers draw them).
    pub fn new(config: PeerConfig, first_request_id: i64) -> Self {
        Self {
            config,
            reader: PeerMessageReader::default(),
            remote_loaded: IdSet::default(),
            remote_http_loading: IdSet::default(),
            highest_loaded: None,
            announced: false,
            ours: false,
            remote_relaying: IdSet::default(),
            remote_listed: ListedLog::default(),
            refused_at: None,
            download: None,
            next_request_id: first_request_id.rem_euclid(1000),
            strikes: 0,
            upload: None,
            buffered: 0,
            query_pending: false,
            handed: 0,
            drain_mark: None,
            drain_window: 0,
            want_query: false,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            closing: false,
        }
    }

    /// Replaces the connection's settings (dynamic configuration); a
    /// download in progress keeps its current deadline.
    pub fn set_config(&mut self, config: PeerConfig) {
        self.config = config;
        self.pump_upload();
    }

    /// Whether the peer announced it stores `segment_id`.
    pub fn has(&self, segment_id: i64) -> bool {
        self.remote_loaded.contains(segment_id)
    }

    /// Whether the peer has announced what it holds yet. Peers announce
    /// right after connecting (unless their upload is disabled), so until
    /// then what it holds is unknown rather than nothing.
    pub fn has_announced(&self) -> bool {
        self.announced
    }

    /// The highest id the peer announced it stores.
    pub fn highest_loaded(&self) -> Option<i64> {
        self.highest_loaded
    }

    /// Whether the peer is a p2p-media-loader-rs peer (it said Hello).
    pub fn is_ours(&self) -> bool {
        self.ours
    }

    /// Whether the peer (one of ours) relays `segment_id` while receiving it.
    pub fn relays(&self, segment_id: i64) -> bool {
        self.ours && self.remote_relaying.contains(segment_id)
    }

    /// The highest id the peer relays, if it is one of ours.
    pub fn highest_relaying(&self) -> Option<i64> {
        self.remote_relaying.max().filter(|_| self.ours)
    }

    /// Tells the peer we are a p2p-media-loader-rs peer (JS peers ignore it).
    pub fn hello(&mut self) {
        let hello = Extension::Hello {
            version: RELAY_VERSION,
        };
        self.send_command(&PeerCommand::Extension(hello.to_raw()));
    }

    /// Tells one of our peers which segments we relay; nothing for others.
    pub fn announce_relaying(&mut self, ids: &[i64]) {
        if self.ours {
            let relaying = Extension::Relaying { ids: ids.to_vec() };
            self.send_command(&PeerCommand::Extension(relaying.to_raw()));
        }
    }

    /// Tells one of our peers the newest segment our live playlist lists;
    /// nothing for others.
    pub fn announce_listed(&mut self, id: i64) {
        if self.ours {
            self.send_command(&PeerCommand::Extension(Extension::Listed { id }.to_raw()));
        }
    }

    /// When the peer (one of ours) told us its live playlist listed its
    /// newest segments, as the messages arrived; `None` for other peers.
    pub fn listed(&self) -> Option<&ListedLog> {
        self.ours.then_some(&self.remote_listed)
    }

    /// The segment of a relayed upload that still waits for bytes.
    pub fn relay_waiting(&self) -> Option<i64> {
        self.upload
            .as_ref()
            .filter(|u| u.missing > 0)
            .map(|u| u.segment_id)
    }

    /// Whether the peer announced it is fetching `segment_id` over HTTP.
    pub fn is_http_loading(&self, segment_id: i64) -> bool {
        self.remote_http_loading.contains(segment_id)
    }

    /// Until when the peer counts as busy: it refused a request of ours
    /// (SegmentAbsent) less than `backoff` ago. A peer out of upload slots
    /// refuses every segment, not only the one asked.
    pub fn busy_until(&self, backoff: Duration) -> Option<Instant> {
        self.refused_at.map(|at| at + backoff)
    }

    /// Whether a download from this peer is in progress.
    pub fn is_downloading(&self) -> bool {
        self.download.is_some()
    }

    /// The segment being downloaded, if any.
    pub fn downloading(&self) -> Option<i64> {
        self.download.as_ref().map(|d| d.segment_id)
    }

    /// Whether an upload to this peer is in progress: chunks still to queue,
    /// or more than [`UPLOAD_DRAINED`] bytes not yet sent by the channel.
    pub fn is_uploading(&self) -> bool {
        self.upload.is_some() || self.buffered >= UPLOAD_DRAINED
    }

    /// The segment of the upload in progress, if any.
    pub fn uploading(&self) -> Option<i64> {
        self.upload.as_ref().map(|u| u.segment_id)
    }

    /// Gives up the upload in progress to one of our peers: it gets
    /// `SegmentAbsent` after the bytes already queued, which stay valid for
    /// a resume elsewhere. Nothing for other peers (a JS peer drops what
    /// it received).
    pub fn preempt_upload(&mut self) -> bool {
        if !self.ours {
            return false;
        }
        let Some(u) = self.upload.take() else {
            return false;
        };
        self.send_absent(u.segment_id, u.request_id);
        true
    }

    /// Sends our announcement (replaces what the peer knows of us).
    pub fn announce(&mut self, announcement: Announcement) {
        self.send_command(&PeerCommand::SegmentsAnnouncement(announcement));
    }

    /// Sends a command already encoded (with [`PeerCommand::encode`] at this
    /// connection's message size), such as one announcement for a whole swarm.
    pub fn send_encoded(&mut self, parts: &[P]) {
        self.transmit.extend(parts.iter().cloned());
    }

    /// Starts downloading `segment_id` from `byte_from`. `total` is the full
    /// size if known (byte range, earlier attempt). Returns `false` if a
    /// download is already in progress: never pipeline to a JS peer.
    pub fn request(
        &mut self,
        now: Instant,
        segment_id: i64,
        byte_from: u64,
        total: Option<u64>,
    ) -> bool {
        if self.download.is_some() || self.closing {
            return false;
        }
        let request_id = self.next_request_id;
        self.next_request_id = (self.next_request_id + 1) % 1000;
        self.download = Some(Download {
            segment_id,
            request_id,
            byte_from,
            total,
            accepted: false,
            received: 0,
            deadline: now + self.config.no_bytes_timeout,
        });
        self.send_command(&PeerCommand::SegmentRequest(SegmentRequest {
            segment_id,
            request_id,
            byte_from,
        }));
        true
    }

    /// Cancels our download (no longer needed). Its bytes so far come back
    /// in a [`PeerEvent::DownloadFailed`] with [`DownloadError::Aborted`].
    pub fn abort_download(&mut self) {
        if let Some(d) = &self.download {
            let cancel = SegmentRef {
                segment_id: d.segment_id,
                request_id: d.request_id,
            };
            self.send_command(&PeerCommand::CancelSegmentRequest(cancel));
            self.fail_download(DownloadError::Aborted, true);
        }
    }

    /// Answers an [`PeerEvent::UploadRequested`]: `Some(data)` is the whole
    /// segment, `None` sends `SegmentAbsent`. Ignored if another request has
    /// pre-empted it meanwhile.
    pub fn serve(&mut self, segment_id: i64, request_id: i64, byte_from: u64, data: Option<P>) {
        let from = usize::try_from(byte_from).unwrap_or(usize::MAX);
        match data {
            Some(data) if from <= data.len() => {
                let data = data.slice(from..data.len());
                self.start_upload(segment_id, request_id, data.len(), vec![data]);
            }
            _ => self.send_absent(segment_id, request_id),
        }
    }

    /// Answers an [`PeerEvent::UploadRequested`] from one of our peers for a
    /// segment we are still receiving: `have` holds our bytes from
    /// `byte_from` on, and `total` is the segment's full size. The rest
    /// follows through [`Self::extend_upload`], or the upload ends with
    /// [`Self::relay_failed`].
    pub fn serve_relay(
        &mut self,
        segment_id: i64,
        request_id: i64,
        byte_from: u64,
        total: u64,
        have: Vec<P>,
    ) {
        let here: usize = have.iter().map(Payload::len).sum();
        let length = usize::try_from(total.saturating_sub(byte_from)).unwrap_or(usize::MAX);
        if !self.ours || byte_from > total || here > length {
            self.send_absent(segment_id, request_id);
            return;
        }
        self.start_upload(segment_id, request_id, length, have);
    }

    /// More bytes of the segment a relayed upload is waiting for; ignored
    /// for other segments.
    pub fn extend_upload(&mut self, segment_id: i64, data: P) {
        let Some(u) = self.upload.as_mut() else {
            return;
        };
        if u.segment_id != segment_id || u.missing == 0 {
            return;
        }
        let data = if data.len() > u.missing {
            data.slice(0..u.missing)
        } else {
            data
        };
        u.missing -= data.len();
        u.pending.push_back(data);
        self.pump_upload();
    }

    /// Our own download of a relayed segment failed: the requester gets
    /// `SegmentAbsent` (it keeps the bytes it has and resumes elsewhere).
    pub fn relay_failed(&mut self, segment_id: i64) {
        let Some(u) = self.upload.as_ref() else {
            return;
        };
        if u.segment_id == segment_id && u.missing > 0 {
            let request_id = u.request_id;
            self.upload = None;
            self.send_absent(segment_id, request_id);
        }
    }

    fn start_upload(&mut self, segment_id: i64, request_id: i64, length: usize, have: Vec<P>) {
        let here: usize = have.iter().map(Payload::len).sum();
        let header = SegmentData {
            segment_id,
            request_id,
            byte_length: length as u64,
        };
        self.send_command(&PeerCommand::SegmentData(header));
        self.upload = Some(Upload {
            segment_id,
            request_id,
            pending: have.into_iter().filter(|p| p.len() > 0).collect(),
            missing: length - here,
        });
        self.pump_upload();
    }

    fn send_absent(&mut self, segment_id: i64, request_id: i64) {
        self.send_command(&PeerCommand::SegmentAbsent(SegmentRef {
            segment_id,
            request_id,
        }));
    }

    /// The host's current `bufferedAmount` at `now`: on a buffered-amount-low
    /// event, or in answer to [`Self::poll_buffered_query`].
    pub fn handle_buffered_amount(&mut self, now: Instant, buffered: usize) {
        self.measure_drain(now, buffered);
        self.buffered = buffered;
        self.query_pending = false;
        self.pump_upload();
    }

    /// Samples the channel's drain rate between two reports that both found
    /// it busy: an idle stretch in between would pass for a slow link.
    fn measure_drain(&mut self, now: Instant, buffered: usize) {
        if self.config.send_high_water_max <= self.config.send_high_water {
            return;
        }
        if buffered == 0 {
            self.drain_mark = None;
            return;
        }
        let sent = self.handed.saturating_sub(buffered as u64);
        let Some((at, from)) = self.drain_mark else {
            self.drain_mark = Some((now, sent));
            return;
        };
        let span = now.saturating_duration_since(at);
        if span < MIN_DRAIN_SAMPLE {
            return; // too short to tell a rate from the hosts' timing noise
        }
        let drained = u128::from(sent.saturating_sub(from));
        let window = drained * self.config.send_queue_time.as_micros() / span.as_micros();
        let window = usize::try_from(window).unwrap_or(usize::MAX);
        self.drain_window = if self.drain_window == 0 {
            window
        } else {
            self.drain_window / 4 * 3 + window / 4
        };
        self.drain_mark = Some((now, sent));
    }

    /// Upload bytes to keep queued now: the drain-rate mark, within bounds.
    pub fn send_high_water(&self) -> usize {
        let floor = self.config.send_high_water;
        self.drain_window
            .clamp(floor, self.config.send_high_water_max.max(floor))
    }

    /// Whether the host should report the channel's `bufferedAmount` now.
    /// The estimate only grows between reports, and hosts report by
    /// themselves only when the buffer drains past the low-water mark —
    /// which small sends never trigger — so the engine asks when its
    /// estimate reaches the mark. Returns `true` once per question.
    pub fn poll_buffered_query(&mut self) -> bool {
        std::mem::take(&mut self.want_query)
    }

    /// A message arrived on the channel.
    pub fn handle_message(&mut self, now: Instant, message: P) {
        let is_command = message
            .command_bytes()
            .is_some_and(|b| classify(b) == MessageKind::CommandPart);
        if !is_command {
            self.handle_data(now, message);
            return;
        }
        let result = match message.command_bytes() {
            Some(bytes) => self.reader.read(bytes).map(|i| match i {
                Incoming::Command(c) => Some(c),
                _ => None,
            }),
            None => Ok(None),
        };
        match result {
            Ok(Some(command)) => self.handle_command(now, command),
            Ok(None) => {}
            Err(e) => self.events.push_back(PeerEvent::Malformed(e)),
        }
    }

    /// Fires the no-bytes timer if due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = self.download.as_ref().is_some_and(|d| now >= d.deadline);
        if !due {
            return;
        }
        if let Some(d) = &self.download {
            let cancel = SegmentRef {
                segment_id: d.segment_id,
                request_id: d.request_id,
            };
            self.send_command(&PeerCommand::CancelSegmentRequest(cancel));
        }
        self.fail_download(DownloadError::Timeout, true);
        self.strikes += 1;
        if self.strikes >= self.config.max_strikes {
            self.close(CloseReason::TooManyTimeouts);
        }
    }

    /// When [`Self::handle_timeout`] next needs to run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.download.as_ref().map(|d| d.deadline)
    }

    /// The next message to write on the channel.
    pub fn poll_transmit(&mut self) -> Option<P> {
        let message = self.transmit.pop_front()?;
        self.buffered += message.len();
        self.handed += message.len() as u64;
        if self.buffered >= UPLOAD_DRAINED && !self.query_pending {
            self.query_pending = true;
            self.want_query = true;
        }
        Some(message)
    }

    /// The next event for the engine.
    pub fn poll_event(&mut self) -> Option<PeerEvent<P>> {
        self.events.pop_front()
    }

    /// The channel closed: a download in progress fails with `peer-closed`.
    pub fn handle_closed(&mut self) {
        self.fail_download(DownloadError::Closed, true);
        self.upload = None;
        self.transmit.clear();
    }

    fn send_command(&mut self, command: &PeerCommand) {
        // Our commands carry ids from JS-safe ranges and lists the engine
        // keeps within 255 blocks, so encoding cannot fail; if it ever did,
        // dropping the command is the safe outcome.
        if let Ok(parts) = command.encode(self.config.max_message_size) {
            self.transmit.extend(parts.into_iter().map(P::from_command));
        }
    }

    fn close(&mut self, reason: CloseReason) {
        if !self.closing {
            self.closing = true;
            self.events.push_back(PeerEvent::Close(reason));
        }
    }

    fn fail_download(&mut self, error: DownloadError, keep_partial: bool) {
        if let Some(d) = self.download.take() {
            let partial = (keep_partial && d.received > 0).then_some(d.received);
            self.events.push_back(PeerEvent::DownloadFailed {
                segment_id: d.segment_id,
                error,
                partial,
            });
        }
    }

    fn violation(&mut self, error: DownloadError) {
        self.fail_download(error, false);
        self.close(CloseReason::ProtocolViolation(error));
    }

    fn handle_command(&mut self, now: Instant, command: PeerCommand) {
        match command {
            PeerCommand::SegmentsAnnouncement(a) => {
                self.highest_loaded = a.loaded.iter().copied().max();
                self.remote_loaded = IdSet::from(a.loaded);
                self.remote_http_loading = IdSet::from(a.http_loading);
                self.announced = true;
                self.events.push_back(PeerEvent::Announced);
            }
            PeerCommand::SegmentRequest(r) => {
                // One upload per connection: a new request pre-empts the old.
                self.upload = None;
                self.events.push_back(PeerEvent::UploadRequested {
                    segment_id: r.segment_id,
                    request_id: r.request_id,
                    byte_from: r.byte_from,
                });
            }
            PeerCommand::CancelSegmentRequest(r) => {
                // JS matches a cancel on the request id alone.
                if self
                    .upload
                    .as_ref()
                    .is_some_and(|u| u.request_id == r.request_id)
                {
                    self.upload = None;
                }
            }
            PeerCommand::SegmentData(h) => self.handle_header(now, h),
            PeerCommand::SegmentDataSendingCompleted(r) => self.handle_completed(r),
            PeerCommand::SegmentAbsent(r) => {
                let matches = self
                    .download
                    .as_ref()
                    .is_some_and(|d| d.segment_id == r.segment_id && d.request_id == r.request_id);
                if matches {
                    self.refused_at = Some(now);
                    self.remote_loaded.remove(r.segment_id);
                    self.remote_relaying.remove(r.segment_id);
                    // Only our relaying peers send it after data: what came
                    // is valid, and kept for a resume.
                    let keep = self.download.as_ref().is_some_and(|d| d.accepted);
                    self.fail_download(DownloadError::Absent, keep);
                }
            }
            PeerCommand::Extension(raw) => match Extension::from_raw(&raw) {
                Some(Extension::Hello { version }) if version >= RELAY_VERSION && !self.ours => {
                    self.ours = true;
                    self.events.push_back(PeerEvent::Hello);
                }
                Some(Extension::Relaying { ids }) => {
                    self.remote_relaying = IdSet::from(ids);
                    if self.ours {
                        self.events.push_back(PeerEvent::Announced);
                    }
                }
                Some(Extension::Listed { id }) => self.remote_listed.push(id, now),
                // Other extensions, or a newer peer's: ignored, as JS does.
                _ => {}
            },
        }
    }

    fn handle_header(&mut self, now: Instant, h: SegmentData) {
        let max = self.config.max_segment_bytes;
        let timeout = self.config.no_bytes_timeout;
        let Some(d) = self.download.as_mut() else {
            return;
        };
        if d.accepted || d.segment_id != h.segment_id || d.request_id != h.request_id {
            return;
        }
        let expected_total = d.byte_from.saturating_add(h.byte_length);
        let error = match d.total {
            Some(total) if total.saturating_sub(d.byte_from) != h.byte_length => {
                DownloadError::LengthMismatch
            }
            _ if expected_total > max => DownloadError::TooLarge,
            _ => {
                // Unlike JS (total = s), a resumed download totals b + s.
                d.total = Some(expected_total);
                d.accepted = true;
                d.deadline = now + timeout;
                return;
            }
        };
        let cancel = SegmentRef {
            segment_id: d.segment_id,
            request_id: d.request_id,
        };
        self.send_command(&PeerCommand::CancelSegmentRequest(cancel));
        self.violation(error);
    }

    fn handle_data(&mut self, now: Instant, chunk: P) {
        let timeout = self.config.no_bytes_timeout;
        let Some(d) = self.download.as_mut() else {
            return; // stray chunks of a cancelled response
        };
        if !d.accepted {
            return;
        }
        let len = chunk.len() as u64;
        let remaining = d
            .total
            .unwrap_or(0)
            .saturating_sub(d.byte_from + d.received);
        if len > remaining {
            self.violation(DownloadError::LengthMismatch);
            return;
        }
        d.received += len;
        d.deadline = now + timeout;
        self.events.push_back(PeerEvent::Downloaded {
            segment_id: d.segment_id,
            data: chunk,
            total: d.total.unwrap_or(0),
        });
    }

    fn handle_completed(&mut self, r: SegmentRef) {
        let Some(d) = self.download.as_ref() else {
            return;
        };
        if !d.accepted {
            return;
        }
        if d.segment_id != r.segment_id || d.request_id != r.request_id {
            self.violation(DownloadError::ProtocolViolation);
            return;
        }
        if Some(d.byte_from + d.received) != d.total {
            self.violation(DownloadError::LengthMismatch);
            return;
        }
        if let Some(d) = self.download.take() {
            self.strikes = 0;
            self.events.push_back(PeerEvent::DownloadCompleted {
                segment_id: d.segment_id,
                bytes: d.received,
            });
        }
    }

    /// Queues upload chunks while the channel's buffer is below the high-water mark.
    fn pump_upload(&mut self) {
        let max = self.config.max_message_size.max(9);
        let high_water = self.send_high_water();
        while self.buffered + self.queued_bytes() < high_water {
            let Some(u) = self.upload.as_mut() else {
                return;
            };
            let Some(front) = u.pending.pop_front() else {
                if u.missing == 0 {
                    let done = SegmentRef {
                        segment_id: u.segment_id,
                        request_id: u.request_id,
                    };
                    self.upload = None;
                    self.send_command(&PeerCommand::SegmentDataSendingCompleted(done));
                }
                return; // done, or waiting for relayed bytes
            };
            let looks_like_command = |c: &P| {
                c.command_bytes()
                    .is_some_and(|b| classify(b) == MessageKind::CommandPart)
            };
            let mut end = front.len().min(max);
            let mut chunk = front.slice(0..end);
            if looks_like_command(&chunk) {
                if end > 8 {
                    // Taken for a command part by the receiver: end it a byte earlier.
                    end -= 1;
                    chunk = front.slice(0..end);
                    if end + 1 == front.len() {
                        // The byte left over goes with what follows, if anything does.
                        let tail = front.slice(end..front.len());
                        match u.pending.pop_front() {
                            Some(next) => u.pending.push_front(P::concat(&[tail, next])),
                            None => u.pending.push_front(tail),
                        }
                    } else {
                        u.pending.push_front(front.slice(end..front.len()));
                    }
                } else if let Some(next) = u.pending.pop_front() {
                    // Too short to shorten: send it with what follows.
                    u.pending.push_front(P::concat(&[chunk, next]));
                    continue;
                } else if u.missing > 0 {
                    // Wait for more relayed bytes to send it with.
                    u.pending.push_front(chunk);
                    return;
                }
            } else if end < front.len() {
                u.pending.push_front(front.slice(end..front.len()));
            }
            let bytes = chunk.len();
            self.transmit.push_back(chunk);
            self.events.push_back(PeerEvent::Uploaded { bytes });
        }
    }

    fn queued_bytes(&self) -> usize {
        self.transmit.iter().map(Payload::len).sum()
    }
}
