#!/usr/bin/env node
// Builds packages/hlsjs/dist/ (see packages/common/build-package.mjs for the steps):
// dist/*.js + *.d.ts, and dist/p2pml-hlsjs.es.min.js, whose only possible import is hls.js.
//
// node packages/hlsjs/build.mjs [--allow-missing-wasm]
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { buildPackage } from "../common/build-package.mjs";

await buildPackage({
  here: dirname(fileURLToPath(import.meta.url)),
  bundleName: "p2pml-hlsjs.es.min.js",
  external: ["hls.js"],
});
