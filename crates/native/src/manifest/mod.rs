//! Manifests turned into streams and segments with the identities P2P Media
//! Loader peers compute (SPEC §3), so that native peers and browsers
//! watching the same presentation meet in the same swarms and agree on
//! segment ids:
//!
//! - [`hls`]: master playlists (one `main` stream per `EXT-X-STREAM-INF`, one
//!   `secondary` per `EXT-X-MEDIA TYPE=AUDIO`, described as hls.js describes
//!   them) and media playlists (byte ranges, discontinuities, live refresh;
//!   ids are media sequence numbers when live, 0-based positions for VOD);
//! - [`dash`]: MPDs, static and dynamic, with `SegmentTemplate`
//!   (`$Number$`, `$Time$`, `SegmentTimeline`), `SegmentList` and
//!   `SegmentBase` (byte ranges from the `sidx` box); ids are
//!   `trunc(start / 0.5)` as Shaka computes them.

pub mod dash;
pub mod hls;
mod sidx;

use p2pml_core::streams::SegmentInfo;
use p2pml_proto::identity::{StreamDescriptor, StreamType};

/// A manifest that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The text is not an HLS playlist.
    #[error("not an HLS playlist: {0}")]
    Hls(String),
    /// The text is not a usable MPD.
    #[error("not a usable DASH MPD: {0}")]
    Dash(String),
    /// A URI in the manifest cannot be resolved.
    #[error("bad URI {uri:?}: {reason}")]
    BadUri {
        /// The URI as written.
        uri: String,
        /// Why.
        reason: String,
    },
    /// A `sidx` box (SegmentBase index) cannot be read.
    #[error("bad segment index (sidx): {0}")]
    BadIndex(String),
}

/// One rendition: a stream of segments with its swarm identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendition {
    /// `main` (video, or audio-only variants) or `secondary` (alternative audio).
    pub stream_type: StreamType,
    /// What P2P Media Loader hashes into the stream's short id.
    pub descriptor: StreamDescriptor,
    /// Where its segments are listed: the media playlist URL (HLS), or the
    /// representation id (DASH).
    pub uri: String,
}

impl Rendition {
    /// The stream short id (`index` in the stream swarm id).
    pub fn short_id(&self) -> String {
        self.descriptor.short_id()
    }
}

/// A media segment, with what a player's view of it needs beyond the engine's.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The engine's description (id on the wire, URL, byte range, times).
    pub info: SegmentInfo,
    /// A discontinuity precedes it (HLS `EXT-X-DISCONTINUITY`, DASH period start).
    pub discontinuity: bool,
}

/// Resolves `uri` against `base`.
///
/// ```
/// use p2pml_native::manifest::resolve;
/// let base = url::Url::parse("http://cdn.example/hls/master.m3u8?t=1").unwrap();
/// assert_eq!(resolve(&base, "240p/index.m3u8").unwrap().as_str(), "http://cdn.example/hls/240p/index.m3u8");
/// assert_eq!(resolve(&base, "/x.ts").unwrap().as_str(), "http://cdn.example/x.ts");
/// ```
///
/// # Errors
/// [`ManifestError::BadUri`] when the URI cannot be joined.
pub fn resolve(base: &url::Url, uri: &str) -> Result<url::Url, ManifestError> {
    base.join(uri.trim()).map_err(|e| ManifestError::BadUri {
        uri: uri.to_owned(),
        reason: e.to_string(),
    })
}

/// Sample entries hls.js knows as video (`sampleEntryCodesISO.video`).
const VIDEO_ENTRIES: &[&str] = &[
    "avc1", "avc2", "avc3", "avc4", "avcp", "av01", "drac", "dva1", "dvav", "dvh1", "dvhe", "encv",
    "hev1", "hvc1", "mjp2", "mp4v", "mvc1", "mvc2", "mvc3", "mvc4", "resv", "rv60", "s263", "svc1",
    "svc2", "vc-1", "vp08", "vp09",
];

/// Sample entries hls.js knows as audio (`sampleEntryCodesISO.audio`).
const AUDIO_ENTRIES: &[&str] = &[
    "a3ds", "ac-3", "ac-4", "alac", "alaw", "dra1", "dts+", "dts-", "dtsc", "dtse", "dtsh", "ec-3",
    "enca", "fLaC", "flac", "FLAC", "g719", "g726", "m4ae", "mha1", "mha2", "mhm1", "mhm2", "mlpa",
    "mp4a", "raw ", "Opus", "opus", "samr", "sawb", "sawp", "sevc", "sqcp", "ssmv", "twos", "ulaw",
];

/// The codecs of one kind from a `CODECS` attribute, as hls.js files them
/// (`videoCodec`, `audioCodec`): split on spaces and commas, matched by
/// their first four characters, anything after `/` cut.
///
/// ```
/// use p2pml_native::manifest::{CodecKind, codecs_of};
/// assert_eq!(codecs_of("avc1.4d4015,mp4a.40.2", CodecKind::Video).as_deref(), Some("avc1.4d4015"));
/// assert_eq!(codecs_of("avc1.4d4015,mp4a.40.2", CodecKind::Audio).as_deref(), Some("mp4a.40.2"));
/// assert_eq!(codecs_of("mp4a.40.2", CodecKind::Video), None);
/// ```
pub fn codecs_of(codecs: &str, kind: CodecKind) -> Option<String> {
    let table = match kind {
        CodecKind::Video => VIDEO_ENTRIES,
        CodecKind::Audio => AUDIO_ENTRIES,
    };
    let found: Vec<&str> = codecs
        .split([' ', ','])
        .filter(|c| !c.is_empty())
        .filter(|c| table.contains(&c.get(..4).unwrap_or(c)))
        .map(|c| c.split('/').next().unwrap_or(c))
        .collect();
    (!found.is_empty()).then(|| found.join(","))
}

/// Which codecs to pick from a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecKind {
    /// Video sample entries.
    Video,
    /// Audio sample entries.
    Audio,
}
