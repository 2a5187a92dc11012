//! `p2pml proxy`: a local HTTP proxy that gives any player P2P.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Context;
use p2pml_native::proxy::{Proxy, ProxyConfig};

use crate::peer_args::{self, PeerArgs};

/// `p2pml proxy [--listen ADDR:PORT] --tracker URL…`
#[derive(clap::Args)]
pub(crate) struct ProxyArgs {
    /// Address to listen on (players open http://ADDR:PORT/manifest?url=URL, the manifest URL percent-encoded).
    #[arg(long, default_value = "127.0.0.1:8888")]
    listen: SocketAddr,
    #[command(flatten)]
    peer: PeerArgs,
    /// Log every request and engine step.
    #[arg(long, short)]
    verbose: bool,
}

pub(crate) fn run(args: &ProxyArgs, out: &mut impl Write) -> anyhow::Result<()> {
    peer_args::init_logging(args.verbose, peer_args::PEER_LOGS);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let shutdown = peer_args::shutdown_signal()?;
        let mut config = ProxyConfig::default();
        args.peer.apply(&mut config.native);
        let proxy = Proxy::bind(args.listen, config)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let addr = proxy.local_addr()?;
        writeln!(
            out,
            "proxy  http://{addr}/manifest?url=<URL-encoded manifest URL>"
        )?;
        out.flush()?;
        let handle = proxy.handle();
        peer_args::spawn_status_line(move || handle.stats());
        proxy.run(shutdown).await?;
        Ok(())
    })
}
