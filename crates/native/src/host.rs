//! The engine task: one tokio task owns one [`Engine`], feeds it player calls
//! and I/O results with the time, performs its outputs, and sleeps until its
//! next deadline. It decides nothing itself.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use p2pml_core::engine::{Engine, FetchId, Input, Output, PlayerRequestId, TrackerId};
use p2pml_core::streams::StreamId;
use p2pml_core::time::Instant;
use p2pml_core::tracker::ConnId;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::config::NativeConfig;
use crate::http::{self, HttpClient, HttpError};
use crate::rtc::{self, ConnCmd, RtcContext};
use crate::stats::{Stats, StatsSnapshot};
use crate::tracker;

/// Which I/O resource an input is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum IoKey {
    Fetch(FetchId),
    Tracker(TrackerId),
    Conn(ConnId),
}

/// An input from an I/O task. `token` names the task: once the engine has
/// dropped a resource (aborted, closed, reconnected), late inputs from its
/// old task no longer match and are discarded.
#[derive(Debug)]
pub(crate) struct IoMsg {
    pub(crate) key: IoKey,
    pub(crate) token: u64,
    pub(crate) input: Input<Bytes>,
}

/// Where I/O tasks report.
#[derive(Debug, Clone)]
pub(crate) struct IoSender {
    tx: mpsc::Sender<IoMsg>,
    key: IoKey,
    token: u64,
}

impl IoSender {
    /// Reports an input; false once the engine task is gone.
    pub(crate) async fn send(&self, input: Input<Bytes>) -> bool {
        let msg = IoMsg {
            key: self.key,
            token: self.token,
            input,
        };
        self.tx.send(msg).await.is_ok()
    }
}

/// Why a segment could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The engine failed the request (HTTP errors after its retries, …).
    #[error("segment failed: {0}")]
    Failed(String),
    /// The engine task has stopped.
    #[error("the engine has stopped")]
    Stopped,
}

/// Errors starting an engine.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The HTTP client could not be built.
    #[error(transparent)]
    Http(#[from] HttpError),
}

enum Call {
    Input(Input<Bytes>),
    Load {
        request: PlayerRequestId,
        stream: StreamId,
        segment: i64,
        reply: oneshot::Sender<Result<Bytes, LoadError>>,
    },
    Abort(PlayerRequestId),
}

/// A handle on a running engine task; cheap to clone. The task stops when
/// the last handle is dropped.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use p2pml_core::engine::Input;
/// use p2pml_core::streams::SegmentInfo;
/// use p2pml_native::{NativeConfig, NativeEngine};
/// use p2pml_proto::identity::StreamType;
///
/// let mut config = NativeConfig::default();
/// config.engine.common.announce_trackers = vec!["ws://127.0.0.1:8000".into()];
/// let engine = NativeEngine::start(config)?;
/// engine.input(Input::ManifestUrl("http://127.0.0.1:8080/hls-ts/master.m3u8".into())).await;
/// engine.input(Input::AddStream { stream: 1, stream_type: StreamType::Main, index: "abc".into() }).await;
/// let segment = SegmentInfo { id: 0, url: "http://127.0.0.1:8080/hls-ts/240p/seg-000.ts".into(),
///                             byte_range: None, start: 0.0, end: 2.0 };
/// engine.input(Input::UpdateStream { stream: 1, add: vec![segment], remove: vec![] }).await;
/// let bytes = engine.load_segment(1, 0).await?;
/// println!("{} bytes; {}", bytes.len(), engine.stats());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct NativeEngine {
    calls: mpsc::Sender<Call>,
    next_request: Arc<AtomicU64>,
    stats: Arc<Stats>,
    http: HttpClient,
}

impl std::fmt::Debug for NativeEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeEngine").finish_non_exhaustive()
    }
}

impl NativeEngine {
    /// Starts an engine task on the current tokio runtime.
    ///
    /// # Errors
    /// [`HostError::Http`] if the HTTP client cannot be built.
    pub fn start(config: NativeConfig) -> Result<Self, HostError> {
        let http = HttpClient::new(&config.http)?;
        let (calls_tx, calls_rx) = mpsc::channel(config.queue.max(1));
        let (io_tx, io_rx) = mpsc::channel(config.queue.max(1));
        let stats = Arc::new(Stats::default());
        let mut engine_config = config.engine.clone();
        if !config.keep_seed {
            engine_config.common.seed = crate::random_u64();
        }
        let epoch = tokio::time::Instant::now();
        let host = Host {
            engine: Engine::new(engine_config, Instant::ZERO),
            epoch,
            http: http.clone(),
            rtc: Arc::new(RtcContext::new(
                config.rtc.clone(),
                config.engine.peer.send_high_water,
            )),
            io_tx,
            next_token: 1,
            tokens: HashMap::new(),
            tasks: HashMap::new(),
            trackers: HashMap::new(),
            conns: HashMap::new(),
            requests: HashMap::new(),
            stats: stats.clone(),
            pending: VecDeque::new(),
        };
        tokio::spawn(host.run(calls_rx, io_rx));
        Ok(Self {
            calls: calls_tx,
            next_request: Arc::new(AtomicU64::new(1)),
            stats,
            http,
        })
    }

    /// Feeds one input (streams, playlist updates, playback, live flag…).
    /// Returns false if the engine task has stopped.
    pub async fn input(&self, input: Input<Bytes>) -> bool {
        self.calls.send(Call::Input(input)).await.is_ok()
    }

    /// Loads a segment through the engine (from storage, peers or HTTP).
    /// Dropping the future aborts the player's request; the download may go
    /// on as prefetch.
    ///
    /// # Errors
    /// [`LoadError`] when the engine fails the request or has stopped.
    pub async fn load_segment(&self, stream: StreamId, segment: i64) -> Result<Bytes, LoadError> {
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let call = Call::Load {
            request,
            stream,
            segment,
            reply,
        };
        self.calls
            .send(call)
            .await
            .map_err(|_| LoadError::Stopped)?;
        let mut guard = AbortOnDrop {
            calls: self.calls.clone(),
            request,
            armed: true,
        };
        let result = answer.await.unwrap_or(Err(LoadError::Stopped));
        guard.armed = false;
        if result.is_err() {
            self.stats.count_failure();
        }
        result
    }

    /// The engine's counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The HTTP client the engine uses (for manifests and pass-through).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }
}

struct AbortOnDrop {
    calls: mpsc::Sender<Call>,
    request: PlayerRequestId,
    armed: bool,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: if the queue is full the answer is dropped later.
            let _ = self.calls.try_send(Call::Abort(self.request));
        }
    }
}

struct Host {
    engine: Engine<Bytes>,
    epoch: tokio::time::Instant,
    http: HttpClient,
    rtc: Arc<RtcContext>,
    io_tx: mpsc::Sender<IoMsg>,
    next_token: u64,
    tokens: HashMap<IoKey, u64>,
    /// Fetch, tracker and connection tasks, for aborting.
    tasks: HashMap<IoKey, AbortHandle>,
    trackers: HashMap<TrackerId, mpsc::Sender<String>>,
    conns: HashMap<ConnId, mpsc::Sender<ConnCmd>>,
    requests: HashMap<PlayerRequestId, oneshot::Sender<Result<Bytes, LoadError>>>,
    stats: Arc<Stats>,
    /// Inputs the host itself produced while performing outputs (a queue
    /// that turned out full: the resource is closed and the engine told).
    pending: VecDeque<Input<Bytes>>,
}

/// Frames queued for one tracker socket at most.
const TRACKER_QUEUE: usize = 64;

impl Host {
    fn now(&self) -> Instant {
        let micros = self.epoch.elapsed().as_micros();
        Instant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    fn deadline(&self) -> Option<tokio::time::Instant> {
        self.engine
            .poll_timeout()
            .map(|at| self.epoch + Duration::from_micros(at.as_micros()))
    }

    async fn run(mut self, mut calls: mpsc::Receiver<Call>, mut io: mpsc::Receiver<IoMsg>) {
        loop {
            let deadline = self.deadline();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                call = calls.recv() => match call {
                    Some(call) => self.call(call),
                    None => break,
                },
                Some(msg) = io.recv() => self.io(msg),
                () = sleep => {
                    let now = self.now();
                    self.engine.handle_timeout(now);
                }
            }
            self.drain();
        }
        for (_, task) in self.tasks.drain() {
            task.abort();
        }
        tracing::debug!("engine task stopped");
    }

    fn call(&mut self, call: Call) {
        let now = self.now();
        match call {
            Call::Input(input) => self.engine.handle_input(now, input),
            Call::Load {
                request,
                stream,
                segment,
                reply,
            } => {
                self.requests.insert(request, reply);
                self.engine.handle_input(
                    now,
                    Input::LoadSegment {
                        request,
                        stream,
                        segment,
                    },
                );
            }
            Call::Abort(request) => {
                if self.requests.remove(&request).is_some() {
                    self.engine
                        .handle_input(now, Input::AbortSegment { request });
                }
            }
        }
    }

    fn io(&mut self, msg: IoMsg) {
        if self.tokens.get(&msg.key) != Some(&msg.token) {
            return; // from a task the engine no longer wants
        }
        if matches!(
            msg.input,
            Input::HttpEnd { .. }
                | Input::HttpFailed { .. }
                | Input::TrackerClosed { .. }
                | Input::ChannelClosed { .. }
        ) {
            self.forget(msg.key);
        }
        let now = self.now();
        self.engine.handle_input(now, msg.input);
    }

    fn forget(&mut self, key: IoKey) {
        self.tokens.remove(&key);
        self.tasks.remove(&key);
        match key {
            IoKey::Tracker(t) => {
                self.trackers.remove(&t);
            }
            IoKey::Conn(c) => {
                self.conns.remove(&c);
            }
            IoKey::Fetch(_) => {}
        }
    }

    /// Ends a resource's task and forgets it.
    fn stop(&mut self, key: IoKey) {
        if let Some(task) = self.tasks.remove(&key) {
            task.abort();
        }
        self.forget(key);
    }

    fn sender(&mut self, key: IoKey) -> IoSender {
        let token = self.next_token;
        self.next_token += 1;
        self.tokens.insert(key, token);
        IoSender {
            tx: self.io_tx.clone(),
            key,
            token,
        }
    }

    fn drain(&mut self) {
        loop {
            while let Some(output) = self.engine.poll_output() {
                self.perform(output);
            }
            let Some(input) = self.pending.pop_front() else {
                break;
            };
            let now = self.now();
            self.engine.handle_input(now, input);
        }
    }

    fn perform(&mut self, output: Output<Bytes>) {
        match output {
            Output::HttpFetch { fetch, url, range } => {
                let key = IoKey::Fetch(fetch);
                let io = self.sender(key);
                let client = self.http.clone();
                let task = tokio::spawn(http::fetch(client, fetch, url, range, io));
                self.tasks.insert(key, task.abort_handle());
            }
            Output::HttpAbort { fetch } => self.stop(IoKey::Fetch(fetch)),
            Output::TrackerConnect { tracker, url } => {
                let key = IoKey::Tracker(tracker);
                self.stop(key);
                let (tx, rx) = mpsc::channel(TRACKER_QUEUE);
                let io = self.sender(key);
                let task = tokio::spawn(tracker::run(tracker, url, io, rx));
                self.tasks.insert(key, task.abort_handle());
                self.trackers.insert(tracker, tx);
            }
            Output::TrackerSend { tracker, text } => {
                let sent = self
                    .trackers
                    .get(&tracker)
                    .is_some_and(|tx| tx.try_send(text).is_ok());
                if !sent && self.tokens.contains_key(&IoKey::Tracker(tracker)) {
                    tracing::warn!(tracker, "tracker send queue full: reconnecting");
                    self.stop(IoKey::Tracker(tracker));
                    self.pending.push_back(Input::TrackerClosed { tracker });
                }
            }
            Output::CreateOffer { conn } => self.open_conn(conn, None),
            Output::CreateAnswer { conn, offer } => self.open_conn(conn, Some(offer)),
            Output::AcceptAnswer { conn, answer } => {
                self.send_to_conn(conn, ConnCmd::AcceptAnswer(answer))
            }
            Output::Send { conn, data } => self.send_to_conn(conn, ConnCmd::Send(data)),
            Output::QueryBuffered { conn } => self.send_to_conn(conn, ConnCmd::QueryBuffered),
            Output::Close { conn } => {
                if let Some(tx) = self.conns.get(&conn) {
                    if tx.try_send(ConnCmd::Close).is_ok() {
                        // The task closes the peer connection itself.
                        self.forget(IoKey::Conn(conn));
                        return;
                    }
                }
                self.stop(IoKey::Conn(conn));
            }
            Output::SegmentLoaded { request, data, .. } => {
                if let Some(reply) = self.requests.remove(&request) {
                    let _ = reply.send(Ok(data));
                }
            }
            Output::SegmentFailed { request, reason } => {
                if let Some(reply) = self.requests.remove(&request) {
                    let _ = reply.send(Err(LoadError::Failed(reason)));
                }
            }
            Output::Event(event) => {
                tracing::trace!(?event, "engine event");
                self.stats.count(&event);
            }
        }
    }

    fn open_conn(&mut self, conn: ConnId, offer: Option<String>) {
        let key = IoKey::Conn(conn);
        let (tx, rx) = mpsc::channel(self.rtc.config().send_queue.max(4));
        let io = self.sender(key);
        let task = tokio::spawn(rtc::run(self.rtc.clone(), conn, offer, io, rx));
        self.tasks.insert(key, task.abort_handle());
        self.conns.insert(conn, tx);
    }

    fn send_to_conn(&mut self, conn: ConnId, cmd: ConnCmd) {
        let sent = self
            .conns
            .get(&conn)
            .is_some_and(|tx| tx.try_send(cmd).is_ok());
        if !sent && self.tokens.contains_key(&IoKey::Conn(conn)) {
            tracing::debug!(conn, "connection queue full or gone: closing");
            self.stop(IoKey::Conn(conn));
            self.pending.push_back(Input::ChannelClosed { conn });
        }
    }
}
