//! `p2pml sim`: runs a scenario with P2P and with P2P off, side by side.

use std::fmt::Write as _;
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

/// The live progress line that runs share: each run's share of virtual
/// time done, in run order.
struct Progress {
    live: bool,
    shares: std::sync::Mutex<Vec<(&'static str, f64)>>,
}

impl Progress {
    fn new(labels: &[&'static str]) -> Self {
        Self {
            live: std::io::stderr().is_terminal(),
            shares: std::sync::Mutex::new(labels.iter().map(|l| (*l, 0.0)).collect()),
        }
    }

    fn update(&self, label: &str, done: f64, duration: f64) {
        if !self.live {
            return;
        }
        let Ok(mut shares) = self.shares.lock() else {
            return;
        };
        let mut line = String::from("\r");
        for (l, share) in shares.iter_mut() {
            if *l == label {
                *share = done;
            }
            let _ = write!(line, "{l}: {:>3.0}%  ", *share * 100.0);
        }
        let _ = write!(line, "of {duration} virtual seconds");
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{line}");
        let _ = err.flush();
    }

    fn done(&self, label: &str, secs: f64) {
        // Holding the lock keeps the line whole among the other run's updates.
        let _guard = self.shares.lock();
        let _ = writeln!(
            std::io::stderr().lock(),
            "\r{label}: done in {secs:.1} s of real time{:>40}",
            ""
        );
    }
}

fn one(
    scenario: &Scenario,
    options: &RunOptions,
    label: &'static str,
    progress: &Progress,
) -> Report {
    let started = Instant::now();
    let report = run_with_progress(scenario, options, |done| {
        progress.update(label, done, scenario.duration_secs);
    });
    progress.done(label, started.elapsed().as_secs_f64());
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
    let off_options = RunOptions {
        seed: args.seed,
        p2p: false,
        seeding,
        trace_peer: None,
        trace_segment: None,
    };
    if args.no_p2p {
        let off = one(
            &scenario,
            &off_options,
            "P2P off",
            &Progress::new(&["P2P off"]),
        );
        if args.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&off)?)?;
        } else {
            writeln!(out, "{}", side_by_side(&off, &off))?;
        }
        return Ok(());
    }
    let on_options = RunOptions {
        seed: args.seed,
        p2p: true,
        seeding,
        trace_peer: args.trace_peer,
        trace_segment: args.trace_segment,
    };
    // The two runs share nothing: side by side on two threads, the command
    // takes as long as the slower one.
    let progress = Progress::new(&["P2P", "P2P off"]);
    let (on, off) = std::thread::scope(|s| {
        let off = s.spawn(|| one(&scenario, &off_options, "P2P off", &progress));
        let on = one(&scenario, &on_options, "P2P", &progress);
        (on, off.join())
    });
    let off = off.map_err(|_| anyhow::anyhow!("the run with P2P off panicked"))?;
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
