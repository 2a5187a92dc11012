//! A headless peer (`p2pml seed`): it follows a live stream, or holds a VOD
//! title, and serves it to the swarm. One engine per rendition served (an
//! engine plays one main and one secondary stream at a time, like a
//! player). Each engine is told of a player parked at the oldest segment of
//! the live window (or at the start of a VOD title), so everything after it
//! is prefetch: from peers when they have it, over HTTP when the swarm's
//! rendezvous designates this peer, within the engine's windows and its
//! prefetch byte cap. The seeder itself decides nothing about sources.

use std::collections::BTreeSet;
use std::time::Duration;

use p2pml_core::engine::Input;
use p2pml_core::streams::StreamId;
use url::Url;

use crate::config::NativeConfig;
use crate::http::{HttpClient, HttpError};
use crate::manifest::hls::{self, HlsPlaylist, Timeline};
use crate::manifest::{ManifestError, Rendition, Segment, dash};
use crate::stats::StatsSnapshot;
use crate::{HostError, NativeEngine};

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedConfig {
    /// Each engine's settings (trackers, ICE, caps).
    pub native: NativeConfig,
    /// The manifest (HLS master or media playlist, or DASH MPD).
    pub manifest: String,
    /// Indexes of the renditions to serve (in manifest order); empty: all.
    pub renditions: Vec<usize>,
}

/// Why seeding stopped.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The manifest could not be fetched.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The manifest could not be read.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// An engine could not start.
    #[error(transparent)]
    Host(#[from] HostError),
    /// `--rendition` named a rendition the manifest does not have.
    #[error("no rendition {0} (the manifest has {1})")]
    NoRendition(usize, usize),
}

enum Kind {
    Hls,
    Dash,
}

/// A running seeder: one engine per rendition.
///
/// ```no_run
/// # async fn example() -> Result<(), p2pml_native::seed::SeedError> {
/// use p2pml_native::NativeConfig;
/// use p2pml_native::seed::{SeedConfig, Seeder};
///
/// let mut native = NativeConfig::default();
/// native.engine.common.announce_trackers = vec!["ws://127.0.0.1:8000".into()];
/// let seeder = Seeder::start(SeedConfig {
///     native,
///     manifest: "http://127.0.0.1:8080/live/20/hls-ts/master.m3u8".into(),
///     renditions: vec![0],
/// }).await?;
/// tokio::time::sleep(std::time::Duration::from_secs(60)).await;
/// println!("{}", seeder.stats());
/// # Ok(()) }
/// ```
pub struct Seeder {
    engines: Vec<NativeEngine>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Seeder {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Seeder {
    /// Reads the manifest and starts following the chosen renditions.
    ///
    /// # Errors
    /// [`SeedError`] if the manifest cannot be fetched or read, or names
    /// fewer renditions than asked for.
    pub async fn start(config: SeedConfig) -> Result<Self, SeedError> {
        let http = HttpClient::new(&config.native.http)?;
        let manifest = http.get_text(&config.manifest).await?;
        let final_url = Url::parse(&manifest.final_url).map_err(|e| ManifestError::BadUri {
            uri: manifest.final_url.clone(),
            reason: e.to_string(),
        })?;
        let (kind, renditions) = if manifest.text.contains("<MPD") {
            let mpd = dash::parse(&manifest.text, &final_url, unix_now())?;
            (
                Kind::Dash,
                mpd.renditions.into_iter().map(|r| r.rendition).collect(),
            )
        } else {
            match hls::parse(&manifest.text, &final_url)? {
                HlsPlaylist::Master(m) => (Kind::Hls, m.renditions),
                HlsPlaylist::Media(_) => (
                    Kind::Hls,
                    vec![Rendition {
                        stream_type: p2pml_proto::identity::StreamType::Main,
                        descriptor: p2pml_proto::identity::StreamDescriptor::default(),
                        uri: final_url.to_string(),
                    }],
                ),
            }
        };
        let chosen: Vec<usize> = if config.renditions.is_empty() {
            (0..renditions.len()).collect()
        } else {
            config.renditions.clone()
        };
        let mut engines = Vec::new();
        let mut tasks = Vec::new();
        for index in chosen {
            let rendition = renditions
                .get(index)
                .cloned()
                .ok_or(SeedError::NoRendition(index, renditions.len()))?;
            let engine = NativeEngine::start(config.native.clone())?;
            let stream = StreamId::try_from(index + 1).unwrap_or(StreamId::MAX);
            engine
                .input(Input::ManifestUrl(final_url.to_string()))
                .await;
            engine
                .input(Input::AddStream {
                    stream,
                    stream_type: rendition.stream_type,
                    index: rendition.short_id(),
                })
                .await;
            let follower = Follower {
                engine: engine.clone(),
                http: http.clone(),
                stream,
                rendition,
                manifest: final_url.clone(),
                dash: matches!(kind, Kind::Dash),
                timeline: Timeline::default(),
                current: BTreeSet::new(),
                joined: false,
                held_vod: false,
            };
            tasks.push(tokio::spawn(follower.run()));
            engines.push(engine);
        }
        Ok(Self { engines, tasks })
    }

    /// The counters of every engine, summed.
    pub fn stats(&self) -> StatsSnapshot {
        self.engines
            .iter()
            .map(NativeEngine::stats)
            .fold(StatsSnapshot::default(), |a, b| a + b)
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "milliseconds since 1970 fit in 2^53"
)]
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64 / 1000.0)
}

struct Follower {
    engine: NativeEngine,
    http: HttpClient,
    stream: StreamId,
    rendition: Rendition,
    manifest: Url,
    dash: bool,
    timeline: Timeline,
    current: BTreeSet<i64>,
    joined: bool,
    held_vod: bool,
}

impl Follower {
    /// The stream's segments now, whether it is live, and when to look again.
    async fn refresh(&mut self) -> Result<(Vec<Segment>, bool, Duration), String> {
        if self.dash {
            let text = self
                .http
                .get_text(self.manifest.as_str())
                .await
                .map_err(|e| e.to_string())?;
            let mpd =
                dash::parse(&text.text, &self.manifest, unix_now()).map_err(|e| e.to_string())?;
            let r = mpd
                .renditions
                .into_iter()
                .find(|r| r.rendition.uri == self.rendition.uri)
                .ok_or("representation gone from the MPD")?;
            let wait = mpd.minimum_update_period.unwrap_or(Duration::from_secs(2));
            return Ok((
                r.segments,
                mpd.dynamic,
                wait.max(Duration::from_millis(500)),
            ));
        }
        let text = self
            .http
            .get_text(&self.rendition.uri)
            .await
            .map_err(|e| e.to_string())?;
        let base = Url::parse(&text.final_url).map_err(|e| e.to_string())?;
        match hls::parse(&text.text, &base).map_err(|e| e.to_string())? {
            HlsPlaylist::Media(p) => {
                let segments =
                    hls::segments(&p, &base, &mut self.timeline).map_err(|e| e.to_string())?;
                let wait = Duration::from_secs(p.target_duration.max(1));
                Ok((segments, hls::is_live(&p), wait))
            }
            HlsPlaylist::Master(_) => {
                Err("a master playlist where a media playlist was expected".into())
            }
        }
    }

    async fn run(mut self) {
        let mut told_live = None;
        loop {
            let (segments, live, wait) = match self.refresh().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(uri = %self.rendition.uri, error = %e, "seed: playlist refresh failed");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            };
            if told_live != Some(live) {
                self.engine.input(Input::Live(live)).await;
                told_live = Some(live);
            }
            let ids: BTreeSet<i64> = segments.iter().map(|s| s.info.id).collect();
            let add = segments
                .iter()
                .filter(|s| !self.current.contains(&s.info.id))
                .map(|s| s.info.clone())
                .collect();
            let remove = self.current.difference(&ids).copied().collect();
            self.engine
                .input(Input::UpdateStream {
                    stream: self.stream,
                    add,
                    remove,
                })
                .await;
            self.current = ids;
            // A player parked at the oldest segment of the window (live) or
            // at the start of the title (VOD): every other segment is ahead
            // of it, so the engine prefetches them, from peers when one has
            // them and over HTTP when the swarm's rendezvous picks us.
            let Some(first) = segments.first() else {
                tokio::time::sleep(wait).await;
                continue;
            };
            let position = if live { first.info.start } else { 0.0 };
            self.engine
                .input(Input::Playback {
                    position,
                    rate: 1.0,
                })
                .await;
            if !self.joined {
                // One request makes the stream the active one (and joins
                // its swarm); it is answered in the background.
                self.joined = true;
                let (engine, stream, id) = (self.engine.clone(), self.stream, first.info.id);
                tokio::spawn(async move {
                    if let Err(e) = engine.load_segment(stream, id).await {
                        tracing::debug!(id, error = %e, "seed: first segment failed");
                    }
                });
            }
            if !live && !self.held_vod {
                self.held_vod = true;
                tracing::info!(uri = %self.rendition.uri, segments = segments.len(), "seed: holding a VOD title");
            }
            tokio::time::sleep(wait).await;
        }
    }
}
