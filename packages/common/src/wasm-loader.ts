// Loads the engine's wasm once per page, when this module is first imported. Importing waits
// for it (top-level await), which is what lets every engine method stay synchronous as in
// P2P Media Loader. A failure does not fail the import: it is kept and thrown by the first
// engine construction, so a page can fall back to its player without P2P.
import init, { WasmEngine, type WasmEventCallback } from "./wasm/p2pml_wasm.js";

/** Where the wasm binary is: next to this module, in wasm/. */
export const WASM_URL = new URL("./wasm/p2pml_wasm_bg.wasm", import.meta.url);

let loadError: unknown;

/** Settles once the wasm is instantiated: fulfilled, or rejected with why it could not be. */
export const wasmReady: Promise<void> = (async () => {
  await init({ module_or_path: WASM_URL });
})();

try {
  await wasmReady;
} catch (error) {
  loadError = error ?? new Error("unknown error");
}

/** Whether engines can be created on this page. */
export function isWasmLoaded(): boolean {
  return loadError === undefined;
}

export function createWasmEngine(
  config: object,
  onEvent: WasmEventCallback,
): WasmEngine {
  if (loadError !== undefined) {
    throw new Error(
      `p2pml-rs: the engine's wasm could not be loaded from ${WASM_URL.href}`,
      { cause: loadError },
    );
  }
  return new WasmEngine(config, onEvent);
}

export type { WasmEngine };
