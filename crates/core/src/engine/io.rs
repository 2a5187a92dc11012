//! What goes into and comes out of the engine. Every output that starts
//! asynchronous work carries an id that the answering input returns.

use p2pml_proto::identity::{PeerId, StreamType};

use crate::streams::{SegmentInfo, StreamId};
use crate::tracker::ConnId;

/// The host's id for one player request (`loadSegment`).
pub type PlayerRequestId = u64;
/// The engine's id for one HTTP fetch.
pub type FetchId = u64;
/// The engine's index of a tracker URL (one socket per URL, shared by swarms).
pub type TrackerId = usize;

/// A byte range to request over HTTP (`Range: bytes=start-` or
/// `bytes=start-(end-1)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte, or to the end of the resource.
    pub end: Option<u64>,
}

/// Where bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The CDN.
    Http,
    /// A peer.
    P2p,
}

/// An input: something the player, the network or a timer did.
#[derive(Debug, Clone)]
pub enum Input<P> {
    /// The manifest's final URL (after redirects); the swarm id is it without
    /// its query unless the configuration sets one.
    ManifestUrl(String),
    /// A stream (rendition) exists, with its short id (see
    /// [`p2pml_proto::identity::StreamDescriptor::short_id`]).
    AddStream {
        /// The host's handle.
        stream: StreamId,
        /// Main or secondary.
        stream_type: StreamType,
        /// Its short id.
        index: String,
    },
    /// A playlist refresh: segments added (or changed) and removed.
    UpdateStream {
        /// Which stream.
        stream: StreamId,
        /// New or changed segments.
        add: Vec<SegmentInfo>,
        /// Ids no longer in the playlist.
        remove: Vec<i64>,
    },
    /// Whether the presentation is live.
    Live(bool),
    /// The playhead, in seconds of media, and the playback rate (0 is ignored).
    Playback {
        /// Position.
        position: f64,
        /// Rate.
        rate: f64,
    },
    /// The player asks for a segment; answered by [`Output::SegmentLoaded`]
    /// or [`Output::SegmentFailed`].
    LoadSegment {
        /// The host's id for this request.
        request: PlayerRequestId,
        /// Stream.
        stream: StreamId,
        /// Segment id.
        segment: i64,
    },
    /// The player no longer needs a request (its download may continue as prefetch).
    AbortSegment {
        /// The request.
        request: PlayerRequestId,
    },
    /// The bitrate of the level now playing (for the bandwidth report).
    ActiveBitrate(f64),
    /// HTTP response headers for a fetch.
    HttpHeaders {
        /// The fetch.
        fetch: FetchId,
        /// Status code.
        status: u16,
        /// `Content-Length`, if any.
        content_length: Option<u64>,
    },
    /// A piece of an HTTP body.
    HttpData {
        /// The fetch.
        fetch: FetchId,
        /// The bytes.
        data: P,
    },
    /// The HTTP body ended.
    HttpEnd {
        /// The fetch.
        fetch: FetchId,
    },
    /// The fetch failed before its end (network error).
    HttpFailed {
        /// The fetch.
        fetch: FetchId,
        /// What happened.
        reason: String,
    },
    /// A tracker socket opened.
    TrackerOpened {
        /// Which tracker.
        tracker: TrackerId,
    },
    /// A text frame from a tracker.
    TrackerMessage {
        /// Which tracker.
        tracker: TrackerId,
        /// The JSON text.
        text: String,
    },
    /// A tracker socket closed or failed to open.
    TrackerClosed {
        /// Which tracker.
        tracker: TrackerId,
    },
    /// An offer requested by [`Output::CreateOffer`] is ready (non-trickle:
    /// the SDP carries every candidate).
    OfferCreated {
        /// The connection.
        conn: ConnId,
        /// Its SDP.
        sdp: String,
    },
    /// An answer requested by [`Output::CreateAnswer`] is ready.
    AnswerCreated {
        /// The connection.
        conn: ConnId,
        /// Its SDP.
        sdp: String,
    },
    /// The data channel of a connection opened.
    ChannelOpen {
        /// The connection.
        conn: ConnId,
    },
    /// A message arrived on a data channel. A message on a channel not yet
    /// reported open opens it (the host's open event may come later; a
    /// second [`Input::ChannelOpen`] changes nothing).
    ChannelMessage {
        /// The connection.
        conn: ConnId,
        /// The message.
        data: P,
    },
    /// The channel's `bufferedAmount` (report it when it drops below the
    /// low-water mark).
    ChannelBuffered {
        /// The connection.
        conn: ConnId,
        /// Bytes still buffered.
        amount: usize,
    },
    /// A connection failed or its channel closed (also: offer or answer
    /// creation failed).
    ChannelClosed {
        /// The connection.
        conn: ConnId,
    },
}

/// An output: something the host must do, or tell the player.
#[derive(Debug, Clone)]
pub enum Output<P> {
    /// Fetch a URL; report with the `Http*` inputs.
    HttpFetch {
        /// Id for the answers.
        fetch: FetchId,
        /// URL.
        url: String,
        /// The byte range to request, if not the whole resource.
        range: Option<HttpRange>,
    },
    /// Abort a fetch; no more inputs are expected for it.
    HttpAbort {
        /// The fetch.
        fetch: FetchId,
    },
    /// Open a WebSocket to a tracker.
    TrackerConnect {
        /// Which tracker.
        tracker: TrackerId,
        /// Its URL.
        url: String,
    },
    /// Send a text frame to a tracker.
    TrackerSend {
        /// Which tracker.
        tracker: TrackerId,
        /// JSON text.
        text: String,
    },
    /// Create an offering peer connection with one data channel and report
    /// [`Input::OfferCreated`] once ICE gathering completes.
    CreateOffer {
        /// The connection.
        conn: ConnId,
    },
    /// Create an answering connection for a remote offer and report
    /// [`Input::AnswerCreated`].
    CreateAnswer {
        /// The connection.
        conn: ConnId,
        /// The remote SDP offer.
        offer: String,
    },
    /// Apply the remote answer to one of our offering connections.
    AcceptAnswer {
        /// The connection.
        conn: ConnId,
        /// The remote SDP answer.
        answer: String,
    },
    /// Send a message on a connection's data channel.
    Send {
        /// The connection.
        conn: ConnId,
        /// The message.
        data: P,
    },
    /// Report the connection's current `bufferedAmount` with
    /// [`Input::ChannelBuffered`] (browsers can read it synchronously).
    QueryBuffered {
        /// The connection.
        conn: ConnId,
    },
    /// Close and forget a connection.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// A player request is answered.
    SegmentLoaded {
        /// The request.
        request: PlayerRequestId,
        /// The whole segment.
        data: P,
        /// Estimated bandwidth to report to the player, in bit/s.
        bandwidth: f64,
    },
    /// A player request failed; the player decides what to do (retry, ABR).
    SegmentFailed {
        /// The request.
        request: PlayerRequestId,
        /// Why.
        reason: String,
    },
    /// Something happened (statistics, logs, the demo's charts).
    Event(Event),
}

/// What happened, for statistics and logs (P2P Media Loader's events).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A download attempt started.
    SegmentStart {
        /// Stream type.
        stream_type: StreamType,
        /// Segment id.
        segment: i64,
        /// From where.
        source: Source,
        /// The peer, for a P2P attempt (P2P Media Loader's `peerId`).
        peer: Option<PeerId>,
    },
    /// A segment is complete and stored.
    SegmentLoaded {
        /// Stream type.
        stream_type: StreamType,
        /// Segment id.
        segment: i64,
        /// Its size.
        bytes: u64,
        /// Of which came over HTTP (a download can resume across sources).
        http_bytes: u64,
        /// The last peer that sent bytes of it, if any did.
        peer: Option<PeerId>,
    },
    /// A download attempt failed.
    SegmentError {
        /// Stream type.
        stream_type: StreamType,
        /// Segment id.
        segment: i64,
        /// From where.
        source: Source,
        /// Why.
        reason: String,
        /// The peer, for a P2P attempt (P2P Media Loader's `peerId`).
        peer: Option<PeerId>,
    },
    /// A download attempt was aborted (no longer needed, or switched source).
    SegmentAbort {
        /// Stream type.
        stream_type: StreamType,
        /// Segment id.
        segment: i64,
        /// From where.
        source: Source,
        /// The peer, for a P2P attempt (P2P Media Loader's `peerId`).
        peer: Option<PeerId>,
    },
    /// A peer connection opened.
    PeerConnect {
        /// The peer.
        peer: PeerId,
        /// Its swarm's stream type.
        stream_type: StreamType,
    },
    /// A peer connection closed.
    PeerClose {
        /// The peer.
        peer: PeerId,
        /// Its swarm's stream type.
        stream_type: StreamType,
    },
    /// Bytes arrived.
    ChunkDownloaded {
        /// How many.
        bytes: u64,
        /// From where.
        source: Source,
        /// The peer, when the bytes came from one.
        peer: Option<PeerId>,
    },
    /// Bytes were sent to a peer.
    ChunkUploaded {
        /// How many.
        bytes: u64,
        /// The peer they went to.
        peer: Option<PeerId>,
    },
    /// A tracker refused a request (`failure reason`), sent something
    /// unreadable, or its connection closed.
    TrackerError {
        /// The swarm's stream type, when the message names a swarm of ours.
        stream_type: Option<StreamType>,
        /// What went wrong.
        message: String,
    },
    /// A tracker sent a `warning message`.
    TrackerWarning {
        /// The swarm's stream type.
        stream_type: Option<StreamType>,
        /// The warning.
        message: String,
    },
    /// A peer broke the protocol (the connection closes) or sent something
    /// we could not understand (it stays connected).
    PeerError {
        /// The peer, once known.
        peer: Option<PeerId>,
        /// Its swarm's stream type.
        stream_type: StreamType,
        /// What was wrong.
        reason: String,
    },
}
