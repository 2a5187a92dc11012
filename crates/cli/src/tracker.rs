//! `p2pml tracker`: runs the WebTorrent tracker until SIGINT or SIGTERM.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use p2pml_tracker::{Server, ServerConfig, Stats, TlsFiles};

/// `p2pml tracker [--listen ADDR:PORT] [--metrics ADDR:PORT] [--workers N] [--cert PEM --key PEM] [--config FILE]`
#[derive(Args)]
pub(crate) struct TrackerArgs {
    /// WebSocket address (overrides the config file).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Address of /metrics and /health (overrides the config file).
    #[arg(long, value_name = "ADDR:PORT")]
    metrics: Option<SocketAddr>,
    /// Shards of the swarm state and runtime threads (overrides the config
    /// file; default: the number of cores).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Serve wss:// with this PEM certificate chain (needs --key).
    #[arg(long, value_name = "PEM", requires = "key")]
    cert: Option<PathBuf>,
    /// The PEM private key of --cert.
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,
    /// TOML configuration; see --print-config for every key and its default.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the configuration in force as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

pub(crate) fn run(args: &TrackerArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            ServerConfig::from_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => ServerConfig::default(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(metrics) = args.metrics {
        config.metrics = Some(metrics);
    }
    if let Some(workers) = args.workers {
        config.workers = workers;
    }
    config.validate()?;
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        config.tls = Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    if args.print_config {
        write!(out, "{}", config.to_toml())?;
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // One runtime thread per shard: the shards and the connections' parsing
    // share them. Under load, most connection tasks are runnable at once and
    // overflow a worker's local run queue (256 tasks) into the global one,
    // which tokio polls once per 31 tasks by default: those connections wait
    // far longer than the rest. Taking from the global queue at every tick
    // keeps the order fair: at 1,000 busy connections on one worker, p99
    // announce latency went from 1.26 s to 0.24 s at the same throughput
    // (p2pml-tracker-load; see the benchmark note).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers)
        .global_queue_interval(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    // Installed before the sockets open, so a signal is never missed.
    let shutdown = shutdown_signal()?;
    let server = Server::bind(config).await?;
    tracing::info!(
        websocket = %server.local_addr()?,
        metrics = ?server.metrics_addr()?,
        "serving"
    );
    if std::io::stderr().is_terminal() {
        tokio::spawn(status_line(server.stats()));
    }
    server.run(shutdown).await?;
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
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

/// One line on the terminal, rewritten every second.
async fn status_line(stats: tokio::sync::watch::Receiver<Stats>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let (mut last, mut last_at) = (0u64, Instant::now());
    loop {
        tick.tick().await;
        let s = *stats.borrow();
        let elapsed = last_at.elapsed().as_secs_f64().max(1e-3);
        #[expect(clippy::cast_precision_loss, reason = "a rate for display")]
        let rate = s.announces.saturating_sub(last) as f64 / elapsed;
        (last, last_at) = (s.announces, Instant::now());
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[K{} connections, {} swarms, {} peers, {rate:.1} announces/s",
            s.connections,
            s.swarms,
            s.peers
        );
    }
}
