//! `p2pml seed`: a headless peer that follows a stream and serves it.

use std::io::Write;

use anyhow::Context;
use clap::builder::TypedValueParser as _;
use p2pml_native::seed::{SeedConfig, Seeder};

use crate::peer_args::{self, PeerArgs};

/// `p2pml seed --url MANIFEST --tracker URL… [--rendition N…]`
#[derive(clap::Args)]
pub(crate) struct SeedArgs {
    /// The manifest to follow (HLS master or media playlist, or DASH MPD).
    #[arg(long, value_name = "MANIFEST")]
    url: String,
    /// Rendition to serve, by its index in the manifest (0 = first); repeatable. Default: all.
    #[arg(long = "rendition", value_name = "N")]
    renditions: Vec<usize>,
    #[command(flatten)]
    peer: PeerArgs,
    /// Origin-pull edge mode (eCDN): fetch every new segment over HTTP at once
    /// unless a connected peer already holds it, instead of sharing the HTTP
    /// work with the swarm.
    #[arg(long)]
    pull_all: bool,
    /// Offers sent with each announce while under `--max-peers` (5, as P2P
    /// Media Loader sends; trackers relay at most 10). The tracker hands them
    /// to random swarm members, some already connected, so a seeder that must
    /// reach a large swarm of viewers that only answer sends 10, with
    /// `--max-peers` above its viewers: pending offers count against it
    /// (except when the tracker says the swarm holds only the seeder: they
    /// reached nobody and are given up at once).
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u16).range(0..=10).map(usize::from))]
    offers: usize,
    /// Seconds an unanswered offer keeps its peer connection (P2P Media
    /// Loader: 50). Answers come within the answering peer's ICE gathering
    /// (simple-peer gives up after 5 s) plus a tracker round trip; offers the
    /// tracker handed to peers already connected to us are never answered,
    /// and while pending they count against `--max-peers` and keep re-announces
    /// from offering. 15 s keeps a seeder offering until it has found every
    /// viewer.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    offer_timeout: u64,
    /// Log every engine step.
    #[arg(long, short)]
    verbose: bool,
}

pub(crate) fn run(args: &SeedArgs, out: &mut impl Write) -> anyhow::Result<()> {
    peer_args::init_logging(args.verbose, peer_args::PEER_LOGS);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let shutdown = peer_args::shutdown_signal()?;
        let mut native = p2pml_native::NativeConfig::default();
        args.peer.apply(&mut native);
        if args.pull_all {
            native.engine.common.seeding = p2pml_sim::Seeding::All;
        }
        native.engine.announcer.offers_per_announce = args.offers;
        native.engine.announcer.offer_timeout = std::time::Duration::from_secs(args.offer_timeout);
        let seeder = Seeder::start(SeedConfig {
            native,
            manifest: args.url.clone(),
            renditions: args.renditions.clone(),
        })
        .await
        .with_context(|| format!("seeding {}", args.url))?;
        writeln!(out, "seeding {}", args.url)?;
        out.flush()?;
        let seeder = std::sync::Arc::new(seeder);
        let reader = seeder.clone();
        peer_args::spawn_status_line(move || reader.stats());
        shutdown.await;
        writeln!(out, "{}", seeder.stats())?;
        Ok(())
    })
}
