//! The listening server: accept loop and request routing.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::Semaphore;

use crate::files::{self, RangeRequest, ReadError};
use crate::live::{self, VodPlaylist};
use crate::live_dash::VodMpd;
use crate::paths;
use crate::{Clock, EndpointReply, EndpointRequest, OriginConfig, OriginError, SystemClock};

/// A bound origin server; [`Origin::run`] serves it.
pub struct Origin {
    listener: TcpListener,
    state: Arc<State>,
}

struct State {
    config: OriginConfig,
    clock: Arc<dyn Clock>,
    /// Wall time (since 1970) at which `clock` read zero: live DASH states availability in
    /// wall-clock time.
    clock_zero_unix: Duration,
}

type Reply = Response<Full<Bytes>>;

impl Origin {
    /// Binds `addr`; the live clock starts now.
    ///
    /// # Errors
    /// [`OriginError::Bind`] if the address cannot be bound, [`OriginError::NotADirectory`] if
    /// the media directory or a mount is missing.
    pub async fn bind(
        addr: impl ToSocketAddrs + std::fmt::Debug,
        config: OriginConfig,
    ) -> Result<Self, OriginError> {
        Self::bind_with_clock(addr, config, Arc::new(SystemClock::start())).await
    }

    /// Binds `addr` with the given live clock.
    ///
    /// # Errors
    /// As [`Origin::bind`].
    pub async fn bind_with_clock(
        addr: impl ToSocketAddrs + std::fmt::Debug,
        config: OriginConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OriginError> {
        for dir in std::iter::once(&config.media_dir).chain(config.mounts.iter().map(|m| &m.dir)) {
            if !dir.is_dir() {
                return Err(OriginError::NotADirectory(dir.clone()));
            }
        }
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| OriginError::Bind {
                addr: format!("{addr:?}"),
                source,
            })?;
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let clock_zero_unix = now_unix.saturating_sub(clock.elapsed());
        Ok(Self {
            listener,
            state: Arc::new(State {
                config,
                clock,
                clock_zero_unix,
            }),
        })
    }

    /// The bound address (useful after binding port 0).
    ///
    /// # Panics
    /// Never in practice: a bound TCP listener always has a local address.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        #[allow(clippy::unwrap_used)] // a bound listener has an address
        self.listener.local_addr().unwrap()
    }

    /// Serves until `shutdown` completes; then stops accepting (open connections finish on
    /// their own).
    ///
    /// # Errors
    /// [`OriginError::Accept`] if accepting fails for a reason other than a transient one.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), OriginError> {
        let limit = Arc::new(Semaphore::new(self.state.config.max_connections.max(1)));
        tracing::info!(addr = %self.local_addr(), media = %self.state.config.media_dir.display(), "origin listening");
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                () = &mut shutdown => return Ok(()),
                permit = Arc::clone(&limit).acquire_owned() => {
                    #[allow(clippy::unwrap_used)] // the semaphore is never closed
                    permit.unwrap()
                }
            };
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => return Ok(()),
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) if is_transient(&e) => {
                        tracing::warn!(error = %e, "accept failed, retrying");
                        continue;
                    }
                    Err(e) => return Err(OriginError::Accept(e)),
                },
            };
            let state = Arc::clone(&self.state);
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let state = Arc::clone(&state);
                    async move { Ok::<_, Infallible>(handle(&state, &req).await) }
                });
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                drop(permit);
            });
        }
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted)
        // Out of file descriptors: wait for connections to close rather than die.
        || e.raw_os_error() == Some(24)
}

async fn handle(state: &State, req: &Request<Incoming>) -> Reply {
    let reply = route(state, req).await;
    tracing::debug!(method = %req.method(), path = %req.uri().path(), status = reply.status().as_u16(), "request");
    with_cors(reply)
}

async fn route(state: &State, req: &Request<Incoming>) -> Reply {
    let method = req.method();
    if method == Method::OPTIONS {
        return empty(StatusCode::NO_CONTENT);
    }
    let config = &state.config;
    let Some(components) = paths::request_components(req.uri().path()) else {
        return text(StatusCode::FORBIDDEN, "path refused\n");
    };
    for mount in &config.endpoints {
        if let Some(rest) = components.strip_prefix(mount.prefix.as_slice()) {
            let reply = mount.endpoint.respond(&EndpointRequest {
                method: method.as_str(),
                path: rest,
                query: req.uri().query(),
            });
            return endpoint_reply(reply, method == Method::HEAD);
        }
    }
    if method != Method::GET && method != Method::HEAD {
        let mut reply = empty(StatusCode::METHOD_NOT_ALLOWED);
        reply.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
        return reply;
    }
    if let Some(index) = config.index.as_ref().filter(|_| components.is_empty()) {
        // The query goes along: it is how a page is told what to show.
        let location = match req.uri().query() {
            Some(query) => format!("{index}?{query}"),
            None => index.clone(),
        };
        let mut reply = empty(StatusCode::FOUND);
        insert(&mut reply, header::LOCATION, &location);
        return reply;
    }
    let head = method == Method::HEAD;
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok());

    for mount in &config.mounts {
        if let Some(rest) = components.strip_prefix(mount.prefix.as_slice()) {
            return serve_file(&paths::join(&mount.dir, rest), range, head, config).await;
        }
    }
    if !config.response_delay.is_zero() {
        tokio::time::sleep(config.response_delay).await;
    }
    match components.split_first() {
        Some((live, rest)) if live == "live" => serve_live(state, rest, range, head).await,
        _ => {
            serve_file(
                &paths::join(&config.media_dir, &components),
                range,
                head,
                config,
            )
            .await
        }
    }
}

/// Below `/live/{window}/`: a live HLS playlist (`….m3u8`), a live DASH MPD (`….mpd`), or a
/// media file, whose path may name its loop pass anywhere (`pass-{k}/`, which is dropped:
/// HLS puts it first, DASH's Period `BaseURL` beside the MPD).
async fn serve_live(state: &State, rest: &[String], range: Option<&str>, head: bool) -> Reply {
    let config = &state.config;
    let Some((window, rest)) = rest.split_first() else {
        return text(StatusCode::NOT_FOUND, "no live window\n");
    };
    let Some(window) = window
        .parse::<u32>()
        .ok()
        .filter(|w| (1..=config.max_live_window).contains(w))
    else {
        return text(StatusCode::NOT_FOUND, "bad live window\n");
    };
    let rest: Vec<String> = rest.iter().filter(|c| !is_pass(c)).cloned().collect();
    let path = paths::join(&config.media_dir, &rest);
    let name = rest.last().map_or("", String::as_str);
    let is_playlist = name.ends_with(".m3u8");
    let is_mpd = name.ends_with(".mpd");
    if !is_playlist && !is_mpd {
        return serve_file(&path, range, head, config).await;
    }
    let text_body = match files::read(&path, config.max_file_size).await {
        Ok((_, bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => return read_error(&e),
    };
    let manifest_path = rest.join("/");
    let prefix = format!("/live/{window}");
    let elapsed = state.clock.elapsed();
    let (rendered, content_type) = if is_mpd {
        let mpd = VodMpd::parse(&text_body)
            .map(|vod| vod.render_live(window, state.clock_zero_unix, elapsed))
            .map_err(|e| e.to_string());
        (mpd, "application/dash+xml")
    } else if live::is_master(&text_body) {
        let master = live::rewrite_master(&text_body, &manifest_path, &prefix);
        (
            master.map_err(|e| e.to_string()),
            "application/vnd.apple.mpegurl",
        )
    } else {
        let media = VodPlaylist::parse(&text_body, &manifest_path)
            .map(|vod| vod.render_live(window, elapsed, &prefix));
        (
            media.map_err(|e| e.to_string()),
            "application/vnd.apple.mpegurl",
        )
    };
    match rendered {
        Ok(body) => {
            let mut reply = bytes_reply(StatusCode::OK, Bytes::from(body), head);
            let headers = reply.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            reply
        }
        Err(e) => {
            tracing::warn!(manifest = %manifest_path, error = %e, "cannot emulate live");
            text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n"))
        }
    }
}

/// An endpoint's reply (for `HEAD`, its headers only).
fn endpoint_reply(reply: EndpointReply, head: bool) -> Reply {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = bytes_reply(status, reply.body, head);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn is_pass(component: &str) -> bool {
    component
        .strip_prefix("pass-")
        .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
}

async fn serve_file(path: &Path, range: Option<&str>, head: bool, config: &OriginConfig) -> Reply {
    let (path, bytes) = match files::read(path, config.max_file_size).await {
        Ok(found) => found,
        Err(e) => return read_error(&e),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let len = bytes.len() as u64;
    let mut reply = match files::parse_range(range, len) {
        RangeRequest::Whole => bytes_reply(StatusCode::OK, Bytes::from(bytes), head),
        RangeRequest::Part { start, end } => {
            // `start <= end < len` by construction of `Part`.
            let part = Bytes::from(bytes).slice(to_usize(start)..=to_usize(end));
            let mut reply = bytes_reply(StatusCode::PARTIAL_CONTENT, part, head);
            insert(
                &mut reply,
                header::CONTENT_RANGE,
                &format!("bytes {start}-{end}/{len}"),
            );
            reply
        }
        RangeRequest::Unsatisfiable => {
            let mut reply = empty(StatusCode::RANGE_NOT_SATISFIABLE);
            insert(&mut reply, header::CONTENT_RANGE, &format!("bytes */{len}"));
            return reply;
        }
    };
    let headers = reply.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(paths::content_type(name)),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    reply
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn read_error(e: &ReadError) -> Reply {
    match e {
        ReadError::NotFound => text(StatusCode::NOT_FOUND, "not found\n"),
        ReadError::TooLarge => text(StatusCode::INTERNAL_SERVER_ERROR, "file too large\n"),
        ReadError::Io(e) => {
            tracing::warn!(error = %e, "read failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "read failed\n")
        }
    }
}

/// A response with `body`, or for `HEAD` the same headers and no body.
fn bytes_reply(status: StatusCode, body: Bytes, head: bool) -> Reply {
    let len = body.len();
    let mut reply = Response::new(Full::new(if head { Bytes::new() } else { body }));
    *reply.status_mut() = status;
    insert(&mut reply, header::CONTENT_LENGTH, &len.to_string());
    reply
}

fn empty(status: StatusCode) -> Reply {
    bytes_reply(status, Bytes::new(), false)
}

fn text(status: StatusCode, body: &str) -> Reply {
    let mut reply = bytes_reply(status, Bytes::from(body.to_owned()), false);
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    reply
}

fn insert(reply: &mut Reply, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        reply.headers_mut().insert(name, value);
    }
}

/// CORS for players on other origins (the test pages, the demo).
const CORS: [(header::HeaderName, &str); 5] = [
    (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
    (
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        "Content-Length, Content-Range",
    ),
    (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS"),
    (header::ACCESS_CONTROL_ALLOW_HEADERS, "*"),
    (header::ACCESS_CONTROL_MAX_AGE, "86400"),
];

fn with_cors(mut reply: Reply) -> Reply {
    let headers = reply.headers_mut();
    for (name, value) in CORS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    reply
}
