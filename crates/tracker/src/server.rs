//! The tokio host: accepts WebSockets, feeds the [`Tracker`] from one task,
//! and writes its messages back through bounded per-connection queues.
//!
//! Connections are generic over the byte stream: with a certificate, a TLS
//! acceptor wraps the accepted `TcpStream` (`wss://`) and nothing else changes.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::{CloseReason, ConnId, Error, ServerConfig, Stats, TlsFiles, Tracker};

/// Events queued for the state task. Readers wait when it is full, which
/// slows every client a little rather than buffering without bound.
const EVENT_QUEUE: usize = 1024;
/// How often peers and offers expire and the metrics are refreshed.
const TICK: Duration = Duration::from_secs(1);
/// How long shutdown waits for connections to send their close frames.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// The tracker server: a WebSocket listener, an optional metrics listener,
/// and the swarm state.
pub struct Server {
    config: ServerConfig,
    ws: TcpListener,
    /// Set when the config names a certificate: the listener speaks `wss://`.
    tls: Option<TlsAcceptor>,
    metrics: Option<TcpListener>,
    stats_tx: watch::Sender<Stats>,
}

enum Event {
    Open {
        conn: ConnId,
        outbound: mpsc::Sender<Utf8Bytes>,
        /// Dropped by the state task to end the connection at once.
        kill: oneshot::Sender<()>,
        /// `Some(reason)` if the connection is refused.
        reply: oneshot::Sender<Option<String>>,
    },
    Text(ConnId, Utf8Bytes),
    Binary(ConnId),
    Closed(ConnId, CloseReason),
}

/// What the state task holds for one open connection.
struct Link {
    outbound: mpsc::Sender<Utf8Bytes>,
    _kill: oneshot::Sender<()>,
}

impl Server {
    /// Binds the listeners (port 0 picks a free port).
    pub async fn bind(config: ServerConfig) -> Result<Self, Error> {
        let bind = |addr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { addr, source })
        };
        // Certificates first: a bad path fails before any port is taken.
        let tls = config.tls.as_ref().map(acceptor).transpose()?;
        let ws = bind(config.listen).await?;
        let metrics = match config.metrics {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        Ok(Self {
            config,
            ws,
            tls,
            metrics,
            stats_tx: watch::Sender::new(Stats::default()),
        })
    }

    /// The WebSocket listener's address.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.ws.local_addr()?)
    }

    /// The metrics listener's address, if it serves metrics.
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, Error> {
        Ok(self
            .metrics
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?)
    }

    /// The metrics, refreshed after every event and every second.
    pub fn stats(&self) -> watch::Receiver<Stats> {
        self.stats_tx.subscribe()
    }

    /// Serves until `shutdown` completes, then closes every connection.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let Self {
            config,
            ws,
            tls,
            metrics,
            stats_tx,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let state = tokio::spawn(state_task(
            Tracker::new(config.tracker.clone()),
            events_rx,
            stats_tx.clone(),
            stop_rx.clone(),
        ));
        if let Some(listener) = metrics {
            tokio::spawn(crate::http::serve(listener, stats_tx.subscribe(), stop_rx));
        }
        let sockets = config
            .tracker
            .max_connections
            .saturating_add(config.handshake_slack)
            .min(Semaphore::MAX_PERMITS);
        let slots = Arc::new(Semaphore::new(sockets));
        let config = Arc::new(config);
        tracing::info!(addr = %ws.local_addr()?, "tracker listening");
        tokio::pin!(shutdown);
        let mut next_id = 0u64;
        loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = ws.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::debug!(%peer, "too many sockets; dropped before the handshake");
                continue;
            };
            let _ = stream.set_nodelay(true);
            next_id += 1;
            let conn = ConnId(next_id);
            let (config, events, tls) = (config.clone(), events_tx.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => connection(stream, conn, &config, events).await,
                    Some(tls) => {
                        let limit = Duration::from_secs(config.handshake_timeout_secs);
                        match tokio::time::timeout(limit, tls.accept(stream)).await {
                            Ok(Ok(stream)) => connection(stream, conn, &config, events).await,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    }
                }
                drop(slot);
            });
        }
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
        drop(events_tx);
        let _ = state.await;
        // Every connection returns its slot once its close frame is out.
        let all = u32::try_from(sockets).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all)).await;
        Ok(())
    }
}

/// Loads the certificate chain and key into a TLS acceptor (ring provider).
fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, Error> {
    let cert_error = |e: &dyn std::fmt::Display| {
        Error::Tls(format!("certificate {}: {e}", files.cert.display()))
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| cert_error(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(&e))?;
    if certs.is_empty() {
        return Err(cert_error(&"no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| Error::Tls(format!("key {}: {e}", files.key.display())))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| Error::Tls(format!("certificate and key do not match: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Owns the [`Tracker`]: applies events in order, routes what it says.
async fn state_task(
    mut tracker: Tracker,
    mut events: mpsc::Receiver<Event>,
    stats: watch::Sender<Stats>,
    mut stop: watch::Receiver<bool>,
) {
    let mut links: HashMap<ConnId, Link> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    loop {
        let event = tokio::select! {
            _ = stop.wait_for(|&stop| stop) => break,
            _ = tick.tick() => {
                tracker.expire(Instant::now());
                stats.send_replace(tracker.stats());
                continue;
            }
            event = events.recv() => match event {
                Some(event) => event,
                None => break,
            },
        };
        let now = Instant::now();
        let out = match event {
            Event::Open {
                conn,
                outbound,
                kill,
                reply,
            } => match tracker.connect(now, conn) {
                Ok(()) => {
                    links.insert(
                        conn,
                        Link {
                            outbound,
                            _kill: kill,
                        },
                    );
                    let _ = reply.send(None);
                    Vec::new()
                }
                Err(refusal) => {
                    tracing::debug!(?conn, %refusal, "connection refused");
                    tracker.disconnect(now, conn, CloseReason::Refused);
                    let _ = reply.send(Some(refusal.to_string()));
                    Vec::new()
                }
            },
            Event::Text(conn, text) => tracker.receive_text(now, conn, text.as_str()),
            Event::Binary(conn) => tracker.receive_binary(now, conn),
            Event::Closed(conn, reason) => {
                // A connection the state task already dropped was counted then.
                if links.remove(&conn).is_some() {
                    tracker.disconnect(now, conn, reason);
                }
                Vec::new()
            }
        };
        for (conn, message) in out {
            let Some(link) = links.get(&conn) else {
                continue;
            };
            if link.outbound.try_send(message.to_json().into()).is_err() {
                tracing::info!(?conn, "outbound queue full: disconnecting a slow reader");
                links.remove(&conn);
                tracker.disconnect(now, conn, CloseReason::SlowReader);
            }
        }
        stats.send_replace(tracker.stats());
    }
    for conn in links.into_keys() {
        tracker.disconnect(Instant::now(), conn, CloseReason::Shutdown);
    }
    stats.send_replace(tracker.stats());
}

/// One client, from handshake to close.
async fn connection<S>(stream: S, conn: ConnId, config: &ServerConfig, events: mpsc::Sender<Event>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let max = config.tracker.max_message_len;
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let handshake = tokio::time::timeout(
        Duration::from_secs(config.handshake_timeout_secs),
        tokio_tungstenite::accept_async_with_config(stream, Some(ws_config)),
    );
    let Ok(Ok(ws)) = handshake.await else {
        tracing::debug!(?conn, "WebSocket handshake failed or timed out");
        return;
    };
    let (mut sink, mut source) = ws.split();
    let (outbound, mut queue) = mpsc::channel::<Utf8Bytes>(config.outbound_queue.max(1));
    let (kill, killed) = oneshot::channel();
    let (reply, refused) = oneshot::channel();
    let open = Event::Open {
        conn,
        outbound,
        kill,
        reply,
    };
    if events.send(open).await.is_err() {
        return;
    }
    match refused.await {
        Ok(None) => {}
        Ok(Some(reason)) => {
            let failure =
                p2pml_proto::tracker::TrackerMessage::Failure(p2pml_proto::tracker::Failure {
                    action: None,
                    info_hash: None,
                    reason,
                });
            let goodbye = async {
                sink.send(Message::text(failure.to_json())).await?;
                sink.send(Message::Close(None)).await
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), goodbye).await;
            return;
        }
        Err(_) => return,
    }
    tracing::debug!(?conn, "connected");

    let idle = Duration::from_secs(config.idle_timeout_secs);
    let write_timeout = Duration::from_secs(config.write_timeout_secs);
    let reason = {
        let read = async {
            loop {
                let message = match tokio::time::timeout(idle, source.next()).await {
                    Err(_) => return CloseReason::Idle,
                    Ok(None | Some(Err(WsError::ConnectionClosed | WsError::Io(_)))) => {
                        return CloseReason::Client;
                    }
                    Ok(Some(Err(e))) => {
                        tracing::debug!(?conn, error = %e, "WebSocket protocol error");
                        return CloseReason::Protocol;
                    }
                    Ok(Some(Ok(message))) => message,
                };
                let event = match message {
                    Message::Text(text) => Event::Text(conn, text),
                    Message::Binary(_) => Event::Binary(conn),
                    Message::Close(_) => return CloseReason::Client,
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                };
                if events.send(event).await.is_err() {
                    return CloseReason::Shutdown;
                }
            }
        };
        let write = async {
            while let Some(text) = queue.recv().await {
                match tokio::time::timeout(write_timeout, sink.send(Message::Text(text))).await {
                    Err(_) => return CloseReason::WriteTimeout,
                    Ok(Err(_)) => return CloseReason::Client,
                    Ok(Ok(())) => {}
                }
            }
            CloseReason::Shutdown
        };
        tokio::select! {
            reason = read => reason,
            reason = write => reason,
            // The state task dropped this connection (slow reader, shutdown).
            _ = killed => CloseReason::Shutdown,
        }
    };
    tracing::debug!(?conn, reason = reason.label(), "disconnected");
    // A best-effort close frame; a peer that does not read gets none.
    let _ = tokio::time::timeout(Duration::from_millis(500), sink.send(Message::Close(None))).await;
    let _ = events.send(Event::Closed(conn, reason)).await;
}
