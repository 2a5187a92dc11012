//! The segment store: what a peer holds, announces and serves (SPEC §5).
//!
//! [`SegmentStorage`] is the pluggable interface (P2P Media Loader's
//! `customSegmentStorageFactory`), synchronous because the engine is sans-IO:
//! a host with asynchronous storage keeps an index in memory and loads data
//! on its side. [`MemoryStorage`] is the default, with P2P Media Loader's
//! limits and eviction rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use p2pml_proto::identity::StreamType;

use crate::payload::Payload;

/// A stream's key in storage: its stream swarm id (`v2-{swarmId}-{type}-{index}`),
/// stable across sessions so persistent stores can use it.
pub type StreamKey = Arc<str>;

/// Where a segment sits in the presentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentTiming {
    /// Start time in seconds of media.
    pub start: f64,
    /// End time in seconds of media.
    pub end: f64,
    /// Main or secondary.
    pub stream_type: StreamType,
}

/// Capacity as the scheduler sees it: `used` counts only segments that still
/// matter (ending at or after the playhead), as P2P Media Loader does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Capacity in bytes.
    pub total: u64,
    /// Bytes held for the playhead and ahead.
    pub used: u64,
}

impl Usage {
    /// Free capacity in percent (P2P Media Loader's `availableMemoryPercent`).
    #[expect(clippy::cast_precision_loss, reason = "a percentage")]
    pub fn available_percent(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        100.0 - self.used as f64 / self.total as f64 * 100.0
    }
}

/// A segment store. Every method is cheap enough to call on each scheduling
/// pass (`has`, `stored_ids`, `usage` especially).
pub trait SegmentStorage<P: Payload> {
    /// Stores a segment, evicting by the store's rules first. Returns the
    /// streams whose stored set changed (they re-announce).
    fn store(
        &mut self,
        stream: &StreamKey,
        id: i64,
        data: P,
        timing: SegmentTiming,
    ) -> Vec<StreamKey>;
    /// The data of a stored segment.
    fn get(&self, stream: &StreamKey, id: i64) -> Option<P>;
    /// Whether a segment is stored.
    fn has(&self, stream: &StreamKey, id: i64) -> bool;
    /// Ids stored for a stream, ascending: the `l` list of its announcements.
    fn stored_ids(&self, stream: &StreamKey) -> Vec<i64>;
    /// Capacity and use.
    fn usage(&self) -> Usage;
    /// The playhead moved (seconds of media) at `rate`.
    fn update_playback(&mut self, position: f64, rate: f64);
    /// Whether the presentation is live (changes the eviction rule).
    fn set_live(&mut self, live: bool);
}

struct Item<P> {
    data: P,
    timing: SegmentTiming,
}

/// In-memory storage with P2P Media Loader's rules:
/// - before playback is known, nothing is evicted;
/// - **live**: on every store, segments that ended more than their stream
///   type's high-demand window (15 s by default) before the playhead go;
/// - **VOD**: only when the limit would be exceeded, segments that ended
///   before the playhead go, oldest start first, until the new one fits;
/// - segments at or ahead of the playhead are never evicted: if nothing is
///   behind, the new segment is stored over the limit, and the scheduler's
///   storage-pressure rules shrink its windows instead.
///
/// ```
/// use p2pml_core::payload::VirtualPayload;
/// use p2pml_core::storage::{MemoryStorage, SegmentStorage, SegmentTiming};
/// use p2pml_proto::identity::StreamType;
/// let mut store = MemoryStorage::new(1000, [15.0, 15.0]);
/// let key = "v2-s-main-x".into();
/// let timing = SegmentTiming { start: 0.0, end: 2.0, stream_type: StreamType::Main };
/// store.store(&key, 0, VirtualPayload::segment(0, 600), timing);
/// assert_eq!(store.stored_ids(&key), [0]);
/// ```
pub struct MemoryStorage<P> {
    streams: BTreeMap<StreamKey, BTreeMap<i64, Item<P>>>,
    bytes: u64,
    limit: u64,
    position: Option<f64>,
    live: bool,
    keep_behind_live: [f64; 2],
}

impl<P: Payload> MemoryStorage<P> {
    /// A store of `limit` bytes; live segments are kept `keep_behind_live`
    /// seconds behind the playhead, per stream type (main, secondary) —
    /// P2P Media Loader uses each type's high-demand window.
    pub fn new(limit: u64, keep_behind_live: [f64; 2]) -> Self {
        Self {
            streams: BTreeMap::new(),
            bytes: 0,
            limit,
            position: None,
            live: false,
            keep_behind_live,
        }
    }

    /// Bytes held in total.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn remove_where(&mut self, mut doomed: impl FnMut(&SegmentTiming) -> bool) -> Vec<StreamKey> {
        let mut changed = Vec::new();
        let mut freed = 0;
        for (key, items) in &mut self.streams {
            let before = items.len();
            items.retain(|_, item| {
                let go = doomed(&item.timing);
                if go {
                    freed += item.data.len() as u64;
                }
                !go
            });
            if items.len() != before {
                changed.push(key.clone());
            }
        }
        self.bytes -= freed;
        changed
    }

    fn evict_for(&mut self, incoming: u64) -> Vec<StreamKey> {
        let Some(position) = self.position else {
            return Vec::new();
        };
        if self.live {
            let [main, secondary] = self.keep_behind_live;
            return self.remove_where(|t| {
                let keep = match t.stream_type {
                    StreamType::Main => main,
                    StreamType::Secondary => secondary,
                };
                position > t.end + keep
            });
        }
        if self.bytes + incoming <= self.limit {
            return Vec::new();
        }
        // VOD: oldest start first, only what ended before the playhead.
        let mut behind: Vec<(f64, StreamKey, i64, u64)> = self
            .streams
            .iter()
            .flat_map(|(key, items)| {
                items
                    .iter()
                    .filter(|(_, item)| position > item.timing.end)
                    .map(|(id, item)| (item.timing.start, key.clone(), *id, item.data.len() as u64))
            })
            .collect();
        behind.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)));
        let mut changed: Vec<StreamKey> = Vec::new();
        for (_, key, id, len) in behind {
            if self.bytes + incoming <= self.limit {
                break;
            }
            if let Some(items) = self.streams.get_mut(&key) {
                items.remove(&id);
                self.bytes -= len;
                if !changed.contains(&key) {
                    changed.push(key);
                }
            }
        }
        changed
    }
}

impl<P: Payload> SegmentStorage<P> for MemoryStorage<P> {
    fn store(
        &mut self,
        stream: &StreamKey,
        id: i64,
        data: P,
        timing: SegmentTiming,
    ) -> Vec<StreamKey> {
        let len = data.len() as u64;
        let mut changed = self.evict_for(len);
        let items = self.streams.entry(stream.clone()).or_default();
        if let Some(old) = items.insert(id, Item { data, timing }) {
            self.bytes -= old.data.len() as u64;
        }
        self.bytes += len;
        if !changed.contains(stream) {
            changed.push(stream.clone());
        }
        changed
    }

    fn get(&self, stream: &StreamKey, id: i64) -> Option<P> {
        self.streams.get(stream)?.get(&id).map(|i| i.data.clone())
    }

    fn has(&self, stream: &StreamKey, id: i64) -> bool {
        self.streams
            .get(stream)
            .is_some_and(|items| items.contains_key(&id))
    }

    fn stored_ids(&self, stream: &StreamKey) -> Vec<i64> {
        self.streams
            .get(stream)
            .map(|items| items.keys().copied().collect())
            .unwrap_or_default()
    }

    fn usage(&self) -> Usage {
        let used = match self.position {
            None => self.bytes,
            Some(position) => self
                .streams
                .values()
                .flat_map(BTreeMap::values)
                .filter(|item| item.timing.end >= position)
                .map(|item| item.data.len() as u64)
                .sum(),
        };
        Usage {
            total: self.limit,
            used,
        }
    }

    fn update_playback(&mut self, position: f64, _rate: f64) {
        self.position = Some(position);
    }

    fn set_live(&mut self, live: bool) {
        self.live = live;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::VirtualPayload;

    fn timing(start: f64, stream_type: StreamType) -> SegmentTiming {
        SegmentTiming {
            start,
            end: start + 2.0,
            stream_type,
        }
    }

    fn fill(
        store: &mut MemoryStorage<VirtualPayload>,
        key: &StreamKey,
        ids: std::ops::Range<i64>,
        len: u64,
    ) {
        for id in ids {
            store.store(
                key,
                id,
                VirtualPayload::segment(id as u64, len),
                timing(id as f64 * 2.0, StreamType::Main),
            );
        }
    }

    #[test]
    fn vod_evicts_oldest_behind_the_playhead_only_when_full() {
        let key: StreamKey = "main".into();
        let mut store = MemoryStorage::new(1000, [15.0, 15.0]);
        fill(&mut store, &key, 0..10, 100);
        assert_eq!(store.bytes(), 1000);
        store.update_playback(9.0, 1.0); // segments 0..=3 ended before 9 s
        let changed = store.store(
            &key,
            10,
            VirtualPayload::segment(10, 250),
            timing(20.0, StreamType::Main),
        );
        assert_eq!(changed, std::slice::from_ref(&key));
        // 250 more bytes need 3 evictions: 0, 1, 2 (oldest first); 3 stays.
        assert_eq!(store.stored_ids(&key), [3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(store.bytes(), 950);
    }

    #[test]
    fn nothing_ahead_of_the_playhead_is_evicted_even_over_the_limit() {
        let key: StreamKey = "main".into();
        let mut store = MemoryStorage::new(300, [15.0, 15.0]);
        store.update_playback(0.0, 1.0);
        fill(&mut store, &key, 0..5, 100);
        assert_eq!(store.stored_ids(&key).len(), 5);
        let usage = store.usage();
        assert_eq!((usage.total, usage.used), (300, 500));
        assert!(usage.available_percent() < 0.0);
    }

    #[test]
    fn live_keeps_each_type_its_window_behind() {
        let (main, audio): (StreamKey, StreamKey) = ("main".into(), "audio".into());
        let mut store = MemoryStorage::new(u64::MAX, [15.0, 4.0]);
        store.set_live(true);
        for id in 0..10 {
            let t = id as f64 * 2.0;
            store.store(
                &main,
                id,
                VirtualPayload::segment(0, 10),
                timing(t, StreamType::Main),
            );
            store.store(
                &audio,
                id,
                VirtualPayload::segment(1, 1),
                timing(t, StreamType::Secondary),
            );
        }
        store.update_playback(30.0, 1.0);
        let changed = store.store(
            &main,
            10,
            VirtualPayload::segment(0, 10),
            timing(20.0, StreamType::Main),
        );
        // Main keeps segments ending after 15 s; audio those ending after 26 s.
        assert_eq!(store.stored_ids(&main), [7, 8, 9, 10]);
        assert!(store.stored_ids(&audio).is_empty());
        assert!(changed.contains(&main) && changed.contains(&audio));
    }

    #[test]
    fn usage_counts_only_what_still_matters_once_playback_is_known() {
        let key: StreamKey = "main".into();
        let mut store = MemoryStorage::new(10_000, [15.0, 15.0]);
        fill(&mut store, &key, 0..10, 100);
        assert_eq!(store.usage().used, 1000);
        store.update_playback(10.0, 1.0); // 0..=3 ended before 10 s; 4 ends at 10
        assert_eq!(store.usage().used, 600);
    }

    #[test]
    fn replacing_a_segment_keeps_the_byte_count_right() {
        let key: StreamKey = "main".into();
        let mut store = MemoryStorage::new(10_000, [15.0, 15.0]);
        fill(&mut store, &key, 0..1, 100);
        fill(&mut store, &key, 0..1, 40);
        assert_eq!(store.bytes(), 40);
        assert_eq!(store.get(&key, 0).map(|p| p.len()), Some(40));
        assert!(store.has(&key, 0) && !store.has(&key, 1));
    }
}
