//! `p2pml`: tools for P2P Media Loader swarms: the wire inspector, the
//! simulator, the tracker, the test origin, the native peers (proxy, seed),
//! and the demo that runs them all.

mod demo;
mod origin;
mod peer_args;
mod proxy;
mod seed;
mod sim;
mod tracker;
mod wire;

use clap::{Parser, Subcommand};

/// mimalloc, not the system allocator: with glibc's per-thread arenas, the
/// tracker's idle connections cost 8 to 13 KB each depending on which worker
/// thread touched them; mimalloc frees to the allocating thread's heap and
/// returns unused pages (see the tracker benchmark note).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tools for P2P Media Loader–compatible swarms.
#[derive(Parser)]
#[command(name = "p2pml", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run the whole system on this machine: origin with the test media, tracker, native
    /// peers and the demo page (open the printed URL).
    Demo(demo::DemoArgs),
    /// Decode and encode peer messages, compute swarm identities.
    #[command(subcommand)]
    Wire(wire::WireCommand),
    /// Simulate a swarm and report offload, origin egress, stalls and startup,
    /// next to the same scenario with P2P off.
    Sim(sim::SimArgs),
    /// Serve test media over HTTP (ranges, CORS, emulated live HLS) and print its stream URLs.
    Origin(origin::OriginArgs),
    /// Run a WebTorrent tracker (WebSocket signalling for the swarms).
    Tracker(tracker::TrackerArgs),
    /// Local HTTP proxy giving any player P2P: open /manifest?url= with the manifest URL percent-encoded.
    Proxy(proxy::ProxyArgs),
    /// Headless peer that follows a stream (or holds a VOD title) and serves it.
    Seed(seed::SeedArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Commands::Demo(args) => demo::run(&args, &mut std::io::stdout()),
        Commands::Wire(cmd) => wire::run(cmd, &mut std::io::stdout().lock()),
        Commands::Sim(args) => sim::run(&args, &mut std::io::stdout().lock()),
        Commands::Origin(args) => origin::run(&args, &mut std::io::stdout()),
        Commands::Tracker(args) => tracker::run(&args, &mut std::io::stdout().lock()),
        Commands::Proxy(args) => proxy::run(&args, &mut std::io::stdout()),
        Commands::Seed(args) => seed::run(&args, &mut std::io::stdout()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
