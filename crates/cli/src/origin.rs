//! `p2pml origin`: serve the test media (and test pages) over HTTP, with emulated live HLS and DASH.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use p2pml_origin::{Mount, Origin, OriginConfig, base_url};

/// Arguments of `p2pml origin`.
#[derive(clap::Args)]
pub(crate) struct OriginArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Media directory, served at `/` and as live HLS and DASH under `/live/{window}/`.
    #[arg(long, default_value = "media")]
    media: PathBuf,
    /// Another directory to serve, as PREFIX=DIR (e.g. /web=tests/browser/web); repeatable.
    #[arg(long = "mount", value_name = "PREFIX=DIR")]
    mounts: Vec<String>,
    /// Delay added before every media response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Log every request.
    #[arg(long, short)]
    verbose: bool,
}

pub(crate) fn run(args: &OriginArgs, out: &mut impl Write) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_max_level(if args.verbose {
            tracing::Level::DEBUG
        } else {
            tracing::Level::INFO
        })
        .with_writer(std::io::stderr)
        .init();
    let mut config = OriginConfig::new(&args.media);
    config.response_delay = Duration::from_millis(args.delay_ms);
    for mount in &args.mounts {
        let (prefix, dir) = mount
            .split_once('=')
            .with_context(|| format!("--mount {mount}: expected PREFIX=DIR"))?;
        config.mounts.push(Mount::new(prefix, dir)?);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let origin = Origin::bind(args.listen, config.clone()).await?;
        let base = base_url(origin.local_addr());
        print_streams(&base, &args.media, out)?;
        for mount in &config.mounts {
            writeln!(out, "mount  {base}{}/", mount.prefix())?;
        }
        out.flush()?;
        let shutdown = async {
            // If Ctrl-C cannot be watched, run until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        origin.run(shutdown).await?;
        Ok(())
    })
}

/// One line per stream: every `master.m3u8` and `.mpd` one directory deep, and their live
/// variants.
fn print_streams(base: &str, media: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(media)
        .with_context(|| format!("reading {}", media.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(name) = name else { continue };
        let mut files: Vec<String> = std::fs::read_dir(&dir)?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|f| f == "master.m3u8" || f.ends_with(".mpd"))
            .collect();
        files.sort();
        for file in files {
            writeln!(out, "vod    {base}/{name}/{file}")?;
            for window in [6, 20] {
                writeln!(out, "live   {base}/live/{window}/{name}/{file}")?;
            }
        }
    }
    Ok(())
}
