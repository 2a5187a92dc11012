//! Options shared by the native peers (`p2pml proxy`, `p2pml seed`).

use std::io::IsTerminal;
use std::time::Duration;

use p2pml_native::{IceServer, NativeConfig};

/// Trackers, ICE servers and peer limits.
#[derive(clap::Args, Clone)]
pub(crate) struct PeerArgs {
    /// WebTorrent tracker (ws:// or wss://); repeatable.
    #[arg(long = "tracker", value_name = "URL", required = true)]
    trackers: Vec<String>,
    /// STUN server (stun:host:port) for server-reflexive candidates; repeatable.
    #[arg(long = "stun", value_name = "URL")]
    stun: Vec<String>,
    /// TURN server (turn:host:port?transport=udp) for relay candidates; repeatable.
    #[arg(long = "turn", value_name = "URL")]
    turn: Vec<String>,
    /// TURN user name.
    #[arg(long, value_name = "NAME", default_value = "")]
    turn_user: String,
    /// TURN credential.
    #[arg(long, value_name = "SECRET", default_value = "")]
    turn_credential: String,
    /// Connect through the TURN servers only (relay candidates).
    #[arg(long, requires = "turn")]
    relay_only: bool,
    /// Local UDP address for WebRTC; repeatable. 0.0.0.0:0 is every
    /// interface but loopback; use 127.0.0.1:0 for peers on this machine only.
    #[arg(long = "udp", value_name = "ADDR:PORT", default_value = "0.0.0.0:0")]
    udp: Vec<String>,
    /// Swarm id (default: the manifest URL without its query, as P2P Media Loader).
    #[arg(long, value_name = "ID")]
    swarm_id: Option<String>,
    /// Peer connections per swarm at most.
    #[arg(long, value_name = "N")]
    max_peers: Option<usize>,
    /// Uploads served at once at most.
    #[arg(long, value_name = "N")]
    max_uploads: Option<usize>,
    /// Upload rate cap, in kilobytes per second.
    #[arg(long, value_name = "KB/S")]
    upload_kbps: Option<u64>,
}

impl PeerArgs {
    /// Sets what the options name, keeping the rest of `config`.
    pub(crate) fn apply(&self, config: &mut NativeConfig) {
        config.engine.common.announce_trackers = self.trackers.clone();
        config.engine.common.swarm_id = self.swarm_id.clone();
        if let Some(n) = self.max_peers {
            config.engine.common.max_peers_per_swarm = n;
        }
        if let Some(n) = self.max_uploads {
            config.engine.common.max_concurrent_uploads = n;
        }
        config.rtc.udp_addrs = self.udp.clone();
        config.rtc.relay_only = self.relay_only;
        config.rtc.upload_rate = self.upload_kbps.map(|k| k * 1000);
        config.rtc.ice_servers = ice_servers(
            &self.stun,
            &self.turn,
            &self.turn_user,
            &self.turn_credential,
        );
    }
}

/// STUN servers, then TURN servers with their credentials, as `RTCIceServer`s.
pub(crate) fn ice_servers(
    stun: &[String],
    turn: &[String],
    user: &str,
    credential: &str,
) -> Vec<IceServer> {
    stun.iter()
        .map(|url| IceServer {
            urls: vec![url.clone()],
            ..IceServer::default()
        })
        .chain(turn.iter().map(|url| IceServer {
            urls: vec![url.clone()],
            username: user.to_owned(),
            credential: credential.to_owned(),
        }))
        .collect()
}

/// What the native peers' commands log by default.
pub(crate) const PEER_LOGS: &str = "warn,p2pml=info,p2pml_native=info";

/// Logs to stderr: `RUST_LOG` if set, else everything with `verbose`, else `default`.
pub(crate) fn init_logging(verbose: bool, default: &str) {
    let default = if verbose { "debug" } else { default };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .init();
}

/// One line on the terminal, rewritten every second, if stderr is one.
pub(crate) fn spawn_status_line<T: std::fmt::Display>(stats: impl Fn() -> T + Send + 'static) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    tokio::spawn(async move {
        use std::io::Write;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let _ = write!(std::io::stderr(), "\r\x1b[K{}", stats());
        }
    });
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub(crate) fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let interrupt = tokio::signal::ctrl_c();
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = interrupt.await;
    })
}
