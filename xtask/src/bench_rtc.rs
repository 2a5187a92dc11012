//! `cargo xtask bench-rtc`: data-channel throughput on loopback with 64 KiB
//! messages, side by side in one run — native→native, native→Chromium and
//! Chromium→Chromium (`tests/browser/bench-rtc.mjs`, in a loopback-only
//! network namespace) — then native→native through our whole peer protocol
//! (`crates/native/examples/p2p_throughput.rs`): `--mib` MiB (256) as
//! segments of `--segment-mib` MiB (4) loaded one after another, twice, then
//! as one segment. A benchmark: it prints, it does not gate.
//!
//! `cargo xtask bench-seed`: one `p2pml seed` serving a 2 Mb/s live stream
//! to N native viewers that can only get it from peers
//! (`tests/native/bench-seed.sh`): the seeder's CPU as a share of one core.

use anyhow::bail;

use crate::{root, run};

/// The value after `--name` in `args`, or `default`.
fn option<'a>(args: &'a [String], name: &str, default: &'a str) -> &'a str {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, String::as_str)
}

pub(crate) fn bench_rtc(args: &[String]) -> anyhow::Result<()> {
    let mib = option(args, "--mib", "256");
    crate::browser_prerequisites()?;
    run(
        "release build of the benchmark programs",
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "p2pml-native",
            "--example",
            "rtc_bench",
            "--example",
            "p2p_throughput",
        ],
        &[],
    )?;
    let examples = root().join("target/release/examples");
    let rtc_bench = examples.join("rtc_bench");
    let script = format!(
        "ip link set lo up && exec node tests/browser/bench-rtc.mjs --native {} --mib {mib} --runs 2",
        rtc_bench.display()
    );
    run(
        "raw data channels: native→native, native→Chromium, Chromium→Chromium",
        "unshare",
        &["-n", "--", "bash", "-c", &script],
        &[],
    )?;
    let throughput = examples.join("p2p_throughput");
    let Some(throughput) = throughput.to_str() else {
        bail!("non-UTF-8 path {}", throughput.display());
    };
    // As players load: segments of `--segment-mib` one after another, twice;
    // then once as a single segment (which also measures joining it).
    let segment = option(args, "--segment-mib", "4");
    for (label, sizes) in [
        ("segments", format!("{mib} {segment}")),
        ("segments", format!("{mib} {segment}")),
        ("one segment", mib.to_owned()),
    ] {
        run(
            &format!(
                "native→native through the whole peer protocol (tracker, engine, our framing), {label}"
            ),
            "unshare",
            &[
                "-n",
                "--",
                "bash",
                "-c",
                &format!("ip link set lo up && exec {throughput} {sizes}"),
            ],
            &[],
        )?;
    }
    Ok(())
}

pub(crate) fn bench_seed(args: &[String]) -> anyhow::Result<()> {
    let viewers = option(args, "--viewers", "50");
    let seconds = option(args, "--seconds", "150");
    run(
        "release build of p2pml and the viewers' load program",
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "p2pml-cli",
            "-p",
            "p2pml-native",
            "--bin",
            "p2pml",
            "--example",
            "seed_load",
        ],
        &[],
    )?;
    run(
        &format!("a seeder serving a 2 Mb/s live stream to {viewers} native viewers"),
        "bash",
        &["tests/native/bench-seed.sh", viewers, seconds],
        &[],
    )
}
