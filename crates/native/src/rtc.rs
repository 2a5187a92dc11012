//! WebRTC data channels with webrtc-rs (`webrtc` 0.21), one task per peer
//! connection. Offers and answers are non-trickle: the SDP is reported once
//! ICE gathering completes (host, server-reflexive from STUN, relay from
//! TURN) or the gathering timeout passes, without `a=ice-options:trickle`,
//! as simple-peer sends it (SPEC §2.5).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use p2pml_core::engine::Input;
use p2pml_core::peer::UPLOAD_DRAINED;
use p2pml_core::tracker::ConnId;
use tokio::sync::{Mutex, mpsc};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelState};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnectionState,
    RTCSessionDescription, SettingEngineBuilder,
};
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime,
};

use crate::config::RtcConfig;
use crate::host::IoSender;

/// What the engine asks of one connection.
#[derive(Debug)]
pub(crate) enum ConnCmd {
    AcceptAnswer(String),
    Send(Bytes),
    QueryBuffered,
    Close,
}

/// Shared by all connections of an engine.
#[derive(Debug)]
pub(crate) struct RtcContext {
    config: RtcConfig,
    /// The channel's buffered-amount-low threshold: half the engine's send
    /// high-water mark, so the engine refills before the channel runs dry
    /// (at simple-peer's 64 KiB, loopback throughput through the engine
    /// was 83 MB/s; at half of 1 MiB, 170 MB/s).
    low_water: usize,
    runtime: Arc<dyn Runtime>,
    upload: Option<Mutex<TokenBucket>>,
}

/// The webrtc-rs runtime our connections use: tokio, with UDP socket
/// buffers of `socket_buffer` bytes ([`RtcConfig::socket_buffer`]; 0 keeps
/// the kernel's default). For programs that drive webrtc-rs directly, such
/// as the throughput benchmark, and want the same sockets.
///
/// ```
/// let runtime = p2pml_native::rtc_runtime(4 << 20);
/// # drop(runtime);
/// ```
pub fn rtc_runtime(socket_buffer: usize) -> Arc<dyn Runtime> {
    Arc::new(BufferedRuntime {
        buffer: socket_buffer,
    })
}

impl RtcContext {
    pub(crate) fn new(config: RtcConfig, send_high_water: usize) -> Self {
        let runtime = rtc_runtime(config.socket_buffer);
        let upload = config
            .upload_rate
            .filter(|r| *r > 0)
            .map(|rate| Mutex::new(TokenBucket::new(rate)));
        Self {
            config,
            low_water: (send_high_water / 2).max(UPLOAD_DRAINED),
            runtime,
            upload,
        }
    }

    pub(crate) fn config(&self) -> &RtcConfig {
        &self.config
    }
}

/// An upload rate cap: bytes per second, with one second of burst.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    tokens: f64,
    at: tokio::time::Instant,
}

impl TokenBucket {
    #[expect(clippy::cast_precision_loss, reason = "a rate")]
    fn new(rate: u64) -> Self {
        Self {
            rate: rate as f64,
            tokens: rate as f64,
            at: tokio::time::Instant::now(),
        }
    }

    /// How long to wait before `bytes` may go (taking them now).
    #[expect(clippy::cast_precision_loss, reason = "a rate")]
    fn take(&mut self, bytes: usize) -> Duration {
        let now = tokio::time::Instant::now();
        let refill = (now - self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate);
        self.at = now;
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// The tokio runtime, with larger UDP socket buffers: at the kernel's
/// default, loopback bursts overflow the receive buffer and SCTP spends its
/// time recovering (see [`RtcConfig::socket_buffer`]).
#[derive(Debug)]
struct BufferedRuntime {
    buffer: usize,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Runtime for BufferedRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Box<dyn JoinHandle> {
        TokioRuntime.spawn(future)
    }

    fn wrap_udp_socket(
        &self,
        socket: std::net::UdpSocket,
    ) -> std::io::Result<Arc<dyn AsyncUdpSocket>> {
        if self.buffer > 0 {
            let s = socket2::SockRef::from(&socket);
            // The kernel caps these at its maximum; a smaller buffer still works.
            let _ = s.set_recv_buffer_size(self.buffer);
            let _ = s.set_send_buffer_size(self.buffer);
        }
        TokioRuntime.wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> std::io::Result<Arc<dyn AsyncTcpListener>> {
        TokioRuntime.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        addr: std::net::SocketAddr,
    ) -> BoxFuture<'a, std::io::Result<Arc<dyn AsyncTcpStream>>> {
        TokioRuntime.connect_tcp(addr)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> BoxFuture<'a, std::io::Result<Vec<std::net::SocketAddr>>> {
        TokioRuntime.resolve_host(host)
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        TokioRuntime.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        TokioRuntime.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        TokioRuntime.block_on(future);
    }
}

/// What the peer connection's callbacks report to its task.
enum PcEvent {
    Gathered,
    Channel(Arc<dyn DataChannel>),
    Ended,
}

struct Events(mpsc::Sender<PcEvent>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.0.try_send(PcEvent::Gathered);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if matches!(
            state,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
        ) {
            let _ = self.0.try_send(PcEvent::Ended);
        }
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.0.try_send(PcEvent::Channel(channel));
    }
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
enum RtcError {
    #[error(transparent)]
    WebRtc(#[from] webrtc::error::Error),
    #[error("no local description after gathering")]
    NoDescription,
    #[error("data sent before the data channel exists")]
    NoChannel,
}

/// Runs one peer connection: offering (`offer` is `None`) or answering the
/// remote `offer`. Always ends by reporting [`Input::ChannelClosed`].
pub(crate) async fn run(
    ctx: Arc<RtcContext>,
    conn: ConnId,
    offer: Option<String>,
    io: IoSender,
    cmds: mpsc::Receiver<ConnCmd>,
) {
    if let Err(e) = drive(&ctx, conn, offer, &io, cmds).await {
        tracing::debug!(conn, error = %e, "peer connection ended");
    }
    io.send(Input::ChannelClosed { conn }).await;
}

/// 40 lower-case hex characters, as simple-peer names its channel.
fn channel_label() -> String {
    format!(
        "{:016x}{:016x}{:08x}",
        crate::random_u64(),
        crate::random_u64(),
        crate::random_u64() >> 32
    )
}

async fn drive(
    ctx: &RtcContext,
    conn: ConnId,
    offer: Option<String>,
    io: &IoSender,
    mut cmds: mpsc::Receiver<ConnCmd>,
) -> Result<(), RtcError> {
    let (events_tx, mut events) = mpsc::channel(16);
    let ice_servers = ctx
        .config
        .ice_servers
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone(),
            credential: s.credential.clone(),
        })
        .collect();
    let mut settings = SettingEngineBuilder::new()
        // mDNS needs multicast, which a loopback-only host lacks; browsers
        // send IP candidates to us anyway once they show local addresses.
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .with_sctp_max_receive_buffer_size(ctx.config.sctp_receive_window);
    if ctx.config.relay_only {
        // ICE waits 2 s before nominating a relayed pair, in case a direct one
        // succeeds; with relay candidates only, none can.
        settings = settings.with_relay_acceptance_min_wait(Some(Duration::ZERO));
    }
    let settings = settings.build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(
            RTCConfigurationBuilder::new()
                .with_ice_servers(ice_servers)
                .with_ice_transport_policy(if ctx.config.relay_only {
                    RTCIceTransportPolicy::Relay
                } else {
                    RTCIceTransportPolicy::All
                })
                .build(),
        )
        .with_setting_engine(settings)
        .with_runtime(ctx.runtime.clone())
        .with_handler(Arc::new(Events(events_tx)))
        .with_udp_addrs(ctx.config.udp_addrs.clone())
        .build()
        .await?;
    let result = session(ctx, &pc, conn, offer, io, &mut cmds, &mut events).await;
    let _ = pc.close().await;
    result
}

async fn setup_channel(ctx: &RtcContext, dc: &Arc<dyn DataChannel>) -> Result<(), RtcError> {
    dc.set_buffered_amount_low_threshold(u32::try_from(ctx.low_water).unwrap_or(u32::MAX))
        .await?;
    Ok(())
}

/// How often a draining channel is looked at, once past its low-water mark.
const DRAIN_POLL: Duration = Duration::from_millis(5);

/// What the channel still holds to send (`bufferedAmount`).
async fn buffered(channel: &Option<Arc<dyn DataChannel>>) -> Result<usize, RtcError> {
    Ok(match channel {
        Some(dc) => dc.outstanding_bytes().await?,
        None => 0,
    })
}

async fn poll_channel(dc: &Option<Arc<dyn DataChannel>>) -> Option<DataChannelEvent> {
    match dc {
        Some(dc) => dc.poll().await,
        None => std::future::pending().await,
    }
}

async fn session(
    ctx: &RtcContext,
    pc: &impl PeerConnection,
    conn: ConnId,
    offer: Option<String>,
    io: &IoSender,
    cmds: &mut mpsc::Receiver<ConnCmd>,
    events: &mut mpsc::Receiver<PcEvent>,
) -> Result<(), RtcError> {
    let mut channel: Option<Arc<dyn DataChannel>> = None;
    let offering = offer.is_none();
    match offer {
        None => {
            let dc = pc.create_data_channel(&channel_label(), None).await?;
            setup_channel(ctx, &dc).await?;
            channel = Some(dc);
            let offer = pc.create_offer(None).await?;
            pc.set_local_description(offer).await?;
        }
        Some(sdp) => {
            pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
                .await?;
            let answer = pc.create_answer(None).await?;
            pc.set_local_description(answer).await?;
        }
    }
    // Non-trickle: wait for every candidate (or the timeout).
    let gathering = tokio::time::sleep(ctx.config.gathering_timeout);
    tokio::pin!(gathering);
    loop {
        tokio::select! {
            () = &mut gathering => break,
            event = events.recv() => match event {
                Some(PcEvent::Gathered) => break,
                Some(PcEvent::Channel(dc)) => {
                    setup_channel(ctx, &dc).await?;
                    channel.get_or_insert(dc);
                }
                Some(PcEvent::Ended) | None => return Ok(()),
            }
        }
    }
    let sdp = pc
        .local_description()
        .await
        .ok_or(RtcError::NoDescription)?
        .sdp;
    let sdp = without_trickle(&sdp);
    let created = if offering {
        Input::OfferCreated { conn, sdp }
    } else {
        Input::AnswerCreated { conn, sdp }
    };
    if !io.send(created).await {
        return Ok(());
    }
    let mut opened = false;
    // The engine counts a peer's upload as drained below UPLOAD_DRAINED;
    // with a higher low-water mark, that moment is polled for.
    let mut watch_drain = false;
    loop {
        let drain_check = async {
            if watch_drain {
                tokio::time::sleep(DRAIN_POLL).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = drain_check => {
                let amount = buffered(&channel).await?;
                if amount < UPLOAD_DRAINED {
                    watch_drain = false;
                    if !io.send(Input::ChannelBuffered { conn, amount }).await {
                        return Ok(());
                    }
                }
            },
            cmd = cmds.recv() => match cmd {
                None | Some(ConnCmd::Close) => return Ok(()),
                Some(ConnCmd::AcceptAnswer(sdp)) => {
                    pc.set_remote_description(RTCSessionDescription::answer(sdp)?).await?;
                }
                Some(ConnCmd::Send(data)) => {
                    let dc = channel.as_ref().ok_or(RtcError::NoChannel)?;
                    if let Some(bucket) = &ctx.upload {
                        let wait = bucket.lock().await.take(data.len());
                        tokio::time::sleep(wait).await;
                    }
                    tracing::trace!(conn, bytes = data.len(), "channel send");
                    dc.send(BytesMut::from(&data[..])).await?;
                }
                Some(ConnCmd::QueryBuffered) => {
                    let amount = buffered(&channel).await?;
                    watch_drain = amount >= UPLOAD_DRAINED;
                    if !io.send(Input::ChannelBuffered { conn, amount }).await {
                        return Ok(());
                    }
                }
            },
            event = poll_channel(&channel) => match event {
                Some(DataChannelEvent::OnOpen) => {
                    tracing::trace!(conn, "channel open");
                    if !std::mem::replace(&mut opened, true) && !io.send(Input::ChannelOpen { conn }).await {
                        return Ok(());
                    }
                }
                Some(DataChannelEvent::OnMessage(message)) => {
                    let data = message.data.freeze();
                    tracing::trace!(conn, bytes = data.len(), "channel message");
                    if !io.send(Input::ChannelMessage { conn, data }).await {
                        return Ok(());
                    }
                }
                Some(DataChannelEvent::OnBufferedAmountLow) => {
                    let amount = buffered(&channel).await?;
                    watch_drain = amount >= UPLOAD_DRAINED;
                    if !io.send(Input::ChannelBuffered { conn, amount }).await {
                        return Ok(());
                    }
                }
                Some(DataChannelEvent::OnClose) | None => return Ok(()),
                Some(_) => {}
            },
            event = events.recv() => match event {
                Some(PcEvent::Channel(dc)) => {
                    if channel.is_none() {
                        setup_channel(ctx, &dc).await?;
                        let open = dc.ready_state().await? == RTCDataChannelState::Open;
                        channel = Some(dc);
                        if open && !std::mem::replace(&mut opened, true) && !io.send(Input::ChannelOpen { conn }).await {
                            return Ok(());
                        }
                    }
                }
                Some(PcEvent::Gathered) => {}
                Some(PcEvent::Ended) | None => return Ok(()),
            },
        }
    }
}

/// The SDP without `a=ice-options:trickle`, as simple-peer sends it.
///
/// ```
/// # use p2pml_native::without_trickle;
/// assert_eq!(without_trickle("v=0\r\na=ice-options:trickle\r\na=x\r\n"), "v=0\r\na=x\r\n");
/// ```
pub fn without_trickle(sdp: &str) -> String {
    sdp.split("\r\n")
        .filter(|line| *line != "a=ice-options:trickle")
        .collect::<Vec<_>>()
        .join("\r\n")
}
