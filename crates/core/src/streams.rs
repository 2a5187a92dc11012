//! Streams (renditions) and their segments, as the player integration
//! reports them (SPEC §3.5–3.7, §6.3).

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::sync::Arc;

use p2pml_proto::identity::{InfoHash, StreamType, stream_swarm_id};

use crate::storage::StreamKey;
use crate::time::Instant;

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
    /// When our playlist first listed each newest segment (live).
    pub listed: ListedLog,
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
            listed: ListedLog::default(),
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

/// When a live playlist (ours, or a peer's as its `Listed` extension said)
/// first listed its newest segments: the last few times its newest id grew.
/// A playlist lists every id up to its newest, so an id was known from the
/// first entry at or above it.
#[derive(Debug, Clone, Default)]
pub struct ListedLog(VecDeque<(i64, Instant)>);

/// Entries kept: 16 s of 2 s segments; seeding looks back one refresh.
const LISTED_LOG_LEN: usize = 8;

impl ListedLog {
    /// Records that the newest listed id is `id` at `now`; ignored unless
    /// it is newer than the last one recorded.
    pub fn push(&mut self, id: i64, now: Instant) {
        if self.0.back().is_none_or(|(last, _)| id > *last) {
            if self.0.len() == LISTED_LOG_LEN {
                self.0.pop_front();
            }
            self.0.push_back((id, now));
        }
    }

    /// When `id` was first listed; `None` if it is not listed yet. For an
    /// id older than the log, the log's first entry (an upper bound).
    pub fn listed_at(&self, id: i64) -> Option<Instant> {
        self.0
            .iter()
            .find(|(newest, _)| *newest >= id)
            .map(|(_, at)| *at)
    }

    /// The newest id listed.
    pub fn newest(&self) -> Option<i64> {
        self.0.back().map(|(id, _)| *id)
    }

    /// Whether this (a peer's) log still keeps up with `mine`: it lists
    /// at least the segment before our newest. A peer whose playlist
    /// stopped growing (its process died while the connection has not yet
    /// timed out, or its player stalled) falls behind within one segment.
    pub fn keeps_up_with(&self, mine: &Self) -> bool {
        match (self.newest(), mine.newest()) {
            (Some(theirs), Some(ours)) => theirs >= ours - 1,
            (_, None) => true,
            (None, Some(_)) => false,
        }
    }

    /// Seconds this playlist lists new segments after `other` does
    /// (negative: before), the least over the ids both logs recorded as
    /// their newest: every sample is late by the message's transit, so the
    /// least is the closest. `None` without a common id.
    pub fn delay_after(&self, other: &Self) -> Option<f64> {
        self.0
            .iter()
            .filter_map(|(id, at)| {
                let (_, theirs) = other.0.iter().find(|(o, _)| o == id)?;
                Some(at.as_secs_f64() - theirs.as_secs_f64())
            })
            .reduce(f64::min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn listed_log_answers_the_first_listing_at_or_above_an_id() {
        let t = |s: u64| Instant::ZERO + Duration::from_secs(s);
        let mut log = ListedLog::default();
        assert_eq!(log.listed_at(5), None);
        log.push(10, t(1));
        log.push(9, t(2));
        log.push(12, t(3));
        assert_eq!(log.listed_at(4), Some(t(1)));
        assert_eq!(log.listed_at(11), Some(t(3)));
        assert_eq!(log.listed_at(13), None);
        assert_eq!(log.newest(), Some(12));
        let mut mine = ListedLog::default();
        assert!(log.keeps_up_with(&mine));
        mine.push(13, t(4));
        assert!(log.keeps_up_with(&mine), "one segment behind");
        mine.push(14, t(6));
        assert!(!log.keeps_up_with(&mine), "two behind: it stopped");
        assert!(!ListedLog::default().keeps_up_with(&mine));
        for i in 0..LISTED_LOG_LEN as u64 {
            log.push(13 + i as i64, t(4 + i));
        }
        // The oldest entries are gone: old ids answer the log's first entry.
        assert_eq!(log.listed_at(10), Some(t(4)));
    }

    #[test]
    fn delay_after_is_the_least_over_common_ids() {
        let ms = |m: u64| Instant::from_millis(m);
        let mut mine = ListedLog::default();
        let mut theirs = ListedLog::default();
        mine.push(5, ms(10_000));
        assert_eq!(theirs.delay_after(&mine), None);
        // They joined late: their first entry lists several ids at once.
        theirs.push(5, ms(11_000));
        mine.push(6, ms(12_000));
        theirs.push(6, ms(11_600));
        mine.push(7, ms(14_000));
        theirs.push(7, ms(13_500));
        let d = theirs.delay_after(&mine).unwrap();
        assert!((d + 0.5).abs() < 1e-9, "{d}");
        // Seen from them, we listed segment 5 a second before they joined.
        assert!((mine.delay_after(&theirs).unwrap() + 1.0).abs() < 1e-9);
    }
}
