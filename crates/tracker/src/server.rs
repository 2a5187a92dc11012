//! The tokio host: accepts WebSockets, runs one task per connection and one
//! per shard of the swarm state, and publishes the metrics.
//!
//! Connections are generic over the byte stream: with a certificate, a TLS
//! acceptor wraps the accepted `TcpStream` (`wss://`) and nothing else changes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, mpsc, watch};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::connection::{Counters, Shared};
use crate::shard::{EVENT_QUEUE, Published};
use crate::{ConnId, Error, ServerConfig, Stats, SwarmBudget, TlsFiles, Tracker};

/// How long shutdown waits for connections to send their close frames.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Least time between two publications of the metrics: under load they
/// change with every message, and a scraper needs them once a second.
const PUBLISH_EVERY: Duration = Duration::from_millis(20);
/// Metrics are republished at least this often (expiry changes them).
const PUBLISH_IDLE: Duration = Duration::from_secs(1);

/// The tracker server: a WebSocket listener, an optional metrics listener,
/// and the swarm state in `workers` shards.
///
/// The swarms are split by info hash ([`shard_of`](crate::shard_of)) over
/// `workers` tasks, each owning one [`Tracker`] shard; a connection's task
/// parses its messages and sends each to the shard of its swarm, so the
/// relay scales with the runtime's threads. The caps stay global: the
/// connection tasks share one atomic count of connections, and the shards
/// one [`SwarmBudget`]; the other limits are per swarm, per peer or per
/// connection, which one shard or one task sees whole.
pub struct Server {
    config: ServerConfig,
    ws: TcpListener,
    /// Set when the config names a certificate: the listener speaks `wss://`.
    tls: Option<TlsAcceptor>,
    metrics: Option<TcpListener>,
    stats_tx: watch::Sender<Stats>,
}

impl Server {
    /// Binds the listeners (port 0 picks a free port).
    pub async fn bind(config: ServerConfig) -> Result<Self, Error> {
        let bind = |addr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { addr, source })
        };
        config.validate()?;
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
    ///
    /// Spawns `workers` shard tasks on the current runtime; give the runtime
    /// as many threads (as `p2pml tracker` does) for the shards and the
    /// connections' parsing to run in parallel.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let Self {
            config,
            ws,
            tls,
            metrics,
            stats_tx,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let workers = config.workers.max(1);
        let published = Arc::new(Published::new(workers));
        let budget = SwarmBudget::new(config.tracker.max_swarms);
        let mut shards = Vec::with_capacity(workers);
        let mut shard_tasks = Vec::with_capacity(workers);
        for index in 0..workers {
            let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
            let tracker = Tracker::shard(config.tracker.clone(), budget.clone(), index as u64);
            shard_tasks.push(tokio::spawn(crate::shard::run(
                index,
                tracker,
                events_rx,
                published.clone(),
                stop_rx.clone(),
            )));
            shards.push(events_tx);
        }
        if let Some(listener) = metrics {
            tokio::spawn(crate::http::serve(
                listener,
                stats_tx.subscribe(),
                stop_rx.clone(),
            ));
        }
        let sockets = config
            .tracker
            .max_connections
            .saturating_add(config.handshake_slack)
            .min(Semaphore::MAX_PERMITS);
        let slots = Arc::new(Semaphore::new(sockets));
        let shared = Arc::new(Shared {
            config,
            shards,
            counters: Counters::default(),
            changed: Arc::new(Notify::new()),
            stop: stop_rx.clone(),
        });
        let publisher = tokio::spawn(publish(
            shared.clone(),
            published.clone(),
            stats_tx.clone(),
            stop_rx,
        ));
        tracing::info!(addr = %ws.local_addr()?, workers, "tracker listening");
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
            let shared = shared.clone();
            // One spawn per kind of stream: a task is as large as its future,
            // and the TLS one is several times the plain one.
            match tls.clone() {
                None => {
                    tokio::spawn(async move {
                        crate::connection::run(stream, conn, shared).await;
                        drop(slot);
                    });
                }
                Some(tls) => {
                    tokio::spawn(async move {
                        let limit = Duration::from_secs(shared.config.handshake_timeout_secs);
                        match tokio::time::timeout(limit, tls.accept(stream)).await {
                            Ok(Ok(stream)) => crate::connection::run(stream, conn, shared).await,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                        drop(slot);
                    });
                }
            }
        }
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
        drop(ws);
        for task in shard_tasks {
            let _ = task.await;
        }
        // Every connection returns its slot once its close frame is out.
        let all = u32::try_from(sockets).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all)).await;
        let _ = publisher.await;
        stats_tx.send_replace(merged(&shared, &published));
        Ok(())
    }
}

/// The metrics of the whole server: the shards' sum and the connections'.
fn merged(shared: &Shared, published: &Published) -> Stats {
    let mut stats = published.sum();
    shared.counters.add_to(&mut stats);
    stats
}

/// Republishes the metrics when a shard or a connection changed them, at
/// most every [`PUBLISH_EVERY`], and at least every [`PUBLISH_IDLE`].
async fn publish(
    shared: Arc<Shared>,
    published: Arc<Published>,
    stats: watch::Sender<Stats>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|&stop| stop) => return,
            () = published.changed.notified() => {}
            () = shared.changed.notified() => {}
            () = tokio::time::sleep(PUBLISH_IDLE) => {}
        }
        stats.send_if_modified(|current| {
            let next = merged(&shared, &published);
            let modified = *current != next;
            *current = next;
            modified
        });
        tokio::time::sleep(PUBLISH_EVERY).await;
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
