//! `p2pml demo`: the whole system on one machine, in one process. It serves the bundled test
//! media (VOD and emulated live; HLS MPEG-TS, HLS fMP4, DASH) and the demo page (`web/demo/`)
//! from one origin, runs a WebTorrent tracker, and starts native peers on every stream a page
//! plays, so a single browser tab already shows P2P traffic. `--url` adds the user's own
//! stream to the page, `--tracker` replaces the in-process tracker with the user's.

mod api;
mod catalog;
mod peers;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use p2pml_native::NativeConfig;
use p2pml_origin::{EndpointMount, Mount, Origin, OriginConfig};
use serde_json::json;
use tokio::sync::watch;

use crate::peer_args;
use api::{Api, Ready};
use catalog::Catalog;
use peers::Pool;

/// `p2pml demo [--listen ADDR:PORT] [--peers N] [--url MANIFEST] [--tracker URL…] [--live-window N]`
#[derive(clap::Args)]
pub(crate) struct DemoArgs {
    /// Address of the demo page, the media and the page's API (one HTTP server).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Address of the in-process tracker. Default: the --listen address, port + 1.
    #[arg(long, value_name = "ADDR:PORT", conflicts_with = "trackers")]
    tracker_listen: Option<SocketAddr>,
    /// Use this WebTorrent tracker (ws:// or wss://) instead of an in-process one; repeatable.
    #[arg(long = "tracker", value_name = "URL")]
    trackers: Vec<String>,
    /// Native peers that join each stream a page plays (0: none).
    #[arg(long, default_value_t = 2, value_name = "N")]
    peers: usize,
    /// Your own HLS or DASH stream (http:// or https://, with CORS for the page's origin);
    /// the page offers it first.
    #[arg(long, value_name = "MANIFEST")]
    url: Option<String>,
    /// Live window, in segments, selected in the page at first (it offers others).
    #[arg(long, default_value_t = 20, value_name = "SEGMENTS")]
    live_window: u32,
    /// STUN server (stun:host:port) for the page and the native peers; repeatable.
    #[arg(long = "stun", value_name = "URL")]
    stun: Vec<String>,
    /// TURN server (turn:host:port?transport=udp) for the page and the native peers; repeatable.
    #[arg(long = "turn", value_name = "URL")]
    turn: Vec<String>,
    /// TURN user name.
    #[arg(long, value_name = "NAME", default_value = "")]
    turn_user: String,
    /// TURN credential.
    #[arg(long, value_name = "SECRET", default_value = "")]
    turn_credential: String,
    /// Local UDP address of the native peers' WebRTC; repeatable. Default: 127.0.0.1:0 when
    /// --listen is a loopback address, else 0.0.0.0:0 (every interface but loopback) and
    /// 127.0.0.1:0.
    #[arg(long = "udp", value_name = "ADDR:PORT")]
    udp: Vec<String>,
    /// The repository checkout: web/demo, packages/hlsjs/dist, node_modules and media.
    /// Default: the current directory, or the checkout the executable was built in.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Log every engine step.
    #[arg(long, short)]
    verbose: bool,
}

/// A directory the page loads from: URL prefix, directory in the checkout, the file the page
/// loads from it, and what builds it.
type Served = (&'static str, &'static str, &'static str, &'static str);

/// Our hls.js integration (its bundle loads the wasm beside it).
const HLSJS_PACKAGE: Served = (
    "/packages/hlsjs/dist",
    "packages/hlsjs/dist",
    "p2pml-hlsjs.es.min.js",
    "`cargo xtask build-web`",
);
/// What the page always needs.
const REQUIRED: &[Served] = &[
    ("/demo", "web/demo", "index.html", "the checkout"),
    HLSJS_PACKAGE,
    (
        "/node_modules/hls.js/dist",
        "node_modules/hls.js/dist",
        "hls.mjs",
        "`npm ci --ignore-scripts`",
    ),
];
/// Our Shaka integration and Shaka Player: the page offers Shaka when both are built.
const SHAKA_PACKAGE: Served = (
    "/packages/shaka/dist",
    "packages/shaka/dist",
    "p2pml-shaka.es.min.js",
    "`cargo xtask build-web`",
);
const SHAKA_PLAYER: Served = (
    "/node_modules/shaka-player/dist",
    "node_modules/shaka-player/dist",
    "shaka-player.compiled.js",
    "`npm ci --ignore-scripts`",
);

/// The URL of a served directory's entry file.
fn entry_url((prefix, _, file, _): Served) -> String {
    format!("{prefix}/{file}")
}

/// Live windows the page offers besides --live-window: P2P Media Loader's hard case (6
/// segments, the common production setup) and an easy one.
const LIVE_WINDOWS: &[u32] = &[6, 20];

pub(crate) fn run(args: &DemoArgs, out: &mut impl Write) -> anyhow::Result<()> {
    peer_args::init_logging(args.verbose, "warn,p2pml=info");
    validate(args)?;
    let root = find_root(args.root.as_deref())?;
    let mut origin = OriginConfig::new(root.join("media"));
    for (prefix, dir, file, built_by) in REQUIRED {
        let dir = root.join(dir);
        if !dir.join(file).is_file() {
            bail!(
                "{} is missing: run {built_by} first (`cargo xtask demo` builds everything)",
                dir.join(file).display()
            );
        }
        origin.mounts.push(Mount::new(prefix, dir)?);
    }
    let shaka = [SHAKA_PACKAGE, SHAKA_PLAYER]
        .iter()
        .all(|(_, dir, file, _)| root.join(dir).join(file).is_file());
    if shaka {
        for (prefix, dir, _, _) in [SHAKA_PACKAGE, SHAKA_PLAYER] {
            origin.mounts.push(Mount::new(prefix, root.join(dir))?);
        }
    }
    origin.index = Some("/demo/".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(serve(args, origin, shaka, out));
    runtime.shutdown_timeout(Duration::from_secs(2));
    result
}

fn validate(args: &DemoArgs) -> anyhow::Result<()> {
    if let Some(url) = args
        .url
        .as_ref()
        .filter(|u| !(u.starts_with("http://") || u.starts_with("https://")))
    {
        bail!("--url {url}: expected an http:// or https:// manifest URL");
    }
    if !(1..=1000).contains(&args.live_window) {
        bail!("--live-window {}: 1 to 1000 segments", args.live_window);
    }
    if let Some(t) = args
        .trackers
        .iter()
        .find(|t| !(t.starts_with("ws://") || t.starts_with("wss://")))
    {
        bail!("--tracker {t}: expected a ws:// or wss:// URL");
    }
    Ok(())
}

/// The checkout: `--root`, else the current directory or an ancestor of the executable
/// (`target/release/p2pml`) that holds `web/demo/index.html`.
fn find_root(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let marker = Path::new("web/demo/index.html");
    if let Some(root) = given {
        if !root.join(marker).is_file() {
            bail!("--root {}: no {} there", root.display(), marker.display());
        }
        return Ok(root.to_path_buf());
    }
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let exe = std::env::current_exe().ok();
    let candidates = cwd
        .ancestors()
        .chain(exe.iter().flat_map(|e| e.ancestors()));
    for dir in candidates {
        if dir.join(marker).is_file() {
            return Ok(dir.to_path_buf());
        }
    }
    bail!(
        "cannot find the checkout ({} in the current directory, the executable's, or above); \
         run from the repository or pass --root",
        marker.display()
    )
}

/// `addr` as a URL authority a local client can reach: an unspecified IP becomes loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Completes once `stop` turns true.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn serve(
    args: &DemoArgs,
    mut origin_config: OriginConfig,
    shaka: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let signal = peer_args::shutdown_signal()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        signal.await;
        let _ = stop_tx.send(true);
    });

    // The tracker: ours in-process unless --tracker names others.
    let (tracker, trackers) = if args.trackers.is_empty() {
        let listen = args.tracker_listen.unwrap_or_else(|| {
            let port = match args.listen.port() {
                0 => 0,
                p => p.saturating_add(1),
            };
            SocketAddr::new(args.listen.ip(), port)
        });
        let config = p2pml_tracker::ServerConfig {
            listen,
            workers: 1,
            ..p2pml_tracker::ServerConfig::default()
        };
        let server = p2pml_tracker::Server::bind(config)
            .await
            .with_context(|| format!("starting the tracker on {listen} (see --tracker-listen)"))?;
        let addr = server.local_addr()?;
        let stats = server.stats();
        let task = tokio::spawn(server.run(stopped(stop_rx.clone())));
        let url = format!("ws://{}", reachable(addr));
        (Some((addr, stats, task)), vec![url])
    } else {
        (None, args.trackers.clone())
    };

    // Native peers: same trackers and ICE servers as the page.
    let mut native = NativeConfig::default();
    native.engine.common.announce_trackers = trackers.clone();
    native.rtc.ice_servers = peer_args::ice_servers(
        &args.stun,
        &args.turn,
        &args.turn_user,
        &args.turn_credential,
    );
    native.rtc.udp_addrs = if !args.udp.is_empty() {
        args.udp.clone()
    } else if args.listen.ip().is_loopback() {
        vec!["127.0.0.1:0".into()]
    } else {
        vec!["0.0.0.0:0".into(), "127.0.0.1:0".into()]
    };
    let pool = Arc::new(Pool::new(
        args.peers,
        native.clone(),
        tokio::runtime::Handle::current(),
    ));

    // The origin: media, page, packages, API.
    let api = Arc::new(Api {
        ready: OnceLock::new(),
        pool: pool.clone(),
    });
    origin_config
        .endpoints
        .push(EndpointMount::new("/api", api.clone())?);
    let media = origin_config.media_dir.clone();
    let origin = Origin::bind(args.listen, origin_config)
        .await
        .with_context(|| {
            format!(
                "starting the demo's HTTP server on {} (see --listen)",
                args.listen
            )
        })?;
    let page_addr = reachable(origin.local_addr());
    let catalog = Catalog::new(format!("http://{page_addr}"), &media, args.url.clone());
    let default_stream = match (&args.url, catalog.bundled.first()) {
        (Some(url), _) => Some(url.clone()),
        (None, Some(first)) => Some(catalog.url(first, Some(args.live_window))),
        (None, None) => None,
    };
    let config = page_config(
        args,
        &catalog,
        &native,
        tracker.as_ref().map(|t| t.0),
        shaka,
    );
    let tracker_stats = tracker.as_ref().map(|t| t.1.clone());
    if api
        .ready
        .set(Ready {
            catalog: catalog.clone(),
            config,
            tracker: tracker_stats.clone(),
        })
        .is_err()
    {
        bail!("the demo API was set up twice");
    }
    if let Some(url) = &default_stream {
        pool.watch(url);
    }

    writeln!(out, "p2pml demo")?;
    writeln!(out, "  open      http://{page_addr}/")?;
    for t in &trackers {
        writeln!(out, "  tracker   {t}")?;
    }
    for b in &catalog.bundled {
        writeln!(out, "  vod       {}", catalog.url(b, None))?;
    }
    for b in catalog.bundled.iter().filter(|b| b.live) {
        writeln!(
            out,
            "  live      {}",
            catalog.url(b, Some(args.live_window))
        )?;
    }
    if let Some(url) = &args.url {
        writeln!(out, "  yours     {url}")?;
    }
    if let Some(url) = &default_stream {
        writeln!(out, "  default   {url}")?;
    }
    let shaka_note = if shaka {
        ""
    } else {
        " (Shaka is not built: hls.js only)"
    };
    writeln!(
        out,
        "  peers     {} native peer(s) join each stream a page plays{shaka_note}",
        args.peers
    )?;
    writeln!(out, "Ctrl-C stops everything.")?;
    out.flush()?;

    let reader = pool.clone();
    peer_args::spawn_status_line(move || {
        let tracker = tracker_stats.as_ref().map_or_else(String::new, |rx| {
            let s = *rx.borrow();
            format!(
                "tracker {} conn, {} peers in {} swarms │ ",
                s.connections, s.peers, s.swarms
            )
        });
        format!("{tracker}native peers: {}", reader.totals())
    });

    origin.run(stopped(stop_rx)).await?;
    pool.clear();
    if let Some((_, _, task)) = tracker {
        match tokio::time::timeout(Duration::from_secs(2), task).await {
            Ok(Ok(result)) => result?,
            Ok(Err(e)) => bail!("the tracker task failed: {e}"),
            Err(_) => tracing::warn!("the tracker did not stop within 2 s"),
        }
    }
    writeln!(out, "\nstopped")?;
    Ok(())
}

/// `/api/config`: everything the page needs to know, rendered once.
fn page_config(
    args: &DemoArgs,
    catalog: &Catalog,
    native: &NativeConfig,
    tracker: Option<SocketAddr>,
    shaka: bool,
) -> Bytes {
    let mut windows: Vec<u32> = LIVE_WINDOWS.to_vec();
    windows.push(args.live_window);
    windows.sort_unstable();
    windows.dedup();
    let ice: Vec<serde_json::Value> = native
        .rtc
        .ice_servers
        .iter()
        .map(|s| json!({ "urls": s.urls, "username": s.username, "credential": s.credential }))
        .collect();
    let default_stream = match (&args.url, catalog.bundled.first()) {
        (Some(_), _) => json!({ "stream": "url", "live": false }),
        (None, Some(b)) => json!({ "stream": b.id, "live": b.live }),
        (None, None) => json!(null),
    };
    let body = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "catalog": catalog.to_json(),
        "liveWindows": windows,
        "liveWindow": args.live_window,
        "default": default_stream,
        // The in-process tracker: the page connects to it on the host it was opened from.
        "trackerPort": tracker.map(|a| a.port()),
        "trackers": if tracker.is_some() { json!(null) } else { json!(args.trackers) },
        "iceServers": ice,
        "peersPerStream": args.peers,
        "players": {
            "hlsjs": { "module": entry_url(HLSJS_PACKAGE) },
            "shaka": if shaka {
                json!({ "module": entry_url(SHAKA_PACKAGE), "script": entry_url(SHAKA_PLAYER) })
            } else {
                json!(null)
            },
        },
    });
    Bytes::from(body.to_string())
}
