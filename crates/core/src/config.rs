//! Engine configuration. Defaults are P2P Media Loader 2.3's (SPEC §6.1)
//! unless a comment says why ours differ.

use std::time::Duration;

/// Settings that apply to one stream type (main or secondary); P2P Media
/// Loader lets both be set together or apart.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    /// Seconds of media ahead of the playhead that are urgent (P2PML: 15 s).
    pub high_demand_window: f64,
    /// Seconds ahead within which HTTP seeding may fetch (P2PML: 3000 s).
    pub http_download_window: f64,
    /// Seconds ahead within which peers may be asked (P2PML: 6000 s).
    pub p2p_download_window: f64,
    /// No HTTP at all for this long after the stream type starts, to give
    /// the tracker time to find peers (P2PML: 0).
    pub http_initial_delay: Duration,
    /// Concurrent HTTP downloads (P2PML: 2).
    pub simultaneous_http_downloads: usize,
    /// Concurrent P2P downloads (P2PML: 3).
    pub simultaneous_p2p_downloads: usize,
    /// Largest data-channel message we send (P2PML: 65 535, 64 KiB − 1).
    pub max_message_size: usize,
    /// A P2P download that receives nothing for this long fails (P2PML: 2 s).
    pub p2p_no_bytes_timeout: Duration,
    /// An HTTP download that receives nothing for this long fails (P2PML: 3 s).
    pub http_no_bytes_timeout: Duration,
    /// How long the swarm of a rendition we switched away from keeps serving
    /// (P2PML: 30 s).
    pub inactive_swarm_linger: Duration,
    /// HTTP attempts per segment before the player's request fails (P2PML: 3).
    pub http_error_retries: u32,
    /// No-bytes timeouts from one peer before we disconnect it (P2PML: 3).
    pub p2p_error_retries: u32,
    /// Segments of this type bypass the engine.
    pub p2p_disabled: bool,
    /// Download from peers but never announce or upload.
    pub p2p_upload_disabled: bool,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            high_demand_window: 15.0,
            http_download_window: 3000.0,
            p2p_download_window: 6000.0,
            http_initial_delay: Duration::ZERO,
            simultaneous_http_downloads: 2,
            simultaneous_p2p_downloads: 3,
            max_message_size: p2pml_proto::command::DEFAULT_MAX_MESSAGE_SIZE,
            p2p_no_bytes_timeout: Duration::from_secs(2),
            http_no_bytes_timeout: Duration::from_secs(3),
            inactive_swarm_linger: Duration::from_secs(30),
            http_error_retries: 3,
            p2p_error_retries: 3,
            p2p_disabled: false,
            p2p_upload_disabled: false,
        }
    }
}

/// Settings shared by both stream types.
#[derive(Debug, Clone, PartialEq)]
pub struct CommonConfig {
    /// Bytes the segment store may hold before evicting what is behind the
    /// playhead (P2PML: 4096 MiB on desktops, less on phones).
    pub storage_limit_bytes: u64,
    /// WebTorrent trackers (P2PML's public ones are for testing only, so
    /// there is no default: a deployment names its own).
    pub announce_trackers: Vec<String>,
    /// Peer id prefix (P2PML 2.3: `-PM0203-`, which JS peers also show in
    /// their events).
    pub peer_id_prefix: String,
    /// The swarm id; by default the manifest URL without its query.
    pub swarm_id: Option<String>,
    /// Seed of every random choice, so runs can be replayed.
    pub seed: u64,
    /// Open connections per swarm at most, counting those being set up.
    /// P2P Media Loader has no cap and ends up connected to nearly the whole
    /// swarm, each link costing CPU and announcements.
    pub max_peers_per_swarm: usize,
    /// How new segments get into the swarm over HTTP.
    pub seeding: Seeding,
    /// Extra seconds of slack kept before a segment is due, on top of the
    /// estimated HTTP download time: when less remains, HTTP takes over.
    /// P2P Media Loader instead sends everything within 15 s to HTTP, which
    /// leaves short live windows with no P2P at all.
    pub http_safety_margin: f64,
    /// Uploads served at once; further requests are answered
    /// `SegmentAbsent` at once, so the requester asks another holder instead
    /// of timing out behind a saturated uplink (P2P Media Loader serves every
    /// request at once, and its downloaders time out after 2 s).
    pub max_concurrent_uploads: usize,
    /// Connected peers per HTTP seeder of a new segment: with 19 peers (20
    /// counting us), 1 fetches it; with 20, 2 do. More seeders spread a
    /// segment faster; each costs origin egress. With live seeding by early
    /// listers and pre-emption of upload slots for segments only we hold,
    /// 20 beats 10 (seeds 1–2: live-long-20 88.2–88.8% -> 91.8%,
    /// live-short-100 88.3–88.5% -> 90.7–90.8%) except on slow-peers
    /// (59–61% -> 49–55%). P2P Media Loader has no such setting (it seeds
    /// at random, see [`Seeding::Random`]).
    pub peers_per_seeder: usize,
    /// Stream segments to our own peers while they still arrive (extension
    /// commands that P2P Media Loader peers ignore). A segment then reaches
    /// a whole swarm in about one download time plus a few link latencies,
    /// instead of one download time per hop.
    pub relay: bool,
    /// After playback starts, how long we wait for a first peer before
    /// seeding new segments over HTTP alone (a later rendition switch has
    /// no grace: the player is running); segments the player needs soon
    /// are fetched over HTTP regardless. In Chromium every newcomer to a
    /// 20-segment live window fetched all of it within half a second, before
    /// the tracker had introduced it to the peers who held it: a 3 s grace
    /// took 4 viewers from 58% to 69% P2P. In the simulator the same grace
    /// costs 1.5–2 points (live-short-20, live-long-20, seeds 1–3), a gap
    /// not yet understood, so the default here is 0 and the browser host
    /// sets 3 s. P2P Media Loader's `httpDownloadInitialTimeoutMs` (0 by
    /// default) delays every HTTP download instead.
    pub seeding_grace: Duration,
    /// Live coordinated seeding: the peers whose playlists list a new
    /// segment within this long of the first to list it share its seeding
    /// (rendezvous hashing over segment ids), and later ones never seed; the
    /// first two listers always share, however far apart. Seeding by early
    /// listers gives a segment longer to spread before players need it;
    /// the first lister alone would get nothing over P2P and carry the
    /// swarm on its uplink. Over seeds 1–3 (simulator): 0.1 s left one of
    /// 4 viewers with no P2P at all; 1 s gave live-long-20 91.5–91.9% P2P
    /// (86.6% without `Listed`), live-short-100 90.7–91.0% (90.1–90.5%),
    /// and every viewer of 4 at least 46%; 0.7 s and 1.5 s measured worse.
    pub seeding_lead_window: Duration,
    /// Bytes fetched ahead of the playhead at most (P2P Media Loader bounds
    /// prefetch by time only: up to 100 minutes of VOD, its issue #434).
    pub max_prefetch_bytes: u64,
}

/// How segments nobody in the swarm has yet are fetched over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seeding {
    /// Each segment is fetched early by one peer chosen by rendezvous hashing
    /// over the connected swarm (every peer computes the same choice from
    /// the peer ids it knows); the others wait for it over P2P. Live, the
    /// choice is made among the peers whose playlists list new segments
    /// early (our peers tell each other with the `Listed` extension; see
    /// [`CommonConfig::seeding_lead_window`]).
    Coordinated,
    /// P2P Media Loader's way: each peer fetches each new segment with
    /// probability about 1/(peers + 1).
    Random,
    /// This peer fetches every segment in its HTTP window that no connected
    /// peer holds, at once: an origin-pull edge seeder (eCDN), which
    /// must hold the whole stream as early as the origin has it, whatever
    /// its peers can do.
    All,
}

/// [`CommonConfig::seeding_lead_window`]'s default, in milliseconds.
const LEAD_WINDOW_MS: u64 = 1000;

impl Default for CommonConfig {
    fn default() -> Self {
        Self {
            storage_limit_bytes: 4096 << 20,
            announce_trackers: Vec::new(),
            peer_id_prefix: p2pml_proto::identity::DEFAULT_PEER_ID_PREFIX.to_owned(),
            swarm_id: None,
            seed: 0,
            max_peers_per_swarm: 24,
            seeding: Seeding::Coordinated,
            http_safety_margin: 0.5,
            max_concurrent_uploads: 2,
            peers_per_seeder: 20,
            relay: true,
            max_prefetch_bytes: 64 << 20,
            seeding_grace: Duration::ZERO,
            seeding_lead_window: Duration::from_millis(LEAD_WINDOW_MS),
        }
    }
}
