//! A deterministic discrete-event simulator of P2P Media Loader swarms: many
//! [`p2pml_core`] engines, emulated links (uplink and downlink bandwidth,
//! latency), an emulated origin and tracker, players shaped like hls.js,
//! churn and mass departures. The same seed gives the same report, byte for
//! byte.
//!
//! ```
//! use p2pml_sim::{Scenario, RunOptions, run};
//! let scenario = Scenario { viewers: 3, duration_secs: 30.0, join_over_secs: 4.0, ..Scenario::default() };
//! let report = run(&scenario, &RunOptions::default());
//! assert_eq!(report.corrupt, 0);
//! assert!(report.delivered_bytes > 0);
//! ```

mod player;
mod queue;
mod report;
mod scenario;
mod tracker;
mod world;

pub use p2pml_core::config::Seeding;
pub use report::{Diagnostics, PeerStats, Report, side_by_side};
pub use scenario::{Mode, Scenario, ScenarioError, Start};

/// How to run a scenario.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Seed of every random choice.
    pub seed: u64,
    /// P2P on, or every viewer on HTTP alone.
    pub p2p: bool,
    /// How new segments enter the swarm.
    pub seeding: Seeding,
    /// Print this viewer's engine inputs and outputs to stderr.
    pub trace_peer: Option<usize>,
    /// Print what every viewer does with this segment to stderr.
    pub trace_segment: Option<i64>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            p2p: true,
            seeding: Seeding::Coordinated,
            trace_peer: None,
            trace_segment: None,
        }
    }
}

/// Runs a scenario to its end.
pub fn run(scenario: &Scenario, options: &RunOptions) -> Report {
    run_with_progress(scenario, options, |_| {})
}

/// Runs a scenario, calling `progress` with the share of virtual time done.
pub fn run_with_progress(
    scenario: &Scenario,
    options: &RunOptions,
    progress: impl FnMut(f64),
) -> Report {
    let mut world = world::World::new(scenario.clone(), options.p2p, options.seeding, options.seed);
    world.trace = options.trace_peer;
    world.trace_segment = options.trace_segment;
    world.run(progress);
    Report::build(
        scenario,
        options.p2p,
        world.sessions(),
        &world.totals,
        world.tracker_messages(),
    )
}
