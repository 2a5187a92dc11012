//! One presentation seen through the proxy: its engine, its streams and the
//! segments the player may ask for, and the playback position inferred
//! from the player's requests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Mutex;

use p2pml_core::engine::Input;
use p2pml_core::streams::{SegmentInfo, StreamId};
use p2pml_proto::identity::StreamType;

use crate::NativeEngine;
use crate::manifest::{Rendition, Segment, hls::Timeline};

/// Segments remembered per stream for the player's requests (a live window
/// slides on; the player may still ask for what it saw last).
const KNOWN_PER_STREAM: usize = 4096;
/// URL lookups remembered per presentation (DASH).
const URL_TABLE_LIMIT: usize = 65_536;

/// A stream of the presentation.
#[derive(Debug)]
pub(crate) struct StreamState {
    pub(crate) rendition: Rendition,
    pub(crate) timeline: Timeline,
    /// Segments by id, for the player's requests.
    pub(crate) known: BTreeMap<i64, SegmentInfo>,
    /// Ids of the playlist's latest version, as the engine knows them.
    current: BTreeSet<i64>,
}

/// What changed in a stream after a playlist (re)load.
#[derive(Debug, Default)]
pub(crate) struct StreamUpdate {
    pub(crate) add: Vec<SegmentInfo>,
    pub(crate) remove: Vec<i64>,
}

/// Where the player is, inferred from which segment it asks for when.
#[derive(Debug, Default)]
struct PlaybackEstimate {
    last: Option<(tokio::time::Instant, f64)>,
    rate: Option<f64>,
}

impl PlaybackEstimate {
    /// A request for media starting at `start`: the player has played up
    /// to about there (it asks for the next segment as it needs it). The
    /// rate is media seconds requested per wall second, smoothed; a player
    /// filling its buffer asks faster than real time, and the engine then
    /// looks further ahead.
    fn request(&mut self, now: tokio::time::Instant, start: f64) -> (f64, f64) {
        if let Some((at, pos)) = self.last {
            let wall = (now - at).as_secs_f64();
            if start > pos && wall > 0.05 {
                let rate = ((start - pos) / wall).clamp(0.25, 8.0);
                self.rate = Some(self.rate.map_or(rate, |r| 0.7 * r + 0.3 * rate));
            }
        }
        if self
            .last
            .is_none_or(|(_, pos)| start >= pos || pos - start > 30.0)
        {
            self.last = Some((now, start));
        }
        (start, self.rate.unwrap_or(1.0))
    }
}

/// A resource and byte range a player may ask for.
type UrlKey = (String, Option<Range<u64>>);

/// The mutable part of a presentation.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) streams: BTreeMap<StreamId, StreamState>,
    /// DASH: (URL, byte range) → segment.
    pub(crate) urls: HashMap<UrlKey, (StreamId, i64)>,
    /// DASH: what segment paths are relative to (the MPD's own base).
    pub(crate) dash_base: Option<url::Url>,
    /// A dynamic MPD, read again by the proxy itself (a player may never fetch it again).
    pub(crate) dash_refresh: Option<DashRefresh>,
    playback: PlaybackEstimate,
    live: Option<bool>,
}

/// When and where a dynamic MPD is read again.
#[derive(Debug, Clone)]
pub(crate) struct DashRefresh {
    /// The MPD's URL after redirects.
    pub(crate) url: url::Url,
    /// `minimumUpdatePeriod` (at least 500 ms).
    pub(crate) every: std::time::Duration,
    /// The last read.
    pub(crate) last: tokio::time::Instant,
}

/// One manifest URL the proxy serves, with its own engine.
#[derive(Debug)]
pub(crate) struct Presentation {
    pub(crate) id: u32,
    pub(crate) engine: NativeEngine,
    /// The manifest URL after redirects: base of relative URIs, swarm id.
    pub(crate) final_url: Mutex<Option<url::Url>>,
    pub(crate) state: Mutex<State>,
    last_used: Mutex<tokio::time::Instant>,
}

impl Presentation {
    pub(crate) fn new(id: u32, engine: NativeEngine) -> Self {
        Self {
            id,
            engine,
            final_url: Mutex::new(None),
            state: Mutex::new(State::default()),
            last_used: Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// A player used it now.
    pub(crate) fn touch(&self) {
        *self
            .last_used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = tokio::time::Instant::now();
    }

    /// How long since a player last used it.
    pub(crate) fn idle(&self) -> std::time::Duration {
        self.last_used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .elapsed()
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data; keep serving.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers the renditions (first load only) and tells the engine.
    pub(crate) async fn add_renditions(&self, final_url: &url::Url, renditions: &[Rendition]) {
        let added: Vec<(StreamId, StreamType, String)> = {
            let mut first = self
                .final_url
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut state = self.lock();
            let new_presentation = first.is_none();
            *first = Some(final_url.clone());
            if !new_presentation && !state.streams.is_empty() {
                return;
            }
            renditions
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let id = StreamId::try_from(i + 1).unwrap_or(StreamId::MAX);
                    state.streams.insert(
                        id,
                        StreamState {
                            rendition: r.clone(),
                            timeline: Timeline::default(),
                            known: BTreeMap::new(),
                            current: BTreeSet::new(),
                        },
                    );
                    (id, r.stream_type, r.short_id())
                })
                .collect()
        };
        if added.is_empty() {
            return;
        }
        self.engine
            .input(Input::ManifestUrl(final_url.to_string()))
            .await;
        for (stream, stream_type, index) in added {
            self.engine
                .input(Input::AddStream {
                    stream,
                    stream_type,
                    index,
                })
                .await;
        }
    }

    /// Records a stream's latest segments; returns what the engine must hear.
    pub(crate) fn diff(&self, stream: StreamId, segments: &[Segment]) -> StreamUpdate {
        let mut state = self.lock();
        let mut new_urls = Vec::new();
        let update = {
            let Some(s) = state.streams.get_mut(&stream) else {
                return StreamUpdate::default();
            };
            let ids: BTreeSet<i64> = segments.iter().map(|s| s.info.id).collect();
            let remove: Vec<i64> = s.current.difference(&ids).copied().collect();
            let mut add = Vec::new();
            for seg in segments {
                let changed = s.known.get(&seg.info.id) != Some(&seg.info);
                if changed || !s.current.contains(&seg.info.id) {
                    add.push(seg.info.clone());
                }
                if changed {
                    s.known.insert(seg.info.id, seg.info.clone());
                    new_urls.push((
                        seg.info.url.clone(),
                        seg.info.byte_range.clone(),
                        seg.info.id,
                    ));
                }
            }
            while s.known.len() > KNOWN_PER_STREAM {
                s.known.pop_first();
            }
            s.current = ids;
            StreamUpdate { add, remove }
        };
        for (url, range, id) in new_urls {
            if state.urls.len() >= URL_TABLE_LIMIT {
                state.urls.clear();
            }
            state.urls.insert((url, range), (stream, id));
        }
        update
    }

    /// Tells the engine about a playlist load.
    pub(crate) async fn update_engine(&self, stream: StreamId, update: StreamUpdate, live: bool) {
        let live_changed = {
            let mut state = self.lock();
            let changed = state.live != Some(live);
            state.live = Some(live);
            changed
        };
        if live_changed {
            self.engine.input(Input::Live(live)).await;
        }
        if !update.add.is_empty() || !update.remove.is_empty() {
            self.engine
                .input(Input::UpdateStream {
                    stream,
                    add: update.add,
                    remove: update.remove,
                })
                .await;
        }
    }

    /// A segment the player asked for, by stream and id.
    pub(crate) fn segment(&self, stream: StreamId, id: i64) -> Option<SegmentInfo> {
        self.lock()
            .streams
            .get(&stream)
            .and_then(|s| s.known.get(&id))
            .cloned()
    }

    /// A segment by its URL and byte range (DASH requests).
    pub(crate) fn segment_by_url(
        &self,
        url: &str,
        range: Option<Range<u64>>,
    ) -> Option<(StreamId, SegmentInfo)> {
        let state = self.lock();
        let (stream, id) = *state.urls.get(&(url.to_owned(), range))?;
        let info = state.streams.get(&stream)?.known.get(&id)?.clone();
        Some((stream, info))
    }

    /// The player asked for `segment`: report the inferred playhead.
    pub(crate) async fn playing(&self, segment: &SegmentInfo) {
        let (position, rate) = self
            .lock()
            .playback
            .request(tokio::time::Instant::now(), segment.start);
        self.engine.input(Input::Playback { position, rate }).await;
    }

    /// The origin URL of a stream's playlist (HLS).
    pub(crate) fn stream_uri(&self, stream: StreamId) -> Option<String> {
        self.lock()
            .streams
            .get(&stream)
            .map(|s| s.rendition.uri.clone())
    }

    /// Runs `f` on a stream's timeline (HLS live numbering).
    pub(crate) fn with_timeline<T>(
        &self,
        stream: StreamId,
        f: impl FnOnce(&mut Timeline) -> T,
    ) -> Option<T> {
        self.lock()
            .streams
            .get_mut(&stream)
            .map(|s| f(&mut s.timeline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playback_rate_follows_requests() {
        let mut p = PlaybackEstimate::default();
        let t0 = tokio::time::Instant::now();
        assert_eq!(p.request(t0, 10.0), (10.0, 1.0));
        // 2 s of media per second of wall time: a player filling its buffer.
        let (pos, rate) = p.request(t0 + std::time::Duration::from_secs(1), 12.0);
        assert_eq!(pos, 12.0);
        assert!((rate - 2.0).abs() < 1e-9, "{rate}");
        // Real time from then on pulls the estimate towards 1.
        let (_, rate) = p.request(t0 + std::time::Duration::from_secs(3), 14.0);
        assert!(rate < 2.0 && rate > 1.0, "{rate}");
    }
}
