//! `cargo xtask build-web`: the browser build. Compiles `crates/wasm` for
//! `wasm32-unknown-unknown`, runs wasm-bindgen as a library (the same
//! version as the crate's `wasm-bindgen`, so they cannot drift), shrinks the
//! module with `wasm-opt` from the pinned npm package `binaryen` (Debian's is
//! too old, see shared/BROWSER-TESTING.md), builds the TypeScript packages
//! (`packages/hlsjs`, `packages/shaka`, each with the wasm in its `dist/wasm/`),
//! and reports the gzipped size of everything a page loads for P2P.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::{root, run};

/// The player packages: directory under `packages/`, and its bundle.
const PACKAGES: &[(&str, &str)] = &[
    ("hlsjs", "p2pml-hlsjs.es.min.js"),
    ("shaka", "p2pml-shaka.es.min.js"),
];

/// Where the wasm module and its JavaScript glue land: inside the hls.js
/// package, which loads them relative to itself (and copied to the others).
pub(crate) fn wasm_out_dir() -> PathBuf {
    root().join("packages/hlsjs/dist/wasm")
}

/// The files wasm-bindgen writes, which every package carries in `dist/wasm/`.
const WASM_FILES: &[&str] = &["p2pml_wasm.js", "p2pml_wasm_bg.wasm", "p2pml_wasm.d.ts"];

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
    for (name, _) in PACKAGES {
        let dir = root().join("packages").join(name);
        let wasm_dir = dir.join("dist/wasm");
        if wasm_dir != out {
            std::fs::create_dir_all(&wasm_dir)
                .with_context(|| format!("creating {}", wasm_dir.display()))?;
            for file in WASM_FILES {
                std::fs::copy(out.join(file), wasm_dir.join(file))
                    .with_context(|| format!("copying {file} into {}", wasm_dir.display()))?;
            }
        }
        run(
            &format!("{name} package"),
            "node",
            &[&dir.join("build.mjs").to_string_lossy()],
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

/// Prints the raw and gzipped size of what a page loads for P2P with each
/// package, next to P2P Media Loader's 2.3.1 core + hlsjs minified ES bundles
/// (its Shaka package 2.3 is not on this registry; see packages/shaka/README.md).
fn report_sizes() -> anyhow::Result<()> {
    println!("\n{:<48} {:>10} {:>10}", "file", "bytes", "gzip -9");
    for (name, bundle) in PACKAGES {
        let dist = root().join("packages").join(name).join("dist");
        // A page loads the wasm and the minified bundle (which contains the
        // wasm-bindgen glue).
        let files = [dist.join("wasm/p2pml_wasm_bg.wasm"), dist.join(bundle)];
        let mut total = 0;
        for f in &files {
            let raw = std::fs::metadata(f)
                .with_context(|| format!("{}", f.display()))?
                .len();
            let gz = gzipped_len(f)?;
            total += gz;
            let shown = f.strip_prefix(root().join("packages")).unwrap_or(f);
            println!("{:<48} {raw:>10} {gz:>10}", shown.display().to_string());
        }
        println!(
            "{:<48} {:>10} {total:>10}",
            format!("total ({name}, ours)"),
            ""
        );
    }
    let p2pml = ["p2p-media-loader-core", "p2p-media-loader-hlsjs"]
        .iter()
        .map(|p| root().join(format!("node_modules/{p}/dist/{p}.es.min.js")))
        .filter(|p| p.exists())
        .map(|p| gzipped_len(&p))
        .sum::<anyhow::Result<usize>>()?;
    if p2pml > 0 {
        println!(
            "{:<48} {:>10} {p2pml:>10}",
            "P2P Media Loader 2.3.1 (core + hlsjs)", ""
        );
    }
    Ok(())
}
