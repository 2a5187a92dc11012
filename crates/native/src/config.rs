//! Settings of the native host. The engine's own settings are
//! [`p2pml_core::engine::EngineConfig`]; these are only about I/O.

use std::time::Duration;

use p2pml_core::engine::EngineConfig;

/// A STUN or TURN server, as `RTCIceServer` in browsers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:host:port` or `turn:host:port?transport=udp`.
    pub urls: Vec<String>,
    /// TURN user name (empty for STUN).
    pub username: String,
    /// TURN credential (empty for STUN).
    pub credential: String,
}

/// WebRTC settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RtcConfig {
    /// STUN/TURN servers. Default: none (P2P Media Loader defaults to two
    /// public STUN servers, which a deployment should replace with its own).
    pub ice_servers: Vec<IceServer>,
    /// Use relayed (TURN) candidates only, as `iceTransportPolicy: "relay"`:
    /// hides this peer's addresses from its peers, and proves a TURN setup.
    pub relay_only: bool,
    /// Local UDP addresses to bind for ICE. `0.0.0.0:0` means every
    /// interface except loopback; tests bind `127.0.0.1:0`.
    pub udp_addrs: Vec<String>,
    /// UDP socket send and receive buffer size. 4 MiB: with the kernel's
    /// default 208 KiB, loopback bursts overflow and SCTP throughput fell
    /// from about 430 MB/s to 40–160 MB/s in our measurement.
    pub socket_buffer: usize,
    /// SCTP receive window: how much a peer may send us before our
    /// acknowledgements. 1.5 MiB: with webrtc 0.21 the sender turns its whole
    /// window into encrypted packets before it sends the first, so a larger
    /// window makes sender and receiver take turns instead of working at
    /// once. Loopback, 256 MiB through our protocol
    /// (`p2p_throughput 256 4`): 4 MiB gave 295–316 MB/s, 1.5 MiB 373–385
    /// MB/s, 1 MiB 342–350 MB/s. 1.5 MiB still allows about 250 Mbit/s at
    /// 50 ms of round trip.
    pub sctp_receive_window: u32,
    /// How long to wait for ICE gathering before sending the SDP with the
    /// candidates found so far (simple-peer: 5 s after the first candidate).
    pub gathering_timeout: Duration,
    /// Upload rate cap over all connections, in bytes per second (`None`: no cap).
    pub upload_rate: Option<u64>,
    /// Messages queued for one connection's writer at most; the engine keeps
    /// far fewer in flight (its send high-water mark), so reaching this means
    /// the connection is stuck and it is closed.
    pub send_queue: usize,
}

impl Default for RtcConfig {
    fn default() -> Self {
        Self {
            ice_servers: Vec::new(),
            relay_only: false,
            udp_addrs: vec!["0.0.0.0:0".into()],
            socket_buffer: 4 << 20,
            sctp_receive_window: 3 << 19,
            gathering_timeout: Duration::from_secs(5),
            upload_rate: None,
            send_queue: 256,
        }
    }
}

/// HTTP client settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// TCP and TLS connect timeout.
    pub connect_timeout: Duration,
    /// Longest wait for any bytes of a response before it fails (a backstop:
    /// the engine's own no-bytes timeout is shorter and decides first).
    pub read_timeout: Duration,
    /// Attempts for manifests and pass-through requests that fail with a
    /// network error or a 5xx (segments are retried by the engine).
    pub attempts: u32,
    /// Pause before the first retry; doubled for each further one.
    pub retry_backoff: Duration,
    /// Largest manifest read, in bytes.
    pub max_manifest_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(15),
            attempts: 3,
            retry_backoff: Duration::from_millis(250),
            max_manifest_bytes: 16 << 20,
        }
    }
}

/// Everything a [`crate::host::NativeEngine`] needs.
#[derive(Debug, Clone)]
pub struct NativeConfig {
    /// The engine's settings. Its `seed` is replaced with a random one
    /// unless [`Self::keep_seed`] is set, so peers differ.
    pub engine: EngineConfig,
    /// Keep `engine.common.seed` as given (reproducible runs).
    pub keep_seed: bool,
    /// WebRTC.
    pub rtc: RtcConfig,
    /// HTTP.
    pub http: HttpConfig,
    /// Player calls and I/O results queued for the engine task at most.
    pub queue: usize,
}

impl Default for NativeConfig {
    fn default() -> Self {
        let mut engine = EngineConfig::default();
        // Native peers keep at least a megabyte queued per channel, as the
        // browser host does (LAN and loopback links idle behind 64 KiB), and
        // up to 8 MiB where the channel drains 20 ms of it: a loopback or LAN
        // channel moves hundreds of MB/s, and with a fixed megabyte our
        // peer-protocol throughput stayed near half of the raw channel's.
        engine.peer.send_high_water = 1 << 20;
        engine.peer.send_high_water_max = 8 << 20;
        engine.peer.send_queue_time = std::time::Duration::from_millis(20);
        // Newcomers wait for the peers the tracker is about to introduce
        // before seeding, as the browser host does (see
        // `CommonConfig::seeding_grace`).
        engine.common.seeding_grace = std::time::Duration::from_secs(3);
        Self {
            engine,
            keep_seed: false,
            rtc: RtcConfig::default(),
            http: HttpConfig::default(),
            queue: 1024,
        }
    }
}
