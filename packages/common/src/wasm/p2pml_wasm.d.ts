// The contract between this package and the engine compiled to wasm (crates/wasm, built with
// wasm-bindgen --target web by `cargo xtask build-web` into dist/wasm/). This hand-written file
// only lets the package type-check before the wasm exists; at run time the import resolves to
// the generated dist/wasm/p2pml_wasm.js, and build.mjs checks that the generated
// p2pml_wasm.d.ts is assignable to the declarations below.

/**
 * Fetches and instantiates the wasm module. Must settle before `new WasmEngine`. The package
 * always says where the module is (wasm-bindgen's glue declares the argument required).
 */
export default function init(input: {
  module_or_path: URL | string | Response | BufferSource;
}): Promise<unknown>;

/** Arguments of the one event callback, as P2P Media Loader's listeners receive them. */
export type WasmEventCallback = (name: string, ...args: unknown[]) => void;

export class WasmEngine {
  /**
   * @param config P2P Media Loader's CoreConfig shape (camelCase); unknown keys are ignored.
   * @param onEvent called with an event name of P2P Media Loader's CoreEventMap and that
   *   listener's arguments.
   */
  constructor(config: object, onEvent: WasmEventCallback);

  /** The full configuration in force, in P2P Media Loader's DefinedCoreConfig shape. */
  getConfig(): object;
  /** Partial configuration, same shape as the constructor's. */
  applyDynamicConfig(config: object): void;
  /** The swarm id is this URL without its query, unless one is configured. */
  setManifestResponseUrl(url: string): void;
  /**
   * Registers a stream (no-op when the runtime id exists). `descriptor` holds the fields that
   * feed the stream short id, all optional: bitrate, codecs, width, height, language,
   * channels, name, frameRate, videoRange.
   */
  addStreamIfNoneExists(
    runtimeId: string,
    type: "main" | "secondary",
    descriptor: object,
  ): void;
  /**
   * Adds segments `{runtimeId, externalId, url, byteRange?: {start, end (inclusive)},
   * startTime, endTime}` to a stream and removes the given segment runtime ids from it.
   */
  updateStream(
    streamRuntimeId: string,
    add: object[],
    removeRuntimeIds: string[],
  ): void;
  hasSegment(segmentRuntimeId: string): boolean;
  /** Known, and P2P not disabled for its stream type. */
  isSegmentLoadable(segmentRuntimeId: string): boolean;
  /**
   * Starts loading a segment and returns a request id. Exactly one of the callbacks is called,
   * never synchronously. `bandwidth` is in bits per second; the error type is "failed" or
   * "aborted".
   */
  loadSegment(
    segmentRuntimeId: string,
    onSuccess: (data: ArrayBuffer, bandwidth: number) => void,
    onError: (type: string, message: string) => void,
  ): number;
  abortSegmentLoading(requestId: number): void;
  updatePlayback(position: number, rate: number): void;
  setActiveLevelBitrate(bitsPerSecond: number): void;
  setIsLive(live: boolean): void;
  isLive(): boolean;
  /** Closes connections, forgets streams and segments; usable again for a new source. */
  reset(): void;
  /** Counters since creation: {httpBytes, p2pBytes, uploadedBytes, peers}. */
  stats(): object;
  /** Closes everything for good; the object must not be used again except to free it. */
  destroy(): void;
  /** Releases the engine's memory. */
  free(): void;
}
