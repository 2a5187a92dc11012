//! `cargo xtask demo [ARGS…]`: what the README's first command runs. On a fresh machine it
//! installs and builds everything the demo needs (npm packages, the wasm32 target, the wasm
//! engine and the browser packages, a release `p2pml`), skipping the web build when it is newer
//! than its sources, then becomes `p2pml demo ARGS…` (same process, so Ctrl-C reaches it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::Context;

use crate::{root, run, web};

pub(crate) fn demo(args: &[String]) -> anyhow::Result<()> {
    crate::install_tools(!crate::npm_packages_current())?;
    match web_outputs_stale() {
        Some(why) => {
            println!("\nweb build needed: {why}");
            web::build_web()?;
        }
        None => println!("\nweb build is newer than its sources; not rebuilt"),
    }
    run(
        "p2pml (release)",
        "cargo",
        &["build", "--release", "--locked", "-p", "p2pml-cli"],
        &[],
    )?;
    let exe = web::target_dir().join("release/p2pml");
    println!("\n==> {} demo {}", exe.display(), args.join(" "));
    let mut command = Command::new(&exe);
    command.arg("demo").args(args).current_dir(root());
    exec(command).with_context(|| format!("starting {}", exe.display()))
}

/// Replaces this process with `command` (Unix), or runs it and passes its exit status on.
#[cfg(unix)]
fn exec(mut command: Command) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    Err(command.exec().into())
}

#[cfg(not(unix))]
fn exec(mut command: Command) -> anyhow::Result<()> {
    let status = command.status()?;
    std::process::exit(status.code().unwrap_or(1));
}

/// Why the browser packages must be rebuilt, or `None` if every package's `dist/` is newer than
/// everything it is built from (the engine's crates, the packages' sources, the lockfiles).
fn web_outputs_stale() -> Option<String> {
    let root = root();
    // Every directory under packages/ is a source (shared code has no build of its own); those
    // with a build.mjs have a dist/ to compare with.
    let dirs: Vec<PathBuf> = std::fs::read_dir(root.join("packages"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    let packages: Vec<&PathBuf> = dirs
        .iter()
        .filter(|p| p.join("build.mjs").is_file())
        .collect();
    let mut built = None::<SystemTime>;
    for package in &packages {
        match newest(&package.join("dist")) {
            Some(t) => built = Some(built.map_or(t, |b| b.min(t))),
            None => return Some(format!("{} has no dist/", package.display())),
        }
    }
    let built = built?;
    let mut inputs: Vec<PathBuf> = ["crates/wasm", "crates/core", "crates/proto", "Cargo.lock"]
        .iter()
        .map(|p| root.join(p))
        .collect();
    for dir in &dirs {
        inputs.extend(["src", "build.mjs", "package.json"].map(|f| dir.join(f)));
    }
    inputs
        .iter()
        .find(|input| newest(input).is_some_and(|t| t > built))
        .map(|input| format!("{} changed since the last build", input.display()))
}

/// The newest modification time of a file, or of any file below a directory.
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| newest(&e.path()))
        .max()
}
