// One wasm engine seen from JavaScript: typed calls, the listener registry (the wasm has a
// single event callback), and the rule that nothing the wasm reports reaches page code or
// the player while the wasm is still on the stack. Shared by the player packages (see
// packages/common/README.md).
import { createWasmEngine, type WasmEngine } from "./wasm-loader.js";
import { DeliveryQueue, Listeners, normaliseEventArgs } from "./events.js";
import type {
  CoreConfig,
  CoreEventMap,
  DefinedCoreConfig,
  DynamicCoreConfig,
  EngineStats,
  Segment,
  StreamDescriptor,
  StreamType,
} from "./types.js";

/**
 * Shuts down and frees the wasm engine of a bridge nobody can reach any more. The wasm keeps
 * our event callback alive for as long as the engine exists, so that callback holds the bridge
 * only weakly; otherwise an engine dropped by the page could never be collected. destroy()
 * first: freeing alone would leave its sockets and peer connections open in the browser.
 */
const orphanedEngines = new FinalizationRegistry<WasmEngine>((wasm) => {
  try {
    wasm.destroy();
    wasm.free();
  } catch {
    // Already freed: nothing left to release.
  }
});

export class EngineBridge {
  readonly #wasm: WasmEngine;
  readonly #listeners = new Listeners();
  readonly #deliveries = new DeliveryQueue();
  /** What getConfig() said after the last change; consulted on every fragment request. */
  #config: DefinedCoreConfig;

  constructor(config: CoreConfig | undefined) {
    const self = new WeakRef(this);
    this.#wasm = createWasmEngine(config ?? {}, (name, ...args) => {
      const bridge = self.deref();
      bridge?.deliverLater(() => bridge.emit(name, args));
    });
    orphanedEngines.register(this, this.#wasm);
    this.#config = this.getConfig();
  }

  /** For the wasm's event callback, which may only hold the bridge weakly. */
  private deliverLater(fn: () => void): void {
    this.#deliveries.push(fn);
  }

  private emit(name: string, args: unknown[]): void {
    this.#listeners.emit(name, normaliseEventArgs(name, args));
  }

  // -- configuration and listeners ------------------------------------------------------------

  /** The configuration in force, freshly read from the engine. */
  getConfig(): DefinedCoreConfig {
    return this.#wasm.getConfig() as DefinedCoreConfig;
  }

  applyDynamicConfig(config: DynamicCoreConfig): void {
    this.#wasm.applyDynamicConfig(config);
    this.#config = this.getConfig();
  }

  isP2PDisabled(type: StreamType): boolean {
    const stream = type === "main" ? this.#config.mainStream : this.#config.secondaryStream;
    return stream?.isP2PDisabled === true;
  }

  /** The larger urgent window of the two stream types, in seconds. */
  highDemandTimeWindow(): number {
    return Math.max(
      this.#config.mainStream?.highDemandTimeWindow ?? 0,
      this.#config.secondaryStream?.highDemandTimeWindow ?? 0,
    );
  }

  addEventListener<K extends keyof CoreEventMap>(name: K, listener: CoreEventMap[K]): void {
    this.#listeners.add(name, listener);
  }

  removeEventListener<K extends keyof CoreEventMap>(name: K, listener: CoreEventMap[K]): void {
    this.#listeners.remove(name, listener);
  }

  // -- streams, segments, playback ------------------------------------------------------------

  setManifestResponseUrl(url: string): void {
    this.#wasm.setManifestResponseUrl(url);
  }

  addStreamIfNoneExists(runtimeId: string, type: StreamType, descriptor: StreamDescriptor): void {
    this.#wasm.addStreamIfNoneExists(runtimeId, type, descriptor);
  }

  updateStream(streamRuntimeId: string, add: Segment[], remove: string[]): void {
    this.#wasm.updateStream(streamRuntimeId, add, remove);
  }

  hasSegment(segmentRuntimeId: string): boolean {
    return this.#wasm.hasSegment(segmentRuntimeId);
  }

  /** Known to the engine, and P2P not disabled for its stream type. */
  isSegmentLoadable(segmentRuntimeId: string): boolean {
    return this.#wasm.isSegmentLoadable(segmentRuntimeId);
  }

  /**
   * Starts loading a segment; exactly one of the callbacks runs, always after this call has
   * returned, in order with the events. Returns the id to abort it with.
   */
  loadSegment(
    segmentRuntimeId: string,
    onSuccess: (data: ArrayBuffer, bandwidth: number) => void,
    onError: (type: "failed" | "aborted", message: string) => void,
  ): number {
    return this.#wasm.loadSegment(
      segmentRuntimeId,
      (data, bandwidth) => this.#deliveries.push(() => onSuccess(data, bandwidth)),
      (type, message) =>
        this.#deliveries.push(() =>
          onError(type === "aborted" ? "aborted" : "failed", String(message ?? "")),
        ),
    );
  }

  abortSegmentLoading(requestId: number): void {
    this.#wasm.abortSegmentLoading(requestId);
  }

  updatePlayback(position: number, rate: number): void {
    this.#wasm.updatePlayback(position, rate);
  }

  setActiveLevelBitrate(bitsPerSecond: number): void {
    this.#wasm.setActiveLevelBitrate(bitsPerSecond);
  }

  setIsLive(live: boolean): void {
    this.#wasm.setIsLive(live);
  }

  isLive(): boolean {
    return this.#wasm.isLive();
  }

  /** Forgets the source: connections, streams, segments. Listeners and config stay. */
  reset(): void {
    this.#wasm.reset();
  }

  stats(): EngineStats {
    const s = this.#wasm.stats() as Partial<Record<keyof EngineStats, unknown>>;
    return {
      httpBytes: Number(s.httpBytes ?? 0),
      p2pBytes: Number(s.p2pBytes ?? 0),
      uploadedBytes: Number(s.uploadedBytes ?? 0),
      peers: Number(s.peers ?? 0),
    };
  }
}
