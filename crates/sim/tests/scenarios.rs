//! Small scenarios (a few viewers, a minute or two of virtual time) that
//! assert behaviour. Figures are for benchmarks (`p2pml sim`), not here.
#![allow(clippy::unwrap_used, missing_docs)]

use p2pml_sim::{Mode, RunOptions, Scenario, Start, run};

fn small_live() -> Scenario {
    Scenario {
        name: "small-live".into(),
        viewers: 4,
        join_over_secs: 6.0,
        duration_secs: 90.0,
        ..Scenario::default()
    }
}

fn with_p2p(p2p: bool) -> RunOptions {
    RunOptions {
        p2p,
        ..RunOptions::default()
    }
}

/// Runs with and without P2P: nothing corrupt, and no more stall time with
/// P2P than without. Returns the P2P report.
fn no_worse_than_http_alone(scenario: &Scenario) -> p2pml_sim::Report {
    let on = run(scenario, &with_p2p(true));
    let off = run(scenario, &with_p2p(false));
    assert_eq!(on.corrupt, 0);
    assert!(
        on.stall_secs <= off.stall_secs,
        "{} > {}",
        on.stall_secs,
        off.stall_secs
    );
    on
}

#[test]
fn peers_that_have_a_segment_serve_it() {
    let vod = Scenario {
        name: "small-vod".into(),
        mode: Mode::Vod,
        vod_secs: 120.0,
        start: Start::Beginning,
        ..small_live()
    };
    let report = run(&vod, &with_p2p(true));
    assert_eq!(report.corrupt, 0);
    assert!(report.offload > 0.3, "offload {}", report.offload);
    assert!(report.origin_bytes < run(&vod, &with_p2p(false)).origin_bytes);
    assert_eq!(report.stalls, 0);
}

#[test]
fn live_sharing_never_stalls_more_than_http_alone() {
    let on = no_worse_than_http_alone(&small_live());
    assert!(on.p2p_delivered_bytes > 0);
}

#[test]
fn playback_survives_all_peers_vanishing_at_once() {
    let vanish = Scenario {
        viewers: 6,
        vanish_at_secs: 45.0,
        vanish_keep: 1,
        ..small_live()
    };
    no_worse_than_http_alone(&vanish);
}

#[test]
fn churn_and_slow_uplinks_do_not_cost_stalls() {
    let rough = Scenario {
        viewers: 8,
        churn_mean_secs: 30.0,
        slow_uplink_share: 0.5,
        ..small_live()
    };
    let on = no_worse_than_http_alone(&rough);
    assert!(on.sessions > rough.viewers, "churn rejoins as new sessions");
}

#[test]
fn the_same_seed_gives_the_same_report_byte_for_byte() {
    let a = serde_json::to_string(&run(
        &small_live(),
        &RunOptions {
            seed: 7,
            ..RunOptions::default()
        },
    ))
    .unwrap();
    let b = serde_json::to_string(&run(
        &small_live(),
        &RunOptions {
            seed: 7,
            ..RunOptions::default()
        },
    ))
    .unwrap();
    let c = serde_json::to_string(&run(
        &small_live(),
        &RunOptions {
            seed: 8,
            ..RunOptions::default()
        },
    ))
    .unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c, "the seed matters");
}

#[test]
fn scenario_files_are_checked() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios")).unwrap()
    {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        Scenario::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    assert!(
        Scenario::from_toml("viewerz = 3").is_err(),
        "unknown keys are refused"
    );
    assert!(Scenario::from_toml("viewers = 0").is_err());
}
