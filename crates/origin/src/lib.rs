//! An HTTP/1.1 origin for tests, demos and benchmarks of P2P Media Loader–compatible peers.
//!
//! It serves a media directory (the repository's `media/`) the way a CDN would for a player:
//! content types for HLS and DASH, single `Range` requests (206, 416), `HEAD`, and CORS headers
//! so that pages from any origin can read the bytes and their length. Extra directories can be
//! mounted under URL prefixes (test pages, the demo, `node_modules`), and an [`Endpoint`] can
//! answer generated responses under its own prefix (the demo's JSON API).
//!
//! # Emulated live HLS
//!
//! Every HLS playlist under the media directory also exists as a live stream at
//! `/live/{window}/{path}`, where `window` is the number of segments the live playlists list
//! (1 to [`OriginConfig::max_live_window`]):
//!
//! - a media playlist becomes a sliding window over its VOD segments, looped forever, one
//!   segment per `EXT-X-TARGETDURATION` of [`Clock`] time; each loop pass has its own segment
//!   URIs (`/live/{window}/pass-{k}/{path}`), `EXT-X-MEDIA-SEQUENCE` keeps increasing, and each
//!   wrap is an `EXT-X-DISCONTINUITY` (counted by `EXT-X-DISCONTINUITY-SEQUENCE` once it has
//!   left the window);
//! - a master playlist is served with its URIs rewritten to the live media playlists.
//!
//! So `/hls-ts/master.m3u8` is VOD and `/live/6/hls-ts/master.m3u8` the same content as a live
//! stream with a 6-segment window. At clock zero the window is already full. All live streams
//! share one clock, which starts when the origin is bound unless a [`Clock`] is given.
//!
//! # Emulated live DASH
//!
//! Every static MPD (one Period, `SegmentTemplate` with a `duration`) also exists as a dynamic
//! MPD at `/live/{window}/{path}.mpd`: one Period per loop pass of the VOD content, each with a
//! relative `BaseURL` `pass-{k}/` (segment URLs `/live/{window}/…/pass-{k}/…`), a time-shift
//! buffer of `window` segments, and availability in wall-clock time (the wall time at which the
//! live clock read zero, minus `window` segments, is the `availabilityStartTime`). See
//! [`live_dash`].
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> Result<(), p2pml_origin::OriginError> {
//! use p2pml_origin::{Mount, Origin, OriginConfig};
//!
//! let mut config = OriginConfig::new("media");
//! config.mounts.push(Mount::new("/web", "tests/browser/web")?);
//! let origin = Origin::bind("127.0.0.1:0", config).await?;
//! let base = format!("http://{}", origin.local_addr());
//! println!("VOD:  {base}/hls-ts/master.m3u8");
//! println!("live: {base}/live/20/hls-ts/master.m3u8");
//! origin.run(std::future::pending()).await
//! # }
//! ```

mod endpoint;
mod error;
mod files;
pub mod live;
pub mod live_dash;
mod paths;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use endpoint::{Endpoint, EndpointMount, EndpointReply, EndpointRequest};
pub use error::{OriginError, PlaylistError};
pub use live_dash::MpdError;
pub use server::Origin;

/// The time source of the emulated live streams: how long they have been running.
///
/// Any `Fn() -> Duration` is a clock, which is how tests move time without sleeping.
pub trait Clock: Send + Sync + 'static {
    /// Time elapsed since the live streams started.
    fn elapsed(&self) -> Duration;
}

impl<F: Fn() -> Duration + Send + Sync + 'static> Clock for F {
    fn elapsed(&self) -> Duration {
        self()
    }
}

/// The monotonic clock, started when created.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    started: Instant,
}

impl SystemClock {
    /// A clock that reads zero now.
    #[must_use]
    pub fn start() -> Self {
        Self {
            started: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// A directory served under a URL prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    prefix: Vec<String>,
    dir: PathBuf,
}

impl Mount {
    /// Serves `dir` under `prefix`, for example `/web` or `/node_modules`.
    ///
    /// # Errors
    /// [`OriginError::BadMountPrefix`] unless `prefix` starts with `/` and names a path.
    pub fn new(prefix: &str, dir: impl Into<PathBuf>) -> Result<Self, OriginError> {
        Ok(Self {
            prefix: parse_prefix(prefix)?,
            dir: dir.into(),
        })
    }

    /// The URL prefix, with its leading `/`.
    #[must_use]
    pub fn prefix(&self) -> String {
        format!("/{}", self.prefix.join("/"))
    }
}

/// The components of a mount or endpoint prefix: it must start with `/` and name a path.
fn parse_prefix(prefix: &str) -> Result<Vec<String>, OriginError> {
    prefix
        .strip_prefix('/')
        .and_then(paths::request_components)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| OriginError::BadMountPrefix(prefix.to_owned()))
}

/// What the origin serves, and how.
#[derive(Debug, Clone)]
pub struct OriginConfig {
    /// Served at `/`, and as emulated live under `/live/{window}/`.
    pub media_dir: PathBuf,
    /// Other directories, each under its prefix; a mount wins over the media directory.
    pub mounts: Vec<Mount>,
    /// Generated responses, each under its prefix; an endpoint wins over mounts and media.
    pub endpoints: Vec<EndpointMount>,
    /// Where `GET /` redirects (302, with the request's query), for example a page under a
    /// mount. Default: none (`/` is the media directory's `index.html`, if any).
    pub index: Option<String>,
    /// Added before every media response (playlists and segments, not mounts), to emulate a
    /// distant CDN. Default: none.
    pub response_delay: Duration,
    /// Connections served at once; more wait to be accepted. Default 512: well above the
    /// dozen browsers one test machine can run (six connections each).
    pub max_connections: usize,
    /// Largest live window accepted in a URL. Default 1000 segments (over half an hour of
    /// 2-s segments).
    pub max_live_window: u32,
    /// Largest file served; larger ones answer 500. Default 256 MiB: files are read whole.
    pub max_file_size: u64,
}

impl OriginConfig {
    /// Serves `media_dir` with the defaults documented on each field.
    #[must_use]
    pub fn new(media_dir: impl Into<PathBuf>) -> Self {
        Self {
            media_dir: media_dir.into(),
            mounts: Vec::new(),
            endpoints: Vec::new(),
            index: None,
            response_delay: Duration::ZERO,
            max_connections: 512,
            max_live_window: 1000,
            max_file_size: 256 << 20,
        }
    }
}

/// The base URL of an origin listening on `addr`.
#[must_use]
pub fn base_url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}
