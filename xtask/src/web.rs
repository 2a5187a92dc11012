//! `cargo xtask build-web`: the browser build. Compiles `crates/wasm` for
//! `wasm32-unknown-unknown`, runs wasm-bindgen as a library (the same
//! version as the crate's `wasm-bindgen`, so they cannot drift), shrinks the
//! module with `wasm-opt` from the pinned npm package `binaryen` (Debian's is
//! too old, see shared/BROWSER-TESTING.md), builds the TypeScript packages,
//! and reports the gzipped size of everything a page loads for P2P.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::{root, run};

/// Where the wasm module and its JavaScript glue land: inside the hls.js
/// package, which loads them relative to itself.
pub(crate) fn wasm_out_dir() -> PathBuf {
    root().join("packages/hlsjs/dist/wasm")
}

/// Builds the wasm module and the packages; prints sizes.
pub(crate) fn build_web() -> anyhow::Result<()> {
    crate::install_tools(!root().join("node_modules/binaryen/bin/wasm-opt").exists())?;
    run(
        "engine for the browser",
        "cargo",
        &[
            "build",
            "--locked",
            "-p",
            "p2pml-wasm",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            "wasm-release",
        ],
        &[],
    )?;
    let input = target_dir().join("wasm32-unknown-unknown/wasm-release/p2pml_wasm.wasm");
    let out = wasm_out_dir();
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    println!(
        "\n==> wasm-bindgen (library, --target web) into {}",
        out.display()
    );
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&input)
        .web(true)?
        .typescript(true)
        .out_name("p2pml_wasm")
        .generate(&out)
        .map_err(|e| anyhow::anyhow!("wasm-bindgen: {e}"))?;
    let wasm = out.join("p2pml_wasm_bg.wasm");
    let opt = root().join("node_modules/binaryen/bin/wasm-opt");
    let wasm_s = wasm.to_string_lossy().into_owned();
    run(
        "wasm-opt -Oz",
        &opt.to_string_lossy(),
        &[
            "-Oz",
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
            "--enable-sign-ext",
            "--enable-mutable-globals",
            "--enable-reference-types",
            "--enable-multivalue",
            "--strip-debug",
            "--strip-producers",
            &wasm_s,
            "-o",
            &wasm_s,
        ],
        &[],
    )?;
    let build_script = root().join("packages/hlsjs/build.mjs");
    if build_script.exists() {
        run(
            "hls.js package",
            "node",
            &[&build_script.to_string_lossy()],
            &[],
        )?;
    }
    report_sizes()
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn gzipped_len(path: &Path) -> anyhow::Result<usize> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut child = Command::new("gzip")
        .args(["-9", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting gzip")?;
    let mut stdin = child.stdin.take().context("gzip stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().context("gzip")?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("gzip writer panicked"))??;
    if !out.status.success() {
        bail!("gzip failed");
    }
    Ok(out.stdout.len())
}

/// Prints the raw and gzipped size of what a page loads for P2P, next to
/// P2P Media Loader's 45 KB (core + hlsjs minified ES bundles, gzipped).
fn report_sizes() -> anyhow::Result<()> {
    let dist = root().join("packages/hlsjs/dist");
    // A page loads the wasm and either the minified bundle (which contains
    // the wasm-bindgen glue) or, without a bundle, the glue itself.
    let bundle = dist.join("p2pml-hlsjs.es.min.js");
    let files = vec![
        dist.join("wasm/p2pml_wasm_bg.wasm"),
        if bundle.exists() {
            bundle
        } else {
            dist.join("wasm/p2pml_wasm.js")
        },
    ];
    println!("\n{:<40} {:>10} {:>10}", "file", "bytes", "gzip -9");
    let mut total = 0;
    for f in &files {
        let raw = std::fs::metadata(f)
            .with_context(|| format!("{}", f.display()))?
            .len();
        let gz = gzipped_len(f)?;
        total += gz;
        let name = f.strip_prefix(&dist).unwrap_or(f).display().to_string();
        println!("{name:<40} {raw:>10} {gz:>10}");
    }
    let p2pml = ["p2p-media-loader-core", "p2p-media-loader-hlsjs"]
        .iter()
        .map(|p| root().join(format!("node_modules/{p}/dist/{p}.es.min.js")))
        .filter(|p| p.exists())
        .map(|p| gzipped_len(&p))
        .sum::<anyhow::Result<usize>>()?;
    println!("{:<40} {:>10} {total:>10}", "total (ours)", "");
    if p2pml > 0 {
        println!(
            "{:<40} {:>10} {p2pml:>10}",
            "P2P Media Loader 2.3.1 (core + hlsjs)", ""
        );
    }
    Ok(())
}
