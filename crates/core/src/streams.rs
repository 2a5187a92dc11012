//! Streams (renditions) and their segments, as the player integration
//! reports them (SPEC §3.5–3.7, §6.3).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use p2pml_proto::identity::{InfoHash, StreamType, stream_swarm_id};

use crate::storage::StreamKey;

/// The host's handle for a stream (hls.js: the playlist URL; Shaka: the
/// stream id). Any value, unique per engine.
pub type StreamId = u32;

/// One media segment of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentInfo {
    /// The id on the wire: the media sequence number for live HLS, the
    /// 0-based position for VOD HLS, `trunc(start / 0.5)` for DASH.
    pub id: i64,
    /// Where to fetch it over HTTP.
    pub url: String,
    /// A byte range within `url` (end exclusive), for byte-range playlists.
    pub byte_range: Option<Range<u64>>,
    /// Start, in seconds of media.
    pub start: f64,
    /// End, in seconds of media.
    pub end: f64,
}

impl SegmentInfo {
    /// Duration in seconds.
    pub fn duration(&self) -> f64 {
        (self.end - self.start).max(0.0)
    }

    /// The size if the playlist says it (byte range).
    pub fn known_size(&self) -> Option<u64> {
        self.byte_range
            .as_ref()
            .map(|r| r.end.saturating_sub(r.start))
    }
}

/// A stream and its segments in playlist order.
#[derive(Debug, Clone)]
pub struct Stream {
    /// The host's handle.
    pub id: StreamId,
    /// Main or secondary.
    pub stream_type: StreamType,
    /// `v2-{swarmId}-{type}-{index}`: storage key and info-hash pre-image.
    pub key: StreamKey,
    /// The tracker info hash of this stream's swarm.
    pub info_hash: InfoHash,
    /// Segments by id, in playlist order (ids increase along the playlist).
    segments: BTreeMap<i64, SegmentInfo>,
}

impl Stream {
    /// A stream of `swarm_id` with short id `index`.
    pub fn new(id: StreamId, stream_type: StreamType, swarm_id: &str, index: &str) -> Self {
        let key: StreamKey = Arc::from(stream_swarm_id(swarm_id, stream_type, index));
        let info_hash = InfoHash::from_stream_swarm_id(&key);
        Self {
            id,
            stream_type,
            key,
            info_hash,
            segments: BTreeMap::new(),
        }
    }

    /// Adds or replaces segments and removes others (a playlist refresh).
    pub fn update(&mut self, add: Vec<SegmentInfo>, remove: &[i64]) {
        for id in remove {
            self.segments.remove(id);
        }
        for s in add {
            self.segments.insert(s.id, s);
        }
    }

    /// A segment by id.
    pub fn segment(&self, id: i64) -> Option<&SegmentInfo> {
        self.segments.get(&id)
    }

    /// Segments from `id` on, in playlist order.
    pub fn from(&self, id: i64) -> impl Iterator<Item = &SegmentInfo> {
        self.segments.range(id..).map(|(_, s)| s)
    }

    /// All segments in playlist order.
    pub fn segments(&self) -> impl Iterator<Item = &SegmentInfo> {
        self.segments.values()
    }

    /// The last segment (the live edge).
    pub fn last(&self) -> Option<&SegmentInfo> {
        self.segments.values().next_back()
    }

    /// The segment playing at `position`, or the next one after it.
    pub fn at(&self, position: f64) -> Option<&SegmentInfo> {
        self.segments.values().find(|s| s.end > position)
    }

    /// Mean segment duration, for thresholds (P2P Media Loader uses it too).
    #[expect(clippy::cast_precision_loss, reason = "an average")]
    pub fn average_duration(&self) -> f64 {
        if self.segments.is_empty() {
            return 0.0;
        }
        self.segments
            .values()
            .map(SegmentInfo::duration)
            .sum::<f64>()
            / self.segments.len() as f64
    }

    /// Whether the stream holds a segment.
    pub fn contains(&self, id: i64) -> bool {
        self.segments.contains_key(&id)
    }
}
