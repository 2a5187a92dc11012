//! `cargo xtask bench-browser [--only TEXT]`: the browser anchor scenarios of
//! issue 5, run side by side in one invocation with our package, with the
//! real P2P Media Loader 2.3.1, and with P2P off (plain hls.js), in real
//! headless Chromium on a loopback-only network namespace with `p2pml
//! tracker`; and the DASH scenarios of issue 7 with Shaka Player, ours
//! against P2P off (P2P Media Loader's Shaka package 2.3 is not on this
//! registry). `--only` keeps the scenarios whose name contains TEXT.
//!
//! Prints, per scenario and engine: the swarm's P2P ratio, stalls (visible
//! ones, ≥ 200 ms, and all waiting time), mean startup time, and main-thread
//! CPU per viewer (Chromium's `TaskDuration`). A benchmark: it reports and
//! does not gate.

use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::root;

struct Scenario {
    name: &'static str,
    stream: &'static str,
    /// Extra page query shared by every engine.
    query: &'static str,
    /// The engines compared: name and page.
    engines: &'static [(&'static str, &'static str)],
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "live, 20-segment window",
        stream: "/live/20/hls-ts/master.m3u8",
        query: "",
        engines: HLSJS_LIVE_20,
    },
    Scenario {
        name: "VOD",
        stream: "/hls-ts/master.m3u8",
        query: "",
        engines: HLSJS,
    },
    Scenario {
        name: "live, 6-segment window, hls.js default latency",
        stream: "/live/6/hls-ts/master.m3u8",
        query: "liveSyncCount=3",
        engines: HLSJS,
    },
    Scenario {
        name: "Shaka: live DASH, 20-segment window",
        stream: "/live/20/dash/manifest.mpd",
        query: "",
        engines: SHAKA,
    },
    Scenario {
        name: "Shaka: DASH VOD",
        stream: "/dash/manifest.mpd",
        query: "",
        engines: SHAKA,
    },
];

const HLSJS: &[(&str, &str)] = &[
    ("ours", "/web/ours.html"),
    ("P2PML 2.3.1", "/web/p2pml.html"),
    ("P2P off", "/web/ours.html?p2p=off"),
];

/// The anchor's setup starts players at the window's oldest segment. Ours
/// lands there by itself (it tunes hls.js from the first media playlist);
/// P2P Media Loader tunes on an hls.js event that races the start, so it
/// lands 6 s or 38 s behind the edge at random: it runs both as it comes
/// and pinned at the oldest segment (`liveSyncDurationCount` 19), the
/// anchor's setup.
const HLSJS_LIVE_20: &[(&str, &str)] = &[
    ("ours", "/web/ours.html"),
    ("P2PML 2.3.1", "/web/p2pml.html"),
    ("P2PML 2.3.1 at oldest", "/web/p2pml.html?liveSyncCount=19"),
    ("P2P off", "/web/ours.html?p2p=off"),
];

/// Shaka Player 5.2.12; the P2P-off page configures Shaka as our engine does
/// (25 s live delay), so that only P2P differs.
const SHAKA: &[(&str, &str)] = &[
    ("ours", "/web/ours-shaka.html"),
    ("P2P off", "/web/ours-shaka.html?p2p=off"),
];

/// Viewers, seconds between joins, seconds watched by the last one: the
/// anchors' setup (4 viewers 5 s apart; the first watches 75 s).
const VIEWERS: &str = "4";
const SPACING: &str = "5";
const DURATION: &str = "60";

struct Row {
    ratio: f64,
    visible_stalls: u64,
    stall_ms: u64,
    startup_ms: f64,
    cpu_ms_per_viewer_min: f64,
    errors: usize,
}

fn page_with_query(page: &str, query: &str) -> String {
    if query.is_empty() {
        page.to_owned()
    } else if page.contains('?') {
        format!("{page}&{query}")
    } else {
        format!("{page}?{query}")
    }
}

fn run_one(stream: &str, page: &str) -> anyhow::Result<Row> {
    let out = Command::new("bash")
        .args([
            "tests/browser/e2e.sh",
            stream,
            "--page",
            page,
            "--viewers",
            VIEWERS,
            "--spacing",
            SPACING,
            "--duration",
            DURATION,
        ])
        .env("TRACKER", "p2pml")
        .current_dir(root())
        .output()
        .context("starting tests/browser/e2e.sh")?;
    let report: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "e2e.sh gave no report ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64);
    let len = |v: &Value, k: &str| v.get(k).and_then(Value::as_array).map_or(0, Vec::len);
    let swarm = report.get("swarm").cloned().unwrap_or_default();
    let viewers = report
        .get("perViewer")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let n = viewers.len().max(1) as f64;
    let sum = |k: &str| viewers.iter().filter_map(|v| num(v, k)).sum::<f64>();
    let cpu_per_min: f64 = viewers
        .iter()
        .filter_map(|v| {
            let cpu = num(v, "cpuMs")?;
            let watched = num(v, "watchedS").filter(|w| *w > 0.0)?;
            Some(cpu / (watched / 60.0))
        })
        .sum::<f64>()
        / n;
    let errors =
        viewers.iter().map(|v| len(v, "errors")).sum::<usize>() + len(&report, "pageErrors");
    Ok(Row {
        ratio: num(&swarm, "p2pRatio").unwrap_or(0.0),
        visible_stalls: swarm
            .get("visibleStalls")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        stall_ms: swarm.get("stallMs").and_then(Value::as_u64).unwrap_or(0),
        startup_ms: sum("startupMs") / n,
        cpu_ms_per_viewer_min: cpu_per_min,
        errors,
    })
}

/// Builds the web assets, runs every scenario with every engine, prints the table.
pub(crate) fn bench_browser(args: &[String]) -> anyhow::Result<()> {
    let only = match args {
        [] => None,
        [flag, text] if flag == "--only" => Some(text.as_str()),
        _ => bail!("usage: cargo xtask bench-browser [--only TEXT]"),
    };
    crate::browser_prerequisites()?;
    crate::web::build_web()?;
    let status = Command::new("cargo")
        .args(["build", "--quiet", "-p", "p2pml-cli"])
        .current_dir(root())
        .status()?;
    if !status.success() {
        bail!("building p2pml failed");
    }
    let mut table = Vec::new();
    for s in SCENARIOS
        .iter()
        .filter(|s| only.is_none_or(|t| s.name.contains(t)))
    {
        for (engine, page) in s.engines {
            let page = page_with_query(page, s.query);
            eprintln!("bench-browser: {} with {engine} …", s.name);
            let row = run_one(s.stream, &page)?;
            eprintln!(
                "bench-browser: {} with {engine}: P2P {:.1}%",
                s.name,
                row.ratio * 100.0
            );
            table.push((s.name, *engine, row));
        }
    }
    println!(
        "\n{} viewers {} s apart, the last watching {} s; 2 s segments, 3 renditions, ABR on; p2pml tracker; loopback netns",
        VIEWERS, SPACING, DURATION
    );
    println!(
        "{:<48} {:<21} {:>8} {:>14} {:>10} {:>11} {:>16} {:>7}",
        "scenario",
        "engine",
        "P2P",
        "visible stalls",
        "stall ms",
        "startup ms",
        "CPU ms/viewer/min",
        "errors"
    );
    for (scenario, engine, r) in &table {
        println!(
            "{:<48} {:<21} {:>7.1}% {:>14} {:>10} {:>11.0} {:>16.0} {:>7}",
            scenario,
            engine,
            r.ratio * 100.0,
            r.visible_stalls,
            r.stall_ms,
            r.startup_ms,
            r.cpu_ms_per_viewer_min,
            r.errors
        );
    }
    Ok(())
}
