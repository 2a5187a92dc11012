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
//! A dynamic (live) MPD is read again by the proxy once its
//! `minimumUpdatePeriod` has passed, when the player next asks for a DASH
//! resource: players such as ffmpeg compute live segment numbers from the
//! clock and never fetch the MPD again, and the engine must know a segment
//! to load it through peers.
//!
//! The playback position is inferred from the player's requests (the start
//! of the segment it asks for; the rate from how fast it asks). Origin
//! errors are passed through as they came (status and body). A playlist the
//! proxy cannot read is answered with a redirect to the origin and an
//! `x-p2pml-error` header, so playback continues over plain HTTP; a segment
//! the engine cannot deliver is fetched from the origin directly.

mod handlers;
mod presentation;
mod reply;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use p2pml_core::streams::StreamId;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::NativeEngine;
use crate::config::NativeConfig;
use crate::stats::StatsSnapshot;
use handlers::{dash_resource, manifest, media_playlist, segment};
use presentation::Presentation;
use reply::{Reply, full, pass_through, text};

/// Settings of the proxy.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Each presentation's engine and I/O.
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
        Self {
            native: NativeConfig::default(),
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
