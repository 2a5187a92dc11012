#!/usr/bin/env node
// Builds packages/shaka/dist/ (see packages/common/build-package.mjs for the steps):
// dist/*.js + *.d.ts, and dist/p2pml-shaka.es.min.js, which imports nothing (Shaka Player is
// the namespace the page passes in or has on window).
//
// node packages/shaka/build.mjs [--allow-missing-wasm]
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { buildPackage } from "../common/build-package.mjs";

await buildPackage({
  here: dirname(fileURLToPath(import.meta.url)),
  bundleName: "p2pml-shaka.es.min.js",
  external: [],
});
