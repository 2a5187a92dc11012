//! The local proxy (`p2pml proxy`): any player that can open a URL gets P2P.
//!
//! A player opens `http://127.0.0.1:PORT/manifest?url=<URL-encoded manifest
//! URL>` (HLS or DASH; this path is the public interface and stays). The
//! proxy fetches the manifest and answers it rewritten so that every
//! segment request comes back to the proxy, which loads the segment through
//! that presentation's engine (storage, peers or HTTP). What the proxy
//! serves under its other paths is internal:
//!
//! | path | what |
//! |---|---|
//! | `/p/{presentation}/{stream}.m3u8` | an HLS media playlist, fetched from the origin on each request (live refresh) and rewritten |
//! | `/h/{presentation}/{stream}/{id}/{name}` | an HLS segment through the engine |
//! | `/d/{presentation}/{path}` | a DASH resource relative to the MPD's base: a segment through the engine, anything else passed through |
//! | `/r/{presentation}?u={url}` | anything else (init segments, keys), passed through |
//! | `/stats` | the counters of every engine, as JSON |
//!
//! The playback position is inferred from the player's requests (the start
//! of the segment it asks for; the rate from how fast it asks). Origin
//! errors are passed through as they came (status and body). A playlist the
//! proxy cannot read is answered with a redirect to the origin and an
//! `x-p2pml-error` header, so playback continues over plain HTTP; a segment
//! the engine cannot deliver is fetched from the origin directly.

mod presentation;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use p2pml_core::streams::{SegmentInfo, StreamId};
use p2pml_proto::identity::{StreamDescriptor, StreamType};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use url::Url;

use crate::config::NativeConfig;
use crate::manifest::{Rendition, dash, hls};
use crate::stats::StatsSnapshot;
use crate::{LoadError, NativeEngine, http::range_header};
use presentation::Presentation;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = BoxBody<Bytes, BoxError>;
type Reply = Response<Body>;

/// Settings of the proxy.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Each presentation's engine and I/O (by default with HTTP prefetch
    /// limited to 30 s ahead; see [`ProxyConfig::default`]).
    pub native: NativeConfig,
    /// Presentations (manifest URLs) served at once, each with its engine.
    /// Default 16: a few players on one machine. When full, one unused for
    /// [`Self::idle_eviction`] makes room; otherwise a new manifest is
    /// answered 503.
    pub max_presentations: usize,
    /// How long a presentation must be unused before it may be dropped to
    /// make room. Default 60 s: longer than any player's refresh interval.
    pub idle_eviction: std::time::Duration,
    /// Player connections served at once. Default 256.
    pub max_connections: usize,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        let mut native = NativeConfig::default();
        // HTTP prefetch up to 30 s ahead (P2P Media Loader: 3000 s). Over a
        // fast link the whole of a VOD title would otherwise come over HTTP
        // in the first seconds, before the tracker has found any peer.
        for t in [&mut native.engine.main, &mut native.engine.secondary] {
            t.http_download_window = 30.0;
        }
        Self {
            native,
            max_presentations: 16,
            idle_eviction: std::time::Duration::from_secs(60),
            max_connections: 256,
        }
    }
}

/// The proxy's URL for a manifest: the public entry point.
///
/// ```
/// use p2pml_native::proxy::manifest_url;
/// assert_eq!(
///     manifest_url("http://127.0.0.1:8888", "http://cdn.example/a b/master.m3u8?t=1"),
///     "http://127.0.0.1:8888/manifest?url=http%3A%2F%2Fcdn.example%2Fa+b%2Fmaster.m3u8%3Ft%3D1"
/// );
/// ```
pub fn manifest_url(proxy: &str, manifest: &str) -> String {
    format!("{proxy}/manifest?url={}", encode(manifest))
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Default)]
struct Registry {
    by_url: HashMap<String, Arc<Presentation>>,
    by_id: HashMap<u32, Arc<Presentation>>,
    next_id: u32,
    /// Counters of the engines already dropped.
    retired: StatsSnapshot,
}

struct Shared {
    config: ProxyConfig,
    registry: Mutex<Registry>,
}

impl Shared {
    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn presentation(&self, manifest: &str) -> Result<Arc<Presentation>, Box<Reply>> {
        let mut r = self.registry();
        if let Some(p) = r.by_url.get(manifest) {
            p.touch();
            return Ok(p.clone());
        }
        if r.by_url.len() >= self.config.max_presentations {
            // Make room by dropping the longest idle one, if idle long enough.
            let idle = r
                .by_url
                .iter()
                .map(|(url, p)| (p.idle(), url.clone()))
                .max()
                .filter(|(idle, _)| *idle >= self.config.idle_eviction);
            let Some((_, url)) = idle else {
                return Err(Box::new(text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many presentations\n",
                )));
            };
            if let Some(old) = r.by_url.remove(&url) {
                r.by_id.remove(&old.id);
                let stats = StatsSnapshot {
                    peers: 0,
                    ..old.engine.stats()
                };
                r.retired = r.retired + stats;
                tracing::info!(id = old.id, %url, "idle presentation dropped");
            }
        }
        let engine = NativeEngine::start(self.config.native.clone())
            .map_err(|e| Box::new(text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n"))))?;
        let id = r.next_id;
        r.next_id = r.next_id.wrapping_add(1);
        let p = Arc::new(Presentation::new(id, engine));
        r.by_id.insert(id, p.clone());
        r.by_url.insert(manifest.to_owned(), p.clone());
        tracing::info!(id, %manifest, "new presentation");
        Ok(p)
    }

    fn by_id(&self, id: &str) -> Option<Arc<Presentation>> {
        let id: u32 = id.parse().ok()?;
        let p = self.registry().by_id.get(&id).cloned()?;
        p.touch();
        Some(p)
    }

    fn stats(&self) -> StatsSnapshot {
        let r = self.registry();
        r.by_id
            .values()
            .map(|p| p.engine.stats())
            .fold(r.retired, |a, b| a + b)
    }
}

/// A bound proxy, ready to [`Proxy::run`].
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// use p2pml_native::proxy::{Proxy, ProxyConfig, manifest_url};
///
/// let mut config = ProxyConfig::default();
/// config.native.engine.common.announce_trackers = vec!["ws://127.0.0.1:8000".into()];
/// let proxy = Proxy::bind("127.0.0.1:0", config).await?;
/// let base = format!("http://{}", proxy.local_addr()?);
/// println!("play {}", manifest_url(&base, "http://127.0.0.1:8080/hls-ts/master.m3u8"));
/// proxy.run(std::future::pending()).await
/// # }
/// ```
pub struct Proxy {
    listener: TcpListener,
    shared: Arc<Shared>,
}

/// Reads the counters of a running proxy.
#[derive(Clone)]
pub struct ProxyHandle {
    shared: Arc<Shared>,
}

impl ProxyHandle {
    /// The counters of every engine, summed.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats()
    }
}

impl Proxy {
    /// Binds the listening socket.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(
        addr: impl tokio::net::ToSocketAddrs,
        config: ProxyConfig,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                config,
                registry: Mutex::new(Registry::default()),
            }),
        })
    }

    /// The bound address.
    ///
    /// # Errors
    /// When the socket has no address (not for a bound listener).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle for reading counters while the proxy runs.
    pub fn handle(&self) -> ProxyHandle {
        ProxyHandle {
            shared: self.shared.clone(),
        }
    }

    /// Serves until `shutdown` completes.
    ///
    /// # Errors
    /// When accepting fails for good.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let limit = Arc::new(Semaphore::new(self.shared.config.max_connections.max(1)));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                () = &mut shutdown => return Ok(()),
                permit = limit.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => return Ok(()),
                },
            };
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => return Ok(()),
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let shared = self.shared.clone();
            let local = self.listener.local_addr()?;
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(handle(&shared, req, local).await) }
                });
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(%peer, error = %e, "player connection ended with an error");
                }
                drop(permit);
            });
        }
    }
}

fn full(status: StatusCode, body: Bytes, content_type: &str) -> Reply {
    let mut r = Response::new(Full::new(body).map_err(|e| match e {}).boxed());
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

fn text(status: StatusCode, body: &str) -> Reply {
    full(
        status,
        Bytes::from(body.to_owned()),
        "text/plain; charset=utf-8",
    )
}

/// Sends the player to the origin: what the proxy could not read, the
/// player may still play, over plain HTTP.
fn redirect(to: &str, error: &str) -> Reply {
    tracing::warn!(
        url = to,
        error,
        "playlist not usable through the proxy; player redirected to the origin"
    );
    let mut r = text(StatusCode::FOUND, &format!("{error}\n"));
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    let clean: String = error
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .collect();
    if let Ok(v) = HeaderValue::from_str(&clean) {
        r.headers_mut().insert("x-p2pml-error", v);
    }
    r
}

async fn handle(shared: &Shared, req: Request<Incoming>, local: SocketAddr) -> Reply {
    let base = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| format!("http://{local}"), |h| format!("http://{h}"));
    let path = req.uri().path().to_owned();
    let reply = if req.method() == Method::GET || req.method() == Method::HEAD {
        route(shared, &req, &base).await
    } else {
        text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n")
    };
    tracing::debug!(%path, status = reply.status().as_u16(), "request");
    let mut reply = reply;
    reply.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if req.method() == Method::HEAD {
        let (parts, _) = reply.into_parts();
        return Response::from_parts(
            parts,
            Full::new(Bytes::new()).map_err(|e| match e {}).boxed(),
        );
    }
    reply
}

fn query_param(req: &Request<Incoming>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.uri().query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn route(shared: &Shared, req: &Request<Incoming>, base: &str) -> Reply {
    let path = req.uri().path();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok());
    match parts.as_slice() {
        ["manifest"] => match query_param(req, "url") {
            Some(url) => manifest(shared, &url, base).await,
            None => text(
                StatusCode::BAD_REQUEST,
                "usage: /manifest?url=<URL-encoded manifest URL>\n",
            ),
        },
        ["stats"] => {
            let s = shared.stats();
            let json = format!(
                "{{\"http_bytes\":{},\"p2p_bytes\":{},\"uploaded_bytes\":{},\"peers\":{},\"segments_failed\":{}}}\n",
                s.http_bytes, s.p2p_bytes, s.uploaded_bytes, s.peers, s.segments_failed
            );
            full(StatusCode::OK, Bytes::from(json), "application/json")
        }
        ["p", pid, file] => {
            let Some(p) = shared.by_id(pid) else {
                return text(StatusCode::NOT_FOUND, "unknown presentation\n");
            };
            match file
                .strip_suffix(".m3u8")
                .and_then(|s| s.parse::<StreamId>().ok())
            {
                Some(stream) => media_playlist(&p, stream, base).await,
                None => text(StatusCode::NOT_FOUND, "unknown playlist\n"),
            }
        }
        ["h", pid, stream, id, ..] => {
            let Some(p) = shared.by_id(pid) else {
                return text(StatusCode::NOT_FOUND, "unknown presentation\n");
            };
            match (stream.parse::<StreamId>(), id.parse::<i64>()) {
                (Ok(stream), Ok(id)) => match p.segment(stream, id) {
                    Some(info) => segment(&p, stream, &info, range).await,
                    None => text(StatusCode::NOT_FOUND, "unknown segment\n"),
                },
                _ => text(StatusCode::NOT_FOUND, "unknown segment\n"),
            }
        }
        ["d", pid, ..] => {
            let Some(p) = shared.by_id(pid) else {
                return text(StatusCode::NOT_FOUND, "unknown presentation\n");
            };
            let prefix = format!("/d/{pid}/");
            let rest = path.strip_prefix(&prefix).unwrap_or_default();
            let rest = match req.uri().query() {
                Some(q) => format!("{rest}?{q}"),
                None => rest.to_owned(),
            };
            dash_resource(&p, &rest, range).await
        }
        ["r", _pid] => match query_param(req, "u") {
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                let client = shared.by_id(_pid).map(|p| p.engine.http().clone());
                match client {
                    Some(c) => pass_through(&c, &u, range).await,
                    None => text(StatusCode::NOT_FOUND, "unknown presentation\n"),
                }
            }
            _ => text(StatusCode::BAD_REQUEST, "bad URL\n"),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn raw_uri(base: &str, pid: u32, url: &str) -> String {
    format!("{base}/r/{pid}?u={}", encode(url))
}

/// Fetches a manifest or playlist: the text and the URL after redirects,
/// or the reply to give the player (the origin's error as it came).
async fn fetch_text(p: &Presentation, url: &str) -> Result<(String, Url), Box<Reply>> {
    let http = p.engine.http();
    let response = match http.get(url, None).await {
        Ok(r) => r,
        Err(e) => return Err(Box::new(text(StatusCode::BAD_GATEWAY, &format!("{e}\n")))),
    };
    if !response.status().is_success() {
        return Err(Box::new(relay(response)));
    }
    let final_url = response.url().clone();
    match http.read_text(url, response).await {
        Ok(t) => Ok((t, final_url)),
        Err(e) => Err(Box::new(text(StatusCode::BAD_GATEWAY, &format!("{e}\n")))),
    }
}

fn looks_like_dash(text: &str, url: &Url) -> bool {
    url.path().ends_with(".mpd") || text.trim_start().starts_with("<?xml") || text.contains("<MPD")
}

async fn manifest(shared: &Shared, url: &str, base: &str) -> Reply {
    let p = match shared.presentation(url) {
        Ok(p) => p,
        Err(reply) => return *reply,
    };
    let (text, final_url) = match fetch_text(&p, url).await {
        Ok(t) => t,
        Err(reply) => return *reply,
    };
    if looks_like_dash(&text, &final_url) {
        return dash_manifest(&p, &text, &final_url, base).await;
    }
    match hls::parse(&text, &final_url) {
        Ok(hls::HlsPlaylist::Master(master)) => {
            p.add_renditions(&final_url, &master.renditions).await;
            let pid = p.id;
            match hls::rewrite_master(
                &master,
                &final_url,
                |i| format!("{base}/p/{pid}/{}.m3u8", i + 1),
                |u| raw_uri(base, pid, u),
            ) {
                Ok(body) => hls_reply(body),
                Err(e) => redirect(final_url.as_str(), &e.to_string()),
            }
        }
        Ok(hls::HlsPlaylist::Media(media)) => {
            // A media playlist given directly: one main stream, described
            // as hls.js describes a level it knows nothing about.
            let rendition = Rendition {
                stream_type: StreamType::Main,
                descriptor: StreamDescriptor::default(),
                uri: final_url.to_string(),
            };
            p.add_renditions(&final_url, &[rendition]).await;
            serve_media(&p, 1, &media, &final_url, base).await
        }
        Err(e) => redirect(final_url.as_str(), &e.to_string()),
    }
}

fn hls_reply(body: String) -> Reply {
    let mut r = full(
        StatusCode::OK,
        Bytes::from(body),
        "application/vnd.apple.mpegurl",
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn media_playlist(p: &Presentation, stream: StreamId, base: &str) -> Reply {
    let Some(uri) = p.stream_uri(stream) else {
        return text(StatusCode::NOT_FOUND, "unknown stream\n");
    };
    let (text, final_url) = match fetch_text(p, &uri).await {
        Ok(t) => t,
        Err(reply) => return *reply,
    };
    match hls::parse(&text, &final_url) {
        Ok(hls::HlsPlaylist::Media(media)) => {
            serve_media(p, stream, &media, &final_url, base).await
        }
        Ok(hls::HlsPlaylist::Master(_)) => redirect(
            final_url.as_str(),
            "a master playlist where a media playlist was expected",
        ),
        Err(e) => redirect(final_url.as_str(), &e.to_string()),
    }
}

async fn serve_media(
    p: &Presentation,
    stream: StreamId,
    media: &m3u8_rs::MediaPlaylist,
    final_url: &Url,
    base: &str,
) -> Reply {
    let segments = match p.with_timeline(stream, |tl| hls::segments(media, final_url, tl)) {
        Some(Ok(s)) => s,
        Some(Err(e)) => return redirect(final_url.as_str(), &e.to_string()),
        None => return text(StatusCode::NOT_FOUND, "unknown stream\n"),
    };
    let update = p.diff(stream, &segments);
    p.update_engine(stream, update, hls::is_live(media)).await;
    let pid = p.id;
    let rewritten = hls::rewrite_media(
        media,
        &segments,
        final_url,
        |s| {
            let name = s.info.url.rsplit('/').next().unwrap_or("segment");
            let name = name.split('?').next().unwrap_or(name);
            format!("{base}/h/{pid}/{stream}/{}/{}", s.info.id, encode(name))
        },
        |u| raw_uri(base, pid, u),
    );
    match rewritten {
        Ok(body) => hls_reply(body),
        Err(e) => redirect(final_url.as_str(), &e.to_string()),
    }
}

async fn dash_manifest(p: &Presentation, text: &str, final_url: &Url, base: &str) -> Reply {
    #[expect(
        clippy::cast_precision_loss,
        reason = "milliseconds since 1970 fit in 2^53"
    )]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64 / 1000.0);
    let mpd = match dash::parse(text, final_url, now) {
        Ok(m) => m,
        Err(e) => return redirect(final_url.as_str(), &e.to_string()),
    };
    let renditions: Vec<Rendition> = mpd.renditions.iter().map(|r| r.rendition.clone()).collect();
    p.add_renditions(final_url, &renditions).await;
    p.lock().dash_base = Some(mpd.base.clone());
    for (i, r) in mpd.renditions.iter().enumerate() {
        let stream = StreamId::try_from(i + 1).unwrap_or(StreamId::MAX);
        let mut segments = r.segments.clone();
        if let Some(index) = &r.index {
            if p.lock()
                .streams
                .get(&stream)
                .is_some_and(|s| !s.known.is_empty())
            {
                continue; // a SegmentBase index does not change
            }
            match read_index(p, index).await {
                Ok(s) => segments = s,
                Err(e) => {
                    tracing::warn!(url = %index.url, error = %e, "segment index unreadable; that representation plays over HTTP");
                    continue;
                }
            }
        }
        let update = p.diff(stream, &segments);
        p.update_engine(stream, update, mpd.dynamic).await;
    }
    let mut reply = full(
        StatusCode::OK,
        Bytes::from(dash::rewrite_base(text, &format!("{base}/d/{}/", p.id))),
        "application/dash+xml",
    );
    reply
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    reply
}

async fn read_index(
    p: &Presentation,
    index: &dash::IndexRef,
) -> Result<Vec<crate::manifest::Segment>, String> {
    let range = p2pml_core::engine::HttpRange {
        start: index.range.start,
        end: Some(index.range.end),
    };
    let response = p
        .engine
        .http()
        .get(&index.url, Some(&range_header(range)))
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    dash::segments_from_sidx(&body, index).map_err(|e| e.to_string())
}

async fn dash_resource(p: &Presentation, rest: &str, range: Option<&str>) -> Reply {
    let Some(dash_base) = p.lock().dash_base.clone() else {
        return text(StatusCode::NOT_FOUND, "no MPD loaded\n");
    };
    let Ok(url) = dash_base.join(rest) else {
        return text(StatusCode::BAD_REQUEST, "bad path\n");
    };
    let wanted = range.and_then(parse_range);
    let lookup = match &wanted {
        Some((start, Some(end))) => p.segment_by_url(url.as_str(), Some(*start..end + 1)),
        // `bytes=0-` (ffmpeg sends it on every request) is the whole resource.
        Some((0, None)) | None => p.segment_by_url(url.as_str(), None),
        Some((_, None)) => None,
    };
    match lookup {
        Some((stream, info)) => {
            let whole = info.byte_range.is_some();
            let reply = segment(p, stream, &info, if whole { None } else { range }).await;
            if whole && reply.status() == StatusCode::OK {
                return as_partial(reply, info.byte_range.unwrap_or(0..0));
            }
            reply
        }
        None => pass_through(p.engine.http(), url.as_str(), range).await,
    }
}

/// The reply to a range request that matched a segment exactly.
fn as_partial(mut reply: Reply, range: Range<u64>) -> Reply {
    *reply.status_mut() = StatusCode::PARTIAL_CONTENT;
    let value = format!("bytes {}-{}/*", range.start, range.end.saturating_sub(1));
    if let Ok(v) = HeaderValue::from_str(&value) {
        reply.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    reply
}

/// A backstop only: the engine answers every request itself (its HTTP
/// timeouts and retries are shorter), but a player must never hang on it.
const SEGMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A segment through the engine; on failure, straight from the origin.
async fn segment(
    p: &Presentation,
    stream: StreamId,
    info: &SegmentInfo,
    range: Option<&str>,
) -> Reply {
    p.playing(info).await;
    let load = tokio::time::timeout(SEGMENT_TIMEOUT, p.engine.load_segment(stream, info.id));
    let loaded = load.await.unwrap_or_else(|_| {
        Err(LoadError::Failed(
            "no answer from the engine in time".into(),
        ))
    });
    match loaded {
        Ok(bytes) => bytes_reply(bytes, range),
        Err(e) => {
            tracing::info!(url = %info.url, error = %e, "engine could not deliver; fetching from the origin");
            let seg_range = info.byte_range.clone().map(|r| {
                range_header(p2pml_core::engine::HttpRange {
                    start: r.start,
                    end: Some(r.end),
                })
            });
            pass_through(p.engine.http(), &info.url, seg_range.as_deref().or(range)).await
        }
    }
}

/// `bytes=a-b` or `bytes=a-` (one range).
fn parse_range(value: &str) -> Option<(u64, Option<u64>)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let start = a.trim().parse().ok()?;
    let end = if b.trim().is_empty() {
        None
    } else {
        Some(b.trim().parse().ok()?)
    };
    Some((start, end))
}

fn bytes_reply(bytes: Bytes, range: Option<&str>) -> Reply {
    let len = bytes.len() as u64;
    if let Some((start, end)) = range.and_then(parse_range) {
        let end = end
            .unwrap_or(len.saturating_sub(1))
            .min(len.saturating_sub(1));
        if start <= end && start < len {
            let (s, e) = (
                usize::try_from(start).unwrap_or(0),
                usize::try_from(end).unwrap_or(0),
            );
            let mut r = full(
                StatusCode::PARTIAL_CONTENT,
                bytes.slice(s..=e),
                "application/octet-stream",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
        let mut r = text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
            r.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return r;
    }
    let mut r = full(StatusCode::OK, bytes, "application/octet-stream");
    r.headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    r
}

/// A request to the origin, answered as the origin answered.
async fn pass_through(http: &crate::http::HttpClient, url: &str, range: Option<&str>) -> Reply {
    match http.get(url, range).await {
        Ok(response) => relay(response),
        Err(e) => text(StatusCode::BAD_GATEWAY, &format!("{e}\n")),
    }
}

/// The origin's response, status, headers that matter and body streamed.
fn relay(response: reqwest::Response) -> Reply {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = Vec::new();
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::ACCEPT_RANGES,
        header::CACHE_CONTROL,
    ] {
        if let Some(v) = response.headers().get(name.as_str()) {
            if let Ok(v) = HeaderValue::from_bytes(v.as_bytes()) {
                headers.push((name, v));
            }
        }
    }
    let stream = futures_util::stream::unfold(response, |mut r| async move {
        match r.chunk().await {
            Ok(Some(c)) => Some((Ok(Frame::data(c)), r)),
            Ok(None) => None,
            Err(e) => Some((Err(Box::new(e) as BoxError), r)),
        }
    });
    let mut reply = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    *reply.status_mut() = status;
    for (name, value) in headers {
        reply.headers_mut().insert(name, value);
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99"), Some((0, Some(99))));
        assert_eq!(parse_range("bytes=10-"), Some((10, None)));
        assert_eq!(parse_range("bytes=0-1,5-6"), None);
        let r = bytes_reply(Bytes::from_static(b"0123456789"), Some("bytes=2-4"));
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes 2-4/10");
        let r = bytes_reply(Bytes::from_static(b"0123456789"), Some("bytes=20-"));
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    }
}
