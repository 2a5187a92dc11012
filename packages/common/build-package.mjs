// The build of one player package (packages/hlsjs, packages/shaka), shared by their build.mjs.
// Once the wasm is in <package>/dist/wasm/ (`cargo xtask build-web` puts it there):
//   0. copies packages/common/src/ into the package's src/ (the copies are git-ignored: the
//      engine bridge, events, public core types and wasm loader exist once, here);
//   1. TypeScript → dist/*.js + *.d.ts (ES modules, one per source file), and a type check of
//      test/types/ (code written for P2P Media Loader's package, against our types);
//   2. checks that the generated dist/wasm/p2pml_wasm.d.ts satisfies the contract the package
//      was written against (src/wasm/p2pml_wasm.d.ts);
//   3. bundles dist/index.js and the wasm-bindgen glue into dist/<bundle>, whose only possible
//      imports are the `external` ones and which loads ./wasm/p2pml_wasm_bg.wasm beside itself.
//
// A package's build.mjs: `await buildPackage({ here, bundleName, external })`.
// Its command line: node build.mjs [--allow-missing-wasm]
//   --allow-missing-wasm: without dist/wasm/, do steps 0 and 1 only (for working on TypeScript).
// Exit status: 0 built, 1 a step failed, 2 bad arguments.
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const commonSrc = join(dirname(fileURLToPath(import.meta.url)), "src");
const root = join(commonSrc, "..", "..", "..");

/** The files of packages/common/src, relative to it. */
export function commonFiles(dir = commonSrc, prefix = "") {
  return readdirSync(dir).flatMap((entry) =>
    statSync(join(dir, entry)).isDirectory()
      ? commonFiles(join(dir, entry), `${prefix}${entry}/`)
      : [`${prefix}${entry}`],
  );
}

export async function buildPackage({ here, bundleName, external }) {
  const name = relative(root, here);
  const dist = join(here, "dist");
  const wasmDir = join(dist, "wasm");
  const fail = (message) => {
    console.error(`${name}/build.mjs: ${message}`);
    process.exit(1);
  };
  const say = (message) => console.error(`${name}/build.mjs: ${message}`);

  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== "--allow-missing-wasm");
  if (unknown.length > 0) {
    console.error(`build.mjs: unknown argument ${unknown[0]}\nusage: node build.mjs [--allow-missing-wasm]`);
    process.exit(2);
  }
  const allowMissingWasm = args.includes("--allow-missing-wasm");

  const tsc = (...tscArgs) => {
    const bin = join(root, "node_modules", ".bin", "tsc");
    if (!existsSync(bin)) fail(`${relative(root, bin)} is missing: run \`npm ci --ignore-scripts\` at the repository root`);
    const run = spawnSync(bin, tscArgs, { stdio: "inherit" });
    if (run.status !== 0) fail(`tsc ${tscArgs.join(" ")} failed`);
  };

  // 0. The shared sources, copied beside the package's own.
  for (const file of commonFiles()) {
    const to = join(here, "src", file);
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(join(commonSrc, file), to);
  }

  // 1. Fresh TypeScript output; dist/wasm/ belongs to the wasm build and is kept.
  if (existsSync(dist)) {
    for (const entry of readdirSync(dist)) {
      if (entry !== "wasm") rmSync(join(dist, entry), { recursive: true, force: true });
    }
  }
  tsc("-p", here);
  say(`compiled src/ into ${relative(root, dist)}/`);
  tsc("-p", join(here, "test", "types"));
  say("test/types/ type-checks");

  const glue = join(wasmDir, "p2pml_wasm.js");
  if (!existsSync(glue)) {
    if (allowMissingWasm) {
      say(`no ${relative(root, glue)}; skipped the contract check and ${bundleName}`);
      return;
    }
    fail(`${relative(root, glue)} is missing: build the wasm first (cargo xtask build-web), or pass --allow-missing-wasm`);
  }

  // 2. The generated declarations must be usable wherever the hand-written contract is.
  const generated = join(wasmDir, "p2pml_wasm.d.ts");
  if (existsSync(generated)) {
    const dir = mkdtempSync(join(tmpdir(), "p2pml-contract-"));
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
    say(`${relative(root, generated)} satisfies src/wasm/p2pml_wasm.d.ts`);
  } else {
    say(`no ${relative(root, generated)}; contract not checked`);
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
    external,
    metafile: true,
    logLevel: "warning",
  });
  const output = result.metafile.outputs[relative(process.cwd(), join(dist, bundleName))];
  if (!output) fail(`esbuild's metafile does not list ${bundleName}`);
  const imports = output.imports.filter((i) => i.external).map((i) => i.path);
  const foreign = imports.filter((p) => !external.some((e) => p === e || p.startsWith(`${e}/`)));
  if (foreign.length > 0) fail(`${bundleName} imports ${foreign.join(", ")}; only ${external.join(", ") || "nothing"} may stay external`);
  say(`bundled ${relative(root, join(dist, bundleName))}`);
}
