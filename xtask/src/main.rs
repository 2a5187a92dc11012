//! Project automation. `cargo xtask test` runs every test tier and gate, and
//! installs what they need (npm packages, the wasm32 target) on a fresh
//! machine; `.ci/run` runs exactly that. `cargo xtask demo` builds and starts
//! the demo (see `demo.rs`). `cargo xtask bench-tracker` runs the tracker
//! benchmark (see `bench.rs`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

mod bench_browser;
mod bench_rtc;
mod demo;
mod web;

/// Crates that must stay free of runtimes and I/O (see STYLE.md, "Pure core").
const PURE_CRATES: &[&str] = &["p2pml-proto", "p2pml-core"];
/// Dependencies a pure crate must never pull in.
const FORBIDDEN_IN_PURE: &[&str] = &[
    "tokio",
    "async-std",
    "mio",
    "web-sys",
    "js-sys",
    "wasm-bindgen",
    "reqwest",
    "hyper",
    "getrandom",
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("demo") => demo::demo(args.get(1..).unwrap_or_default()),
        Some("build-web") => web::build_web(),
        Some("bench-browser") => bench_browser::bench_browser(args.get(1..).unwrap_or_default()),
        Some("bench-tracker") => bench::bench_tracker(args.get(1..).unwrap_or_default()),
        Some("bench-rtc") => bench_rtc::bench_rtc(args.get(1..).unwrap_or_default()),
        Some("bench-seed") => bench_rtc::bench_seed(args.get(1..).unwrap_or_default()),
        _ => {
            eprintln!(
                "usage: cargo xtask demo [ARGS…]     # build what the demo needs, then run `p2pml demo ARGS…`\n       \
                 cargo xtask test             # every test tier and gate (what CI runs)\n       \
                 cargo xtask build-web        # wasm engine + browser packages, with sizes\n       \
                 cargo xtask bench-browser    # ours vs P2P Media Loader vs P2P off in Chromium (about 20 min) [--only TEXT]\n       \
                 cargo xtask bench-tracker    # p2pml tracker vs bittorrent-tracker [--quick] [--connections 1000,10000]\n\
                 \x20                             # (AQUATIC_WS=path adds aquatic_ws)\n       \
                 cargo xtask bench-rtc        # data-channel throughput: native / Chromium [--mib 256]\n       \
                 cargo xtask bench-seed       # one seeder's CPU serving N viewers [--viewers 50] [--seconds 150]"
            );
            std::process::exit(2);
        }
    }
}

/// Installs Debian's `package` unless `path` (a file it provides) exists: CI
/// may start on a fresh machine.
fn apt_install_unless(path: &str, package: &str) -> anyhow::Result<()> {
    if Path::new(path).exists() {
        return Ok(());
    }
    run("apt index", "apt-get", &["update"], &[])?;
    run(
        &format!("{package} (apt)"),
        "apt-get",
        &["install", "-y", "--no-install-recommends", package],
        &[("DEBIAN_FRONTEND", "noninteractive")],
    )
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Runs a command in the repository root, failing with its name.
fn run(label: &str, program: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<()> {
    let started = Instant::now();
    println!("\n==> {label}: {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .status()
        .with_context(|| format!("could not start {program}"))?;
    if !status.success() {
        bail!("{label} failed ({status})");
    }
    println!(
        "<== {label}: ok in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn output(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .with_context(|| format!("could not start {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Three viewers with our package, 5 s apart, 30 s: every one after the
/// first gets P2P bytes, none stalls.
const OURS_3_VIEWERS: &[&str] = &[
    "--page",
    "/web/ours.html",
    "--viewers",
    "3",
    "--spacing",
    "5",
    "--duration",
    "30",
    "--expect-p2p",
    "--expect-no-stalls",
];

/// Three Shaka Player viewers with our package, 5 s apart, 30 s: every one
/// after the first gets P2P bytes, none stalls.
const SHAKA_3_VIEWERS: &[&str] = &[
    "--page",
    "/web/ours-shaka.html",
    "--viewers",
    "3",
    "--spacing",
    "5",
    "--duration",
    "30",
    "--expect-p2p",
    "--expect-no-stalls",
];

/// The browser tier (`tests/browser/e2e.sh STREAM ARGS…`, with `p2pml
/// tracker`, in a loopback-only network namespace): what it proves, the
/// stream, and the runner's arguments. About a minute each.
const BROWSER_RUNS: &[(&str, &str, &[&str])] = &[
    (
        "3 P2P Media Loader 2.3.1 viewers share VOD through p2pml tracker",
        "/hls-ts/master.m3u8",
        &[
            "--viewers",
            "3",
            "--spacing",
            "5",
            "--duration",
            "30",
            "--expect-p2p",
        ],
    ),
    (
        "3 viewers with our package share live HLS (MPEG-TS), no stalls",
        "/live/20/hls-ts/master.m3u8",
        OURS_3_VIEWERS,
    ),
    (
        "3 viewers with our package share live HLS (fMP4, audio as its own swarm), no stalls",
        "/live/20/hls-fmp4/master.m3u8",
        OURS_3_VIEWERS,
    ),
    (
        "3 viewers with our package share VOD, no stalls",
        "/hls-ts/master.m3u8",
        OURS_3_VIEWERS,
    ),
    (
        "mixed swarm: 2 P2P Media Loader 2.3.1 + 2 of ours trade segments both ways (VOD)",
        // VOD: P2P Media Loader asks peers only for segments beyond its 15 s
        // high-demand window, which on a 20-segment live window our peers
        // rarely hold before it wants them; on VOD both sides prefetch.
        "/hls-ts/master.m3u8",
        &[
            "--page",
            "/web/ours.html?prefix=-RS0001-",
            "--page",
            "/web/p2pml.html",
            "--viewers",
            "4",
            "--spacing",
            "4",
            "--duration",
            "40",
            "--expect-cross=-RS0001-",
            "--expect-no-stalls",
        ],
    ),
    (
        "a mid-stream rendition switch keeps playing and joins the new rendition's swarm",
        "/live/20/hls-ts/master.m3u8",
        &[
            "--page",
            "/web/ours.html?level=0&switchAt=20&switchTo=2",
            "--viewers",
            "3",
            "--spacing",
            "3",
            "--duration",
            "40",
            "--expect-switch-p2p",
            "--expect-no-stalls",
        ],
    ),
    (
        "3 Shaka viewers with our package share DASH VOD, no stalls",
        "/dash/manifest.mpd",
        SHAKA_3_VIEWERS,
    ),
    (
        "3 Shaka viewers with our package share live DASH across a Period boundary, no stalls",
        // 40 s: playback (25 s behind the edge) passes 60 s, into the next
        // loop pass's Period.
        "/live/20/dash/manifest.mpd",
        &[
            "--page",
            "/web/ours-shaka.html",
            "--viewers",
            "3",
            "--spacing",
            "5",
            "--duration",
            "40",
            "--expect-p2p",
            "--expect-no-stalls",
        ],
    ),
    (
        "live HLS: 2 hls.js + 2 Shaka viewers of ours trade segments both ways (fMP4, audio swarm)",
        // Live: both number segments by media sequence (hls.js's rule).
        "/live/20/hls-fmp4/master.m3u8",
        &[
            "--page",
            "/web/ours.html?prefix=-RS0001-",
            "--page",
            "/web/ours-shaka.html?prefix=-RS0002-",
            "--viewers",
            "4",
            "--spacing",
            "4",
            "--duration",
            "40",
            "--expect-p2p",
            "--expect-cross=-RS0001-",
            "--expect-no-stalls",
        ],
    ),
    (
        "mixed swarm: 2 P2P Media Loader 2.3.1 (hls.js) + 2 Shaka viewers of ours trade segments both ways",
        // VOD fMP4 starts at EXT-X-MEDIA-SEQUENCE 1: our Shaka viewers must
        // number segments by position, as hls.js does, to agree with P2P
        // Media Loader's (whose own Shaka package would use 1, 2, …).
        "/hls-fmp4/master.m3u8",
        &[
            "--page",
            "/web/ours-shaka.html?prefix=-RS0002-",
            "--page",
            "/web/p2pml.html",
            "--viewers",
            "4",
            "--spacing",
            "4",
            "--duration",
            "40",
            "--expect-cross=-RS0002-",
            "--expect-no-stalls",
        ],
    ),
    (
        "killing a viewer mid-upload does not stall the others",
        "/live/20/hls-ts/master.m3u8",
        &[
            "--page",
            "/web/ours.html",
            "--viewers",
            "4",
            "--spacing",
            "4",
            "--duration",
            "35",
            "--kill",
            "0@25",
            "--expect-p2p",
            "--expect-no-stalls",
        ],
    ),
];

/// Debian's Chromium, driven by playwright-core (never a downloaded browser).
const CHROMIUM: &str = "/usr/bin/chromium";
const FFMPEG: &str = "/usr/bin/ffmpeg";

fn npm_packages_current() -> bool {
    let installed = root().join("node_modules/.package-lock.json");
    let lock = root().join("package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((modified(&installed), modified(&lock)), (Some(i), Some(l)) if i >= l)
}

/// The npm packages (P2P Media Loader, playwright-core, the web build's tools).
fn install_npm_packages() -> anyhow::Result<()> {
    run(
        "npm packages (P2P Media Loader, typescript, esbuild, binaryen)",
        "npm",
        &["ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        &[],
    )
}

/// What a benchmark that drives Chromium needs on a fresh clone: the npm
/// packages (playwright-core) unless current, and Debian's Chromium.
pub(crate) fn browser_prerequisites() -> anyhow::Result<()> {
    if !npm_packages_current() {
        install_npm_packages()?;
    }
    apt_install_unless(CHROMIUM, "chromium")
}

/// The npm packages (when `npm` is true) and the wasm32 target.
fn install_tools(npm: bool) -> anyhow::Result<()> {
    if npm {
        install_npm_packages()?;
    }
    run(
        "wasm32 target",
        "rustup",
        &["target", "add", "wasm32-unknown-unknown"],
        &[],
    )
}

fn test() -> anyhow::Result<()> {
    let started = Instant::now();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");

    // Installs, idempotent: what a fresh machine lacks.
    install_tools(ci || !npm_packages_current())?;

    // Gates.
    run("format", "cargo", &["fmt", "--all", "--check"], &[])?;
    run(
        "clippy",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    run(
        "docs",
        "cargo",
        &["doc", "--workspace", "--no-deps", "--locked"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    for krate in PURE_CRATES {
        check_pure(krate)?;
        run(
            &format!("{krate} builds for the browser"),
            "cargo",
            &[
                "check",
                "--locked",
                "-p",
                krate,
                "--target",
                "wasm32-unknown-unknown",
            ],
            &[],
        )?;
    }

    // The native peers' tests play streams with ffmpeg through `p2pml proxy`
    // (and fail in CI without it).
    apt_install_unless(FFMPEG, "ffmpeg")?;
    // STUN and TURN: coturn on 127.0.0.1 (crates/native/tests/ice_servers.rs).
    apt_install_unless("/usr/bin/turnserver", "coturn")?;

    // Tests: unit, fixtures, properties, interop with the real JS peer, CLI.
    run("tests", "cargo", &["test", "--workspace", "--locked"], &[])?;
    // The fuzz targets live in their own workspace; keep them compiling.
    run(
        "fuzz targets compile",
        "cargo",
        &["check", "--manifest-path", "fuzz/Cargo.toml", "--bins"],
        &[],
    )?;

    // Browser tier: viewers running the real P2P Media Loader 2.3.1 in
    // headless Chromium, with our origin and `p2pml tracker` as their only
    // tracker, in a loopback-only network namespace.
    apt_install_unless(CHROMIUM, "chromium")?;
    // Our engine in the browser: the wasm build and the hls.js package, its
    // unit tests, then real viewers.
    web::build_web()?;
    run(
        "hls.js package unit tests",
        "node",
        &["--test", "packages/hlsjs/test/"],
        &[],
    )?;
    run(
        "Shaka package unit tests",
        "node",
        &["--test", "packages/shaka/test/"],
        &[],
    )?;
    for (label, stream, args) in BROWSER_RUNS {
        let mut all = vec!["tests/browser/e2e.sh", *stream];
        all.extend_from_slice(args);
        run(
            &format!("browser: {label}"),
            "bash",
            &all,
            &[("TRACKER", "p2pml")],
        )?;
    }
    // A native peer (`p2pml seed`, webrtc-rs) in one swarm with two Chromium
    // viewers running the real P2P Media Loader 2.3.1: it must both receive
    // from and send to the browsers. The viewers start 19 segments behind the
    // edge: P2PML's own latency tuning races hls.js's start (it lands at 6 s
    // or 38 s at random), and at 6 s P2PML fetches everything over HTTP, so
    // the second viewer would ask no peer at all.
    run(
        "browser: a native seeder trades both ways with 2 P2P Media Loader 2.3.1 viewers",
        "bash",
        &[
            "tests/browser/native-interop.sh",
            "/live/20/hls-ts/master.m3u8",
            "--page",
            "/web/p2pml.html?liveSyncCount=19",
            "--viewers",
            "2",
            "--spacing",
            "12",
            "--duration",
            "30",
            "--expect-p2p",
        ],
        &[],
    )?;
    run(
        "browser: the demo (`p2pml demo --peers 2`) shows P2P bytes in one tab and in the one its button opens, no stall, Ctrl-C stops it (screenshot in target/artifacts/)",
        "bash",
        &["tests/browser/demo.sh"],
        &[],
    )?;

    println!(
        "\nall checks passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Fails if a pure crate depends, even indirectly, on a runtime or I/O crate.
fn check_pure(krate: &str) -> anyhow::Result<()> {
    println!("\n==> {krate} stays pure (no runtime or I/O dependencies)");
    let tree = output(
        "cargo",
        &[
            "tree", "--locked", "-p", krate, "-e", "normal", "--prefix", "none",
        ],
    )?;
    let offending: Vec<&str> = tree
        .lines()
        .filter(|line| {
            let name = line.split_whitespace().next().unwrap_or_default();
            FORBIDDEN_IN_PURE.contains(&name)
        })
        .collect();
    if !offending.is_empty() {
        bail!("{krate} depends on {}", offending.join(", "));
    }
    println!("<== {krate} is pure");
    Ok(())
}
