//! `cargo xtask bench-tracker`: `p2pml tracker` (release build) side by side
//! with bittorrent-tracker's server (npm), and aquatic_ws if `AQUATIC_WS`
//! names its binary, each loaded by `p2pml-tracker-load` on loopback; then
//! our tracker with many idle peers. Prints one table.
//!
//! Every server runs in `bash -c 'ulimit -n HARD && exec ...'`, so its file
//! limit is the hard limit; every run is bounded by the generator's deadline
//! and by [`RUN_LIMIT`]; every process started here is killed when this
//! function returns, on success or error.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::{root, run};

/// Longest one generator run may take before it is killed.
const RUN_LIMIT: Duration = Duration::from_secs(240);
/// Peers of the idle case: the target is 50 000 in under 500 MB.
const IDLE_PEERS: usize = 50_000;
/// Open files a server needs besides its connections.
const FILE_MARGIN: usize = 300;

/// Which server a case runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ours,
    BittorrentTracker,
    Aquatic,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Ours => "p2pml tracker",
            Self::BittorrentTracker => "bittorrent-tracker",
            Self::Aquatic => "aquatic_ws",
        }
    }
}

struct Case {
    kind: Kind,
    workers: usize,
    connections: usize,
    idle_only: bool,
}

/// Children killed on drop: no server outlives the benchmark.
#[derive(Default)]
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Options: `--quick` (shorter windows), `--connections 1000,10000`.
pub(crate) fn bench_tracker(args: &[String]) -> anyhow::Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let sizes: Vec<usize> = match args.iter().position(|a| a == "--connections") {
        Some(i) => args
            .get(i + 1)
            .context("--connections needs a list")?
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .context("--connections: numbers separated by commas")?,
        None => vec![1_000, 10_000],
    };
    let (warmup, duration, idle) = if quick { (2, 5, 2) } else { (5, 10, 3) };
    run(
        "release build",
        "cargo",
        &[
            "build",
            "--release",
            "--locked",
            "-p",
            "p2pml-cli",
            "-p",
            "p2pml-tracker-load",
        ],
        &[],
    )?;
    if !root().join("node_modules/bittorrent-tracker").exists() {
        run(
            "npm packages",
            "npm",
            &["ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            &[],
        )?;
    }
    let aquatic = std::env::var_os("AQUATIC_WS").map(PathBuf::from);
    let files = hard_file_limit()?;
    let dir = target_dir().join("bench-tracker");
    std::fs::create_dir_all(&dir)?;

    let mut cases = Vec::new();
    for &connections in &sizes {
        for workers in [1, 2] {
            cases.push(Case {
                kind: Kind::Ours,
                workers,
                connections,
                idle_only: false,
            });
        }
        cases.push(Case {
            kind: Kind::BittorrentTracker,
            workers: 1,
            connections,
            idle_only: false,
        });
        if aquatic.is_some() {
            for workers in [1, 2] {
                cases.push(Case {
                    kind: Kind::Aquatic,
                    workers,
                    connections,
                    idle_only: false,
                });
            }
        }
    }
    let idle_peers = IDLE_PEERS.min(files.saturating_sub(FILE_MARGIN));
    cases.push(Case {
        kind: Kind::Ours,
        workers: 2,
        connections: idle_peers,
        idle_only: true,
    });

    let mut rows = Vec::new();
    for case in &cases {
        let label = format!(
            "{} ({} worker{}) at {} {}",
            case.kind.name(),
            case.workers,
            if case.workers == 1 { "" } else { "s" },
            case.connections,
            if case.idle_only { "idle" } else { "conns" }
        );
        println!("\n==> {label}");
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let timing = [warmup, duration, idle];
        match one_case(case, &dir, files, aquatic.as_deref(), timing) {
            Ok(report) => rows.push((case, report, load)),
            Err(e) => {
                println!("<== {label}: FAILED: {e:#}");
                rows.push((case, Value::Null, load));
            }
        }
    }
    println!("\n{}", table(&rows, files, (warmup, duration, idle)));
    Ok(())
}

fn one_case(
    case: &Case,
    dir: &Path,
    files: usize,
    aquatic: Option<&Path>,
    [warmup, duration, idle]: [u64; 3],
) -> anyhow::Result<Value> {
    let mut children = Children::default();
    let addr = free_port()?;
    let command = match case.kind {
        Kind::Ours => {
            let config = dir.join(format!("ours-{}.toml", case.workers));
            std::fs::write(&config, our_config(addr, case.workers))?;
            vec![
                release_bin("p2pml").display().to_string(),
                "tracker".into(),
                "--config".into(),
                config.display().to_string(),
            ]
        }
        Kind::BittorrentTracker => vec![
            "node".into(),
            root()
                .join("tests/browser/tracker.mjs")
                .display()
                .to_string(),
            addr.port().to_string(),
        ],
        Kind::Aquatic => {
            let config = dir.join(format!("aquatic-{}.toml", case.workers));
            std::fs::write(&config, aquatic_config(addr, case.workers))?;
            let binary = aquatic.context("AQUATIC_WS is not set")?;
            vec![
                binary.display().to_string(),
                "-c".into(),
                config.display().to_string(),
            ]
        }
    };
    let log = std::fs::File::create(dir.join("server.log"))?;
    let server = Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -n {files} && exec \"$@\""))
        .arg("bash")
        .args(&command)
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", case.kind.name()))?;
    let pid = server.id();
    children.0.push(server);
    wait_for_port(addr, &mut children)?;

    let mut load = Command::new(release_bin("p2pml-tracker-load"));
    load.args(["--url", &format!("ws://{addr}")])
        .args(["--connections", &case.connections.to_string()])
        .args(["--server-pid", &pid.to_string()])
        .args(["--warmup", &warmup.to_string()])
        .args(["--duration", &duration.to_string()])
        .args(["--idle", &idle.to_string()])
        .args(["--label", case.kind.name()])
        .args(["--deadline", &RUN_LIMIT.as_secs().to_string()])
        .stdout(Stdio::piped());
    if case.idle_only {
        load.arg("--idle-only");
    }
    if case.kind == Kind::Aquatic {
        load.arg("--answer-acks");
    }
    let generator = load.spawn().context("starting p2pml-tracker-load")?;
    children.0.push(generator);
    let started = Instant::now();
    let status = loop {
        let generator = children.0.last_mut().context("generator")?;
        if let Some(status) = generator.try_wait()? {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            bail!("the load generator ran past {} s", RUN_LIMIT.as_secs());
        }
        if children
            .0
            .first_mut()
            .and_then(|s| s.try_wait().ok().flatten())
            .is_some()
        {
            bail!(
                "the server exited during the run; see {}",
                dir.join("server.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    if let Some(stdout) = children.0.last_mut().and_then(|g| g.stdout.as_mut()) {
        use std::io::Read;
        stdout.read_to_string(&mut out)?;
    }
    if !status.success() {
        bail!("p2pml-tracker-load failed ({status})");
    }
    let report: Value = serde_json::from_str(out.trim()).context("the generator's report")?;
    println!("<== {}", out.trim());
    Ok(report)
}

/// Ours with the limits a load test needs: enough connections, and no
/// per-connection rate limit (it protects against one abusive client; each
/// of these peers sends as fast as the tracker answers, far above a
/// browser's rate, and the bench measures the relay, not the limiter).
fn our_config(addr: SocketAddr, workers: usize) -> String {
    format!(
        "listen = \"{addr}\"\nworkers = {workers}\n\n[tracker]\nmax_connections = 100000\nmax_messages_per_sec = 1000000\nmessage_burst = 1000000\n"
    )
}

/// aquatic_ws with `workers` socket workers and one swarm worker (its
/// documentation recommends one swarm worker below eight cores).
fn aquatic_config(addr: SocketAddr, workers: usize) -> String {
    format!(
        "socket_workers = {workers}\nswarm_workers = 1\nlog_level = \"error\"\n\n[network]\naddress = \"{addr}\"\n"
    )
}

fn table(rows: &[(&Case, Value, String)], files: usize, timing: (u64, u64, u64)) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "responses/s = announce responses + relayed offers + relayed answers received by the peers in the window \
         (aquatic_ws's announce responses to answers are matched and left out); p50/p99: announce sent to its response; \
         RSS per peer = (RSS idle after the run - RSS before connecting) / peers; load avg = the machine's 1-minute load before the case."
    );
    let _ = writeln!(
        out,
        "Loopback, 2-core machine; generator: 1 thread, 20 peers per swarm, 5 offers of 1.5 KB per announce (numwant 5), closed loop; \
         warm-up {} s, window {} s, idle {} s; open-file hard limit {files}.",
        timing.0, timing.1, timing.2
    );
    let _ = writeln!(
        out,
        "| server | workers | conns | connected | responses/s | p50 ms | p99 ms | RSS idle MB | RSS/peer KB | server CPU s | responses per server CPU s | gen CPU s | load avg |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (case, r, load) in rows {
        let num = |k: &str| r.get(k).and_then(Value::as_f64);
        let fmt =
            |v: Option<f64>, digits: usize| v.map_or("–".to_owned(), |v| format!("{v:.digits$}"));
        let mb = num("server_rss_idle").map(|b| b / 1e6);
        let per_peer = num("server_rss_per_peer").map(|b| b / 1e3);
        // Robust to other load on the machine: what one CPU second buys.
        let per_cpu = num("responses_per_sec")
            .zip(num("window_secs"))
            .zip(num("server_cpu_secs"))
            .filter(|&(_, cpu)| cpu > 0.0)
            .map(|((rate, window), cpu)| rate * window / cpu);
        let conns = if case.idle_only {
            format!("{} idle", case.connections)
        } else {
            case.connections.to_string()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {conns} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            case.kind.name(),
            case.workers,
            fmt(num("connected"), 0),
            if case.idle_only {
                "–".into()
            } else {
                fmt(num("responses_per_sec"), 0)
            },
            fmt(num("latency_p50_ms"), 1),
            fmt(num("latency_p99_ms"), 1),
            fmt(mb, 0),
            fmt(per_peer, 1),
            if case.idle_only {
                "–".into()
            } else {
                fmt(num("server_cpu_secs"), 1)
            },
            fmt(per_cpu, 0),
            if case.idle_only {
                "–".into()
            } else {
                fmt(num("generator_cpu_secs"), 1)
            },
            load.split_whitespace().next().unwrap_or("?"),
        );
    }
    if let Some((case, r, _)) = rows.iter().find(|(c, _, _)| c.idle_only) {
        let num = |k: &str| r.get(k).and_then(Value::as_f64);
        if let (Some(base), Some(per_peer)) =
            (num("server_rss_baseline"), num("server_rss_per_peer"))
        {
            #[expect(clippy::cast_precision_loss, reason = "a projection for the report")]
            let projected = (base + per_peer * IDLE_PEERS as f64) / 1e6;
            let _ = writeln!(
                out,
                "\nIdle case: {} peers connected and announced once (5 offers, answered); projected RSS at {IDLE_PEERS} peers: {projected:.0} MB (target < 500 MB).",
                case.connections
            );
        }
    }
    out
}

/// The hard limit on open files, which `ulimit -n` may raise the soft one to.
fn hard_file_limit() -> anyhow::Result<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .context("no open-file limit in /proc/self/limits")?;
    let hard = line
        .split_whitespace()
        .nth(4)
        .context("malformed limits line")?;
    Ok(if hard == "unlimited" {
        1 << 20
    } else {
        hard.parse()?
    })
}

fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn wait_for_port(addr: SocketAddr, children: &mut Children) -> anyhow::Result<()> {
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            bail!("the server did not listen on {addr} within 20 s");
        }
        if let Some(status) = children
            .0
            .first_mut()
            .and_then(|s| s.try_wait().ok().flatten())
        {
            bail!("the server exited at start ({status})");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

fn release_bin(name: &str) -> PathBuf {
    target_dir().join("release").join(name)
}
