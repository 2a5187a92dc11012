//! `p2pml sim`: runs a scenario with P2P and with P2P off, side by side.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use p2pml_sim::{Report, RunOptions, Scenario, Seeding, run_with_progress, side_by_side};

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum SeedingArg {
    /// One peer per segment, chosen by rendezvous hashing (ours).
    Coordinated,
    /// Each peer with probability 1/(peers + 1) (P2P Media Loader's).
    Random,
}

/// `p2pml sim SCENARIO.toml …`
#[derive(Args)]
pub(crate) struct SimArgs {
    /// The scenario (see scenarios/*.toml).
    scenario: PathBuf,
    /// Override the number of viewers.
    #[arg(long)]
    peers: Option<usize>,
    /// Override the virtual duration, in seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Seed of every random choice: the same seed gives the same report.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only run with P2P off.
    #[arg(long)]
    no_p2p: bool,
    /// How new segments enter the swarm.
    #[arg(long, value_enum, default_value = "coordinated")]
    seeding: SeedingArg,
    /// Print the reports as JSON.
    #[arg(long)]
    json: bool,
    /// Print viewer N's engine inputs and outputs (virtual time) to stderr.
    #[arg(long, value_name = "N")]
    trace_peer: Option<usize>,
    /// Print what every viewer does with segment N (virtual time) to stderr.
    #[arg(long, value_name = "N")]
    trace_segment: Option<i64>,
}

fn one(scenario: &Scenario, options: &RunOptions, label: &str) -> Report {
    let started = Instant::now();
    let mut err = std::io::stderr();
    let live = err.is_terminal();
    let report = run_with_progress(scenario, options, |done| {
        if live {
            let _ = write!(
                err,
                "\r{label}: {:>3.0}% of {} virtual seconds",
                done * 100.0,
                scenario.duration_secs
            );
            let _ = err.flush();
        }
    });
    let _ = writeln!(
        err,
        "\r{label}: done in {:.1} s of real time{:>20}",
        started.elapsed().as_secs_f64(),
        ""
    );
    report
}

pub(crate) fn run(args: &SimArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("cannot read {}", args.scenario.display()))?;
    let mut scenario = Scenario::from_toml(&text)?;
    if let Some(n) = args.peers {
        scenario.viewers = n;
    }
    if let Some(d) = args.duration {
        scenario.duration_secs = d;
    }
    scenario.validate()?;
    let seeding = match args.seeding {
        SeedingArg::Coordinated => Seeding::Coordinated,
        SeedingArg::Random => Seeding::Random,
    };
    let off = one(
        &scenario,
        &RunOptions {
            seed: args.seed,
            p2p: false,
            seeding,
            trace_peer: None,
            trace_segment: None,
        },
        "P2P off",
    );
    if args.no_p2p {
        if args.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&off)?)?;
        } else {
            writeln!(out, "{}", side_by_side(&off, &off))?;
        }
        return Ok(());
    }
    let on = one(
        &scenario,
        &RunOptions {
            seed: args.seed,
            p2p: true,
            seeding,
            trace_peer: args.trace_peer,
            trace_segment: args.trace_segment,
        },
        "P2P",
    );
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "p2p": on, "p2p_off": off }))?
        )?;
    } else {
        write!(out, "{}", side_by_side(&on, &off))?;
    }
    Ok(())
}
