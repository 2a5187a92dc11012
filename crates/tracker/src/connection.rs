//! One client connection's task: the WebSocket handshake, the connection
//! cap, the connection's [`Gate`], routing each message to the shard of its
//! info hash (a scrape fans out and gathers), and writing what the shards
//! send back. Parsing and serializing happen here, on whichever worker thread
//! runs the connection, so the shards only decide.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use p2pml_proto::identity::InfoHash;
use p2pml_proto::tracker::{
    Action, ClientMessage, Failure, ScrapeRequest, ScrapeResponse, TrackerMessage,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::shard::{Event, Link};
use crate::stats::CLOSE_REASONS;
use crate::ws::{self, Incoming, WsError};
use crate::{CloseReason, ConnId, Gate, REFUSAL_KINDS, Refusal, ServerConfig, Stats, shard_of};

/// Bytes of queued frames gathered into one write.
const WRITE_BATCH_BYTES: usize = 16 * 1024;

/// What a connection's queue carries: boxed, so that an idle connection's
/// queue costs pointers, not messages.
pub(crate) enum Out {
    /// A tracker message, serialized by the connection's task.
    Message(TrackerMessage),
    /// The reply to a client's ping.
    Pong(Vec<u8>),
}

/// What the connection tasks count; the shards count the swarm work.
#[derive(Default)]
pub(crate) struct Counters {
    open: AtomicUsize,
    total: AtomicU64,
    scrapes: AtomicU64,
    errors: [AtomicU64; REFUSAL_KINDS.len()],
    closes: [AtomicU64; CLOSE_REASONS.len()],
}

impl Counters {
    /// Takes a connection slot, unless `max` are taken.
    fn open(&self, max: usize) -> bool {
        let taken = self
            .open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok();
        if taken {
            self.total.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    fn close(&self, reason: CloseReason) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.closed(reason);
    }

    fn closed(&self, reason: CloseReason) {
        if let Some(c) = self.closes.get(reason as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn refused(&self, refusal: &Refusal) {
        if let Some(c) = self.errors.get(refusal.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes these counters into `stats`, adding the refusals.
    pub(crate) fn add_to(&self, stats: &mut Stats) {
        stats.connections = self.open.load(Ordering::Relaxed) as u64;
        stats.connections_total = self.total.load(Ordering::Relaxed);
        stats.scrapes = self.scrapes.load(Ordering::Relaxed);
        for (total, n) in stats.errors.iter_mut().zip(&self.errors) {
            *total += n.load(Ordering::Relaxed);
        }
        for (total, n) in stats.closes.iter_mut().zip(&self.closes) {
            *total = n.load(Ordering::Relaxed);
        }
    }
}

/// What every connection task shares.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) shards: Vec<mpsc::Sender<Event>>,
    pub(crate) counters: Counters,
    /// Notified when the counters change, so the metrics are republished.
    pub(crate) changed: Arc<Notify>,
    pub(crate) stop: watch::Receiver<bool>,
}

/// Why reading ended early, or that it may go on.
type Step = Result<(), CloseReason>;

/// One client, from handshake to close.
pub(crate) async fn run<S>(mut stream: S, conn: ConnId, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = &shared.config;
    let handshake = Duration::from_secs(config.handshake_timeout_secs);
    let early = match ws::accept(&mut stream, handshake).await {
        Ok(early) => early,
        Err(e) => {
            tracing::debug!(?conn, error = %e, "WebSocket handshake failed");
            return;
        }
    };
    let (reader, mut writer) = tokio::io::split(stream);
    let write_timeout = Duration::from_secs(config.write_timeout_secs);
    let counters = &shared.counters;
    if !counters.open(config.tracker.max_connections) {
        let refusal = Refusal::TooManyConnections(config.tracker.max_connections);
        tracing::debug!(?conn, %refusal, "connection refused");
        counters.refused(&refusal);
        counters.closed(CloseReason::Refused);
        shared.changed.notify_one();
        let mut goodbye = Vec::new();
        ws::frame(
            &mut goodbye,
            ws::TEXT,
            failure(None, refusal).to_json().as_bytes(),
        );
        ws::frame(&mut goodbye, ws::CLOSE, &[]);
        let goodbye = async {
            writer.write_all(&goodbye).await?;
            writer.flush().await
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), goodbye).await;
        return;
    }
    shared.changed.notify_one();
    tracing::debug!(?conn, "connected");

    let (outbound, mut queue) = mpsc::channel::<Box<Out>>(config.outbound_queue.max(1));
    let link = Link {
        outbound,
        kill: Arc::new(Notify::new()),
    };
    let mut state = Reader {
        conn,
        shared: &shared,
        gate: Gate::new(Instant::now(), &config.tracker),
        link: link.clone(),
        touched: Vec::new(),
    };
    let idle = Duration::from_secs(config.idle_timeout_secs);
    let mut stop = shared.stop.clone();
    let reason = {
        let read = async {
            let mut frames = match ws::Reader::new(reader, config.tracker.max_message_len, &early) {
                Ok(frames) => frames,
                Err(_) => return CloseReason::Protocol,
            };
            drop(early);
            loop {
                let message = match tokio::time::timeout(idle, frames.next()).await {
                    Err(_) => return CloseReason::Idle,
                    Ok(Ok(None) | Err(WsError::Io(_))) => return CloseReason::Client,
                    Ok(Err(e @ WsError::Protocol(_))) => {
                        tracing::debug!(?conn, error = %e, "WebSocket protocol error");
                        return CloseReason::Protocol;
                    }
                    Ok(Ok(Some(message))) => message,
                };
                let step = match message {
                    Incoming::Text(text) => state.text(&text).await,
                    Incoming::Binary => {
                        let refusal = state.gate.binary(Instant::now(), &config.tracker);
                        state.refuse(None, refusal)
                    }
                    Incoming::Ping(payload) => state.push(Out::Pong(payload)),
                    Incoming::Pong => Ok(()),
                    Incoming::Close => return CloseReason::Client,
                };
                if let Err(reason) = step {
                    return reason;
                }
            }
        };
        let write = async {
            while let Some(first) = queue.recv().await {
                let mut bytes = Vec::new();
                encode(&mut bytes, &first);
                while bytes.len() < WRITE_BATCH_BYTES {
                    let Ok(next) = queue.try_recv() else { break };
                    encode(&mut bytes, &next);
                }
                let sent = async {
                    writer.write_all(&bytes).await?;
                    writer.flush().await
                };
                match tokio::time::timeout(write_timeout, sent).await {
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
            // A shard dropped this connection: it does not read fast enough.
            () = link.kill.notified() => CloseReason::SlowReader,
            _ = stop.wait_for(|&stop| stop) => CloseReason::Shutdown,
        }
    };
    tracing::debug!(?conn, reason = reason.label(), "disconnected");
    // A best-effort close frame; a peer that does not read gets none.
    let mut close = Vec::new();
    ws::frame(&mut close, ws::CLOSE, &[]);
    let close = async {
        writer.write_all(&close).await?;
        writer.flush().await
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), close).await;
    for (shard, touched) in shared.shards.iter().zip(&state.touched) {
        if *touched {
            let _ = shard.send(Event::Closed(conn)).await;
        }
    }
    counters.close(reason);
    shared.changed.notify_one();
}

/// Appends one queued item as a frame.
fn encode(bytes: &mut Vec<u8>, out: &Out) {
    match out {
        Out::Message(message) => ws::frame(bytes, ws::TEXT, message.to_json().as_bytes()),
        Out::Pong(payload) => ws::frame(bytes, ws::PONG, payload),
    }
}

/// The reading half's state: admission, and which shards know the connection.
struct Reader<'a> {
    conn: ConnId,
    shared: &'a Shared,
    gate: Gate,
    link: Link,
    /// By shard index: whether this connection sent a message there (and so
    /// must tell it when it closes).
    touched: Vec<bool>,
}

impl Reader<'_> {
    async fn text(&mut self, text: &str) -> Step {
        let config = &self.shared.config.tracker;
        match self.gate.text(Instant::now(), config, text) {
            Ok(ClientMessage::Scrape(s)) => self.scrape(s).await,
            Ok(message) => {
                let info_hash = match &message {
                    ClientMessage::Announce(a) => a.info_hash,
                    ClientMessage::Answer(a) => a.info_hash,
                    ClientMessage::Scrape(_) => return Ok(()),
                };
                self.route(info_hash, message).await
            }
            Err(refusal) => self.refuse(None, refusal),
        }
    }

    /// Sends an announce or answer to the shard of its swarm; the shard
    /// writes the replies to this connection's queue.
    async fn route(&mut self, info_hash: InfoHash, message: ClientMessage) -> Step {
        let shards = &self.shared.shards;
        let index = shard_of(&info_hash, shards.len());
        if self.touched.is_empty() {
            self.touched = vec![false; shards.len()];
        }
        let first = self
            .touched
            .get_mut(index)
            .is_some_and(|t| !std::mem::replace(t, true));
        let event = Event::Message {
            conn: self.conn,
            message,
            link: first.then(|| self.link.clone()),
        };
        match shards.get(index) {
            Some(shard) => shard.send(event).await.map_err(|_| CloseReason::Shutdown),
            None => Ok(()),
        }
    }

    /// Asks each shard holding some of the swarms for their counts, in
    /// parallel, and answers with all of them.
    async fn scrape(&mut self, s: ScrapeRequest) -> Step {
        if s.info_hashes.is_empty() {
            return self.refuse(Some(Action::Scrape), Refusal::ScrapeAll);
        }
        let shards = &self.shared.shards;
        let mut parts: Vec<Vec<InfoHash>> = vec![Vec::new(); shards.len()];
        for h in s.info_hashes {
            if let Some(part) = parts.get_mut(shard_of(&h, shards.len())) {
                part.push(h);
            }
        }
        let mut replies = Vec::new();
        for (shard, info_hashes) in shards.iter().zip(parts) {
            if info_hashes.is_empty() {
                continue;
            }
            let (reply, answer) = oneshot::channel();
            let event = Event::Scrape { info_hashes, reply };
            shard.send(event).await.map_err(|_| CloseReason::Shutdown)?;
            replies.push(answer);
        }
        let mut files = BTreeMap::new();
        for answer in replies {
            files.extend(answer.await.map_err(|_| CloseReason::Shutdown)?);
        }
        self.shared.counters.scrapes.fetch_add(1, Ordering::Relaxed);
        self.shared.changed.notify_one();
        self.push(Out::Message(TrackerMessage::Scrape(ScrapeResponse {
            files,
            min_request_interval_secs: None,
        })))
    }

    fn refuse(&self, action: Option<Action>, refusal: Refusal) -> Step {
        self.shared.counters.refused(&refusal);
        self.shared.changed.notify_one();
        self.push(Out::Message(failure(action, refusal)))
    }

    /// Queues a reply of this task's own; a full queue means a slow reader.
    fn push(&self, out: Out) -> Step {
        match self.link.outbound.try_send(Box::new(out)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(CloseReason::SlowReader),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(CloseReason::Shutdown),
        }
    }
}

fn failure(action: Option<Action>, refusal: Refusal) -> TrackerMessage {
    TrackerMessage::Failure(Failure {
        action,
        info_hash: None,
        reason: refusal.to_string(),
    })
}
