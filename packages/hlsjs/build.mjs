#!/usr/bin/env node
// Builds packages/hlsjs/dist/ from src/ once the wasm is in dist/wasm/ (`cargo xtask
// build-web` puts it there, then runs this):
//   1. TypeScript → dist/*.js + *.d.ts (ES modules, one per source file), and a type check of
//      test/types/usage.ts (P2P Media Loader-style code against our types);
//   2. checks that the generated dist/wasm/p2pml_wasm.d.ts satisfies the contract the package
//      was written against (src/wasm/p2pml_wasm.d.ts);
//   3. bundles dist/index.js and the wasm-bindgen glue into dist/p2pml-hlsjs.es.min.js, whose
//      only possible import is hls.js and which loads ./wasm/p2pml_wasm_bg.wasm beside itself.
//
// node packages/hlsjs/build.mjs [--allow-missing-wasm]
//   --allow-missing-wasm: without dist/wasm/, do step 1 only (for working on the TypeScript).
// Exit status: 0 built, 1 a step failed, 2 bad arguments.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const dist = join(here, "dist");
const wasmDir = join(dist, "wasm");
const bundleName = "p2pml-hlsjs.es.min.js";

const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== "--allow-missing-wasm");
if (unknown.length > 0) {
  console.error(`build.mjs: unknown argument ${unknown[0]}\nusage: node build.mjs [--allow-missing-wasm]`);
  process.exit(2);
}
const allowMissingWasm = args.includes("--allow-missing-wasm");

function fail(message) {
  console.error(`build.mjs: ${message}`);
  process.exit(1);
}

function tsc(...tscArgs) {
  const bin = join(root, "node_modules", ".bin", "tsc");
  if (!existsSync(bin)) fail(`${relative(root, bin)} is missing: run \`npm ci --ignore-scripts\` at the repository root`);
  const run = spawnSync(bin, tscArgs, { stdio: "inherit" });
  if (run.status !== 0) fail(`tsc ${tscArgs.join(" ")} failed`);
}

// 1. Fresh TypeScript output; dist/wasm/ belongs to the wasm build and is kept.
if (existsSync(dist)) {
  for (const entry of readdirSync(dist)) {
    if (entry !== "wasm") rmSync(join(dist, entry), { recursive: true, force: true });
  }
}
tsc("-p", here);
console.error(`build.mjs: compiled src/ into ${relative(root, dist)}/`);
// Code written for p2p-media-loader-hlsjs must type-check against ours.
tsc("-p", join(here, "test", "types"));
console.error("build.mjs: test/types/usage.ts type-checks");

const glue = join(wasmDir, "p2pml_wasm.js");
if (!existsSync(glue)) {
  if (allowMissingWasm) {
    console.error(`build.mjs: no ${relative(root, glue)}; skipped the contract check and ${bundleName}`);
    process.exit(0);
  }
  fail(`${relative(root, glue)} is missing: build the wasm first (cargo xtask build-web), or pass --allow-missing-wasm`);
}

// 2. The generated declarations must be usable wherever the hand-written contract is.
const generated = join(wasmDir, "p2pml_wasm.d.ts");
if (existsSync(generated)) {
  const dir = mkdtempSync(join(tmpdir(), "p2pml-hlsjs-contract-"));
  try {
    const contract = join(here, "src", "wasm", "p2pml_wasm.js");
    writeFileSync(
      join(dir, "check.ts"),
      [
        `import type * as Contract from ${JSON.stringify(contract)};`,
        `import type * as Generated from ${JSON.stringify(glue)};`,
        "declare const generatedInit: typeof Generated.default;",
        "export const init: typeof Contract.default = generatedInit;",
        "declare const GeneratedEngine: typeof Generated.WasmEngine;",
        "export const Engine: new (config: object, onEvent: Contract.WasmEventCallback) => Contract.WasmEngine = GeneratedEngine;",
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "ES2022",
          moduleResolution: "bundler",
          lib: ["ES2022", "DOM"],
          types: [],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
        },
        files: ["check.ts"],
      }),
    );
    tsc("-p", dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.error(`build.mjs: ${relative(root, generated)} satisfies src/wasm/p2pml_wasm.d.ts`);
} else {
  console.error(`build.mjs: no ${relative(root, generated)}; contract not checked`);
}

// 3. One minified ES module for pages without a bundler.
const esbuild = await import("esbuild").catch(() =>
  fail("esbuild is missing: run `npm ci --ignore-scripts` at the repository root"),
);
const result = await esbuild.build({
  entryPoints: [join(dist, "index.js")],
  outfile: join(dist, bundleName),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: true,
  external: ["hls.js"],
  metafile: true,
  logLevel: "warning",
});
const output = result.metafile.outputs[relative(process.cwd(), join(dist, bundleName))];
if (!output) fail(`esbuild's metafile does not list ${bundleName}`);
const imports = output.imports.filter((i) => i.external).map((i) => i.path);
const foreign = imports.filter((p) => p !== "hls.js" && !p.startsWith("hls.js/"));
if (foreign.length > 0) fail(`${bundleName} imports ${foreign.join(", ")}; only hls.js may stay external`);
console.error(`build.mjs: bundled ${relative(root, join(dist, bundleName))}`);
