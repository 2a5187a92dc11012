//! `p2pml-tracker-load`: drives a WebTorrent tracker on loopback with many
//! peers, as P2P Media Loader's clients load it, and reports one JSON line.
//!
//! Each connection is one peer of a swarm of `--peers-per-swarm`; it
//! announces with `--offers` offers of `--offer-size` bytes of SDP (`numwant`
//! equal to the offers), waits for the announce response, and announces
//! again (a closed loop: the tracker's speed sets the pace); it answers every
//! offer relayed to it. After `--warmup` seconds, frames from the tracker are
//! counted for `--duration` seconds: announce responses, relayed offers,
//! relayed answers (all of them are responses/s), and the time from each
//! announce to its response. Then the peers stop announcing, stay connected
//! for `--idle` seconds, and the server's resident memory is read.
//!
//! The generator runs on ONE thread (a current-thread runtime): on a small
//! machine it competes with the server for cores, and one thread keeps its
//! share predictable and its CPU time easy to report next to the server's.
//! It parses only the ids of incoming frames and sends prebuilt SDP text.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod peer;
mod proc;
mod sdp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde::Serialize;
use tokio::sync::{Semaphore, watch};

use peer::{Phase, Plan, Tally};

/// Load a WebTorrent tracker with announcing, offering and answering peers.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The tracker, e.g. ws://127.0.0.1:8000 (loopback only).
    #[arg(long)]
    url: String,
    /// Connections, one peer each.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Peers per swarm (1 swarm per this many connections).
    #[arg(long, default_value_t = 20)]
    peers_per_swarm: usize,
    /// Offers per announce (numwant is the same).
    #[arg(long, default_value_t = 5)]
    offers: usize,
    /// Bytes of SDP per offer (a browser's data-channel offer is about 1.5 KB).
    #[arg(long, default_value_t = 1500)]
    offer_size: usize,
    /// Bytes of SDP per answer.
    #[arg(long, default_value_t = 1200)]
    answer_size: usize,
    /// Seconds of announcing before counting starts.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Seconds of counting.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds connected without announcing before the server's memory is read.
    #[arg(long, default_value_t = 3)]
    idle: u64,
    /// Announce `--announces` times per peer (default once) and measure
    /// nothing but memory (the idle case).
    #[arg(long)]
    idle_only: bool,
    /// Announces per peer in the idle case (0: connect only).
    #[arg(long, default_value_t = 1, requires = "idle_only")]
    announces: u32,
    /// Source addresses 127.0.0.2 onwards to spread connections over
    /// (about 28 000 ephemeral ports each).
    #[arg(long, default_value_t = 64)]
    source_ips: usize,
    /// Connection handshakes in flight at once.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// The tracker sends an announce response for each answer (aquatic_ws):
    /// match them, count them apart, and keep them out of the latency.
    #[arg(long)]
    answer_acks: bool,
    /// The server's process id, to read its memory and CPU time.
    #[arg(long)]
    server_pid: Option<u32>,
    /// A label for the report.
    #[arg(long, default_value = "tracker")]
    label: String,
    /// Hard bound on the whole run, in seconds.
    #[arg(long, default_value_t = 180)]
    deadline: u64,
}

#[derive(Serialize, Default)]
struct Report {
    label: String,
    connections: usize,
    connected: u64,
    connect_failures: u64,
    dropped: u64,
    window_secs: f64,
    announces_sent: u64,
    announce_responses: u64,
    offers: u64,
    answers: u64,
    failures: u64,
    acks: u64,
    other: u64,
    responses_per_sec: f64,
    latency_p50_ms: Option<f64>,
    latency_p99_ms: Option<f64>,
    latency_samples: usize,
    server_rss_baseline: Option<u64>,
    server_rss_idle: Option<u64>,
    server_rss_per_peer: Option<f64>,
    server_cpu_secs: Option<f64>,
    generator_cpu_secs: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let needed = u64::try_from(args.connections)?.saturating_add(256);
    let limit = proc::raise_nofile(needed);
    if limit < needed {
        bail!(
            "{} connections need {needed} open files; this process may open {limit} \
             (the hard limit; raising it needs CAP_SYS_RESOURCE)",
            args.connections
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let deadline = Duration::from_secs(args.deadline);
    let report = runtime
        .block_on(async { tokio::time::timeout(deadline, run(&args)).await })
        .map_err(|_| anyhow::anyhow!("run exceeded its {} s deadline", args.deadline))??;
    // Peer tasks still closing are dropped with the runtime.
    runtime.shutdown_timeout(Duration::from_secs(2));
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

async fn run(args: &Args) -> anyhow::Result<Report> {
    let server = loopback_server(&args.url)?;
    let plan = Arc::new(Plan {
        url: args.url.clone(),
        server,
        source_ips: args.source_ips,
        peers_per_swarm: args.peers_per_swarm,
        offers: args.offers,
        offer_json: description("offer", "actpass", args.offer_size)?,
        answer_json: description("answer", "active", args.answer_size)?,
        announces: args.idle_only.then_some(args.announces),
        answer_acks: args.answer_acks,
    });
    let tally = Arc::new(Tally::default());
    let (phase_tx, phase) = watch::channel(Phase::Connecting);
    let rss = |pid: Option<u32>| pid.and_then(|p| proc::rss_bytes(p).ok());
    let cpu = |pid: Option<u32>| pid.and_then(|p| proc::cpu_seconds(&p.to_string()).ok());
    let mut report = Report {
        label: args.label.clone(),
        connections: args.connections,
        server_rss_baseline: rss(args.server_pid),
        ..Report::default()
    };

    let started = Instant::now();
    let (connected, failed) = connect_all(args, &plan, &tally, &phase).await;
    report.connected = connected;
    report.connect_failures = failed;
    eprintln!(
        "[{}] {connected} connected, {failed} failed in {:.1} s",
        args.label,
        started.elapsed().as_secs_f64()
    );
    if connected == 0 {
        bail!("no connection to {} succeeded", args.url);
    }

    let _ = phase_tx.send(Phase::Warmup);
    if args.idle_only && args.announces > 0 {
        // Every peer announces (with offers, which are answered).
        let all_announced = async {
            while tally.first_responses.load(Ordering::Relaxed) < connected {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let limit = Duration::from_secs(args.warmup.max(30));
        if tokio::time::timeout(limit, all_announced).await.is_err() {
            eprintln!(
                "[{}] only {} of {connected} peers got their announce response",
                args.label,
                tally.first_responses.load(Ordering::Relaxed)
            );
        }
    } else if !args.idle_only {
        tokio::time::sleep(Duration::from_secs(args.warmup)).await;
        let cpu_start = (cpu(args.server_pid), proc::cpu_seconds("self")?);
        let window = Instant::now();
        let _ = phase_tx.send(Phase::Measure);
        tokio::time::sleep(Duration::from_secs(args.duration)).await;
        let _ = phase_tx.send(Phase::Idle);
        report.window_secs = window.elapsed().as_secs_f64();
        report.server_cpu_secs = cpu(args.server_pid)
            .zip(cpu_start.0)
            .map(|(end, start)| end - start);
        report.generator_cpu_secs = proc::cpu_seconds("self")? - cpu_start.1;
    }
    let _ = phase_tx.send(Phase::Idle);
    tokio::time::sleep(Duration::from_secs(args.idle)).await;
    report.server_rss_idle = rss(args.server_pid);
    let _ = phase_tx.send(Phase::Done);

    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    report.dropped = load(&tally.dropped);
    report.announces_sent = load(&tally.announces_sent);
    report.announce_responses = load(&tally.announce_responses);
    report.offers = load(&tally.offers);
    report.answers = load(&tally.answers);
    report.failures = load(&tally.failures);
    report.acks = load(&tally.acks);
    report.other = load(&tally.other);
    if report.window_secs > 0.0 {
        let frames = report.announce_responses + report.offers + report.answers;
        #[expect(clippy::cast_precision_loss, reason = "a rate for the report")]
        let rate = frames as f64 / report.window_secs;
        report.responses_per_sec = rate;
    }
    let mut samples = std::mem::take(
        &mut *tally
            .latencies_us
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    samples.sort_unstable();
    report.latency_samples = samples.len();
    report.latency_p50_ms = percentile(&samples, 0.50);
    report.latency_p99_ms = percentile(&samples, 0.99);
    if let (Some(base), Some(idle)) = (report.server_rss_baseline, report.server_rss_idle) {
        #[expect(clippy::cast_precision_loss, reason = "bytes per peer for the report")]
        let per_peer = idle.saturating_sub(base) as f64 / connected as f64;
        report.server_rss_per_peer = Some(per_peer);
    }
    Ok(report)
}

/// Opens every connection, at most `--connect-concurrency` handshakes at a
/// time, and starts each peer once connected (it waits for `Warmup`).
async fn connect_all(
    args: &Args,
    plan: &Arc<Plan>,
    tally: &Arc<Tally>,
    phase: &watch::Receiver<Phase>,
) -> (u64, u64) {
    let slots = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let connected = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    for index in 0..args.connections {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let (plan, tally, phase) = (plan.clone(), tally.clone(), phase.clone());
        let (connected, failed) = (connected.clone(), failed.clone());
        tokio::spawn(async move {
            let opened = tokio::time::timeout(Duration::from_secs(30), peer::connect(&plan, index));
            let ws = match opened.await {
                Ok(Ok(ws)) => ws,
                Ok(Err(e)) => {
                    if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("connection {index} failed: {e:#}");
                    }
                    return;
                }
                Err(_) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            connected.fetch_add(1, Ordering::Relaxed);
            drop(slot);
            peer::run(index, ws, &plan, &tally, phase).await;
        });
    }
    // Every handshake has finished once all slots are free again.
    let all = u32::try_from(args.connect_concurrency.max(1)).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    (
        connected.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    )
}

/// `{"type":kind,"sdp":...}` as JSON, built once and spliced into every frame.
fn description(kind: &str, setup: &str, size: usize) -> anyhow::Result<String> {
    #[derive(Serialize)]
    struct Description<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        sdp: String,
    }
    Ok(serde_json::to_string(&Description {
        kind,
        sdp: sdp::session(setup, size, 7),
    })?)
}

/// The tracker's address from its ws:// URL; only loopback addresses load.
fn loopback_server(url: &str) -> anyhow::Result<SocketAddr> {
    let authority = url
        .strip_prefix("ws://")
        .context("the URL must start with ws://")?
        .split('/')
        .next()
        .unwrap_or_default();
    let addr: SocketAddr = authority
        .parse()
        .with_context(|| format!("{authority} is not IP:PORT"))?;
    if !addr.ip().is_loopback() {
        bail!("{addr} is not a loopback address: this tool loads only this machine");
    }
    Ok(addr)
}

/// The `q` quantile of sorted samples (µs), in milliseconds.
fn percentile(sorted: &[u32], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index within the samples"
    )]
    let at = ((last as f64) * q).round() as usize;
    sorted.get(at).map(|&us| f64::from(us) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets() {
        assert!(loopback_server("ws://127.0.0.1:8000").is_ok());
        assert!(loopback_server("ws://10.0.0.1:8000").is_err());
        assert!(loopback_server("http://127.0.0.1:8000").is_err());
    }

    #[test]
    fn percentiles_of_sorted_samples() {
        let samples: Vec<u32> = (1..=100).map(|n| n * 1000).collect();
        assert_eq!(percentile(&samples, 0.5), Some(51.0));
        assert_eq!(percentile(&samples, 0.99), Some(99.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
