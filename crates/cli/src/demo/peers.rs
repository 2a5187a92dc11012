//! `--peers N`: native peers in this process (`p2pml_native`'s seeder, one engine per
//! rendition), N on each stream a page is watching, so that a single browser tab already
//! trades segments with peers.
//!
//! A page reports the stream it plays every few seconds (`POST /api/watch`). The first report
//! of a stream starts its N peers; streams nobody has reported for [`IDLE`] are dropped, and
//! at most [`MAX_STREAMS`] are kept (the least recently watched goes first), so switching
//! streams in the page does not pile up engines.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use p2pml_native::NativeConfig;
use p2pml_native::seed::{SeedConfig, Seeder};
use p2pml_native::stats::StatsSnapshot;
use serde_json::{Value, json};

/// Streams with native peers at once, at most.
pub(crate) const MAX_STREAMS: usize = 3;
/// A stream no page has reported for this long loses its native peers.
pub(crate) const IDLE: Duration = Duration::from_secs(120);
/// A stream whose peers failed to start is tried again after this long.
const RETRY: Duration = Duration::from_secs(10);

/// The native peers of one stream.
#[derive(Default)]
struct Peers {
    seeders: Vec<Seeder>,
    error: Option<String>,
    starting: bool,
}

struct Entry {
    last_watched: Instant,
    started_at: Instant,
    peers: Arc<Mutex<Peers>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        // Dropping the seeders (with the entry's `peers`) stops their engines; this stops a
        // start still under way.
        self.task.abort();
    }
}

/// The native peers of every watched stream.
pub(crate) struct Pool {
    per_stream: usize,
    native: NativeConfig,
    runtime: tokio::runtime::Handle,
    streams: Mutex<HashMap<String, Entry>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing holding these locks can leave the data half-updated.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pool {
    /// `per_stream` peers with `native`'s settings for each watched stream, started on
    /// `runtime`.
    pub(crate) fn new(
        per_stream: usize,
        native: NativeConfig,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self {
            per_stream,
            native,
            runtime,
            streams: Mutex::new(HashMap::new()),
        }
    }

    /// A page plays `url`: start its peers if it has none (or their start failed a while
    /// ago), and drop the streams nobody watches any more.
    pub(crate) fn watch(&self, url: &str) {
        if self.per_stream == 0 {
            return;
        }
        let now = Instant::now();
        let mut streams = lock(&self.streams);
        let retry = streams.get(url).is_some_and(|e| {
            let p = lock(&e.peers);
            p.error.is_some() && !p.starting && now.duration_since(e.started_at) >= RETRY
        });
        if retry {
            streams.remove(url);
        }
        match streams.get_mut(url) {
            Some(entry) => entry.last_watched = now,
            None => {
                let entry = self.start(url);
                streams.insert(url.to_owned(), entry);
            }
        }
        streams.retain(|_, e| now.duration_since(e.last_watched) < IDLE);
        while streams.len() > MAX_STREAMS {
            let oldest = streams
                .iter()
                .min_by_key(|(_, e)| e.last_watched)
                .map(|(url, _)| url.clone());
            match oldest {
                Some(url) => {
                    tracing::info!(%url, "demo: native peers leave an unwatched stream");
                    streams.remove(&url);
                }
                None => break,
            }
        }
    }

    fn start(&self, url: &str) -> Entry {
        let peers = Arc::new(Mutex::new(Peers {
            starting: true,
            ..Peers::default()
        }));
        let config = SeedConfig {
            native: self.native.clone(),
            manifest: url.to_owned(),
            renditions: Vec::new(),
        };
        let (n, slot, url_owned) = (self.per_stream, peers.clone(), url.to_owned());
        let task = self.runtime.spawn(async move {
            for _ in 0..n {
                match Seeder::start(config.clone()).await {
                    Ok(seeder) => lock(&slot).seeders.push(seeder),
                    Err(e) => {
                        tracing::warn!(url = %url_owned, error = %e, "demo: a native peer could not start");
                        lock(&slot).error = Some(e.to_string());
                        break;
                    }
                }
            }
            lock(&slot).starting = false;
            tracing::info!(url = %url_owned, peers = lock(&slot).seeders.len(), "demo: native peers joined");
        });
        let now = Instant::now();
        Entry {
            last_watched: now,
            started_at: now,
            peers,
            task,
        }
    }

    /// Every native peer's counters, summed.
    pub(crate) fn totals(&self) -> StatsSnapshot {
        lock(&self.streams)
            .values()
            .flat_map(|e| {
                lock(&e.peers)
                    .seeders
                    .iter()
                    .map(Seeder::stats)
                    .collect::<Vec<_>>()
            })
            .fold(StatsSnapshot::default(), |a, b| a + b)
    }

    /// Per stream: its peers' state and counters (part of `/api/status`).
    pub(crate) fn to_json(&self) -> Value {
        let streams = lock(&self.streams);
        let mut list: Vec<(&String, &Entry)> = streams.iter().collect();
        list.sort_by_key(|(_, e)| std::cmp::Reverse(e.last_watched));
        let list: Vec<Value> = list
            .into_iter()
            .map(|(url, e)| {
                let p = lock(&e.peers);
                let s = p
                    .seeders
                    .iter()
                    .map(Seeder::stats)
                    .fold(StatsSnapshot::default(), |a, b| a + b);
                json!({
                    "url": url,
                    "peers": p.seeders.len(),
                    "starting": p.starting,
                    "error": p.error,
                    "httpBytes": s.http_bytes,
                    "p2pBytes": s.p2p_bytes,
                    "uploadedBytes": s.uploaded_bytes,
                    "connections": s.peers,
                })
            })
            .collect();
        json!({ "perStream": self.per_stream, "streams": list })
    }

    /// Stops every native peer.
    pub(crate) fn clear(&self) {
        lock(&self.streams).clear();
    }
}
