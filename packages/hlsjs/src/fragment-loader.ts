// hls.js's fLoader: media segments the engine knows (and may load over P2P for their stream
// type) go to the engine; everything else — init segments, LL-HLS parts, segments of playlists
// the engine was not told about, stream types with P2P disabled — goes to hls.js's own loader.
import type {
  FragmentLoaderContext,
  HlsConfig,
  Loader,
  LoaderCallbacks,
  LoaderConfiguration,
  LoaderContext,
  LoaderStats,
} from "hls.js";
import { inclusiveByteRange, loadingTimings, segmentRuntimeId } from "./mapping.js";
import type { HlsJsP2PEngine } from "./engine.js";

/** What the fragment loader needs from the engine. */
export interface SegmentSource {
  /** Whether the engine should load this segment (known, and P2P enabled for its type). */
  canLoad(segmentRuntimeId: string): boolean;
  loadSegment(
    segmentRuntimeId: string,
    onSuccess: (data: ArrayBuffer, bandwidth: number) => void,
    onError: (type: "failed" | "aborted", message: string) => void,
  ): number;
  abortSegmentLoading(requestId: number): void;
}

function freshStats(): LoaderStats {
  return {
    aborted: false,
    chunkCount: 0,
    loading: { start: 0, first: 0, end: 0 },
    buffering: { start: 0, first: 0, end: 0 },
    parsing: { start: 0, end: 0 },
    // 1 of 1 until the segment arrives: hls.js's ABR abandons a download whose progress looks
    // too slow, and the engine reports no progress, only the whole segment.
    total: 1,
    loaded: 1,
    bwEstimate: 0,
    retry: 0,
  };
}

export type FragmentLoaderClass = (new (config: HlsConfig) => Loader<FragmentLoaderContext>) & {
  /** The engine behind this loader class (P2P Media Loader's fLoader has it too). */
  getEngine(): HlsJsP2PEngine;
};

export function fragmentLoaderClass(
  source: SegmentSource,
  engine: HlsJsP2PEngine,
): FragmentLoaderClass {
  return class P2PFragmentLoader implements Loader<FragmentLoaderContext> {
    static getEngine(): HlsJsP2PEngine {
      return engine;
    }


    context: FragmentLoaderContext | null = null;
    config: LoaderConfiguration | null = null;
    stats: LoaderStats = freshStats();
    readonly #hlsConfig: HlsConfig;
    #defaultLoader: Loader<LoaderContext> | undefined;
    #callbacks: LoaderCallbacks<FragmentLoaderContext> | null = null;
    #requestId: number | undefined;
    /** The engine answered (successfully or not); nothing is left to abort. */
    #settled = false;

    constructor(config: HlsConfig) {
      this.#hlsConfig = config;
    }

    load(
      context: FragmentLoaderContext,
      config: LoaderConfiguration,
      callbacks: LoaderCallbacks<FragmentLoaderContext>,
    ): void {
      this.context = context;
      this.config = config;
      this.#callbacks = callbacks;

      const byteRange = inclusiveByteRange(context.rangeStart, context.rangeEnd);
      const runtimeId = segmentRuntimeId(context.url, byteRange);
      if (!source.canLoad(runtimeId)) {
        this.#loadByHlsJs(context, config, callbacks);
        return;
      }
      try {
        this.#requestId = source.loadSegment(
          runtimeId,
          (data, bandwidth) => this.#succeed(data, bandwidth),
          (type, message) => this.#fail(type, message),
        );
      } catch (error) {
        // An engine fault must not cost the viewer this segment.
        console.error("p2pml-rs-hlsjs: the engine failed to start a segment request", error);
        this.#loadByHlsJs(context, config, callbacks);
      }
    }

    #loadByHlsJs(
      context: FragmentLoaderContext,
      config: LoaderConfiguration,
      callbacks: LoaderCallbacks<FragmentLoaderContext>,
    ): void {
      const loader = new this.#hlsConfig.loader(this.#hlsConfig);
      // hls.js holds on to this loader's stats object; let the default loader fill it.
      loader.stats = this.stats;
      this.#defaultLoader = loader;
      loader.load(context, config, callbacks as LoaderCallbacks<LoaderContext>);
    }

    #succeed(data: ArrayBuffer, bandwidth: number): void {
      this.#settled = true;
      const callbacks = this.#callbacks;
      const context = this.context;
      if (!callbacks || !context || this.stats.aborted) return;
      const { stats } = this;
      stats.loading = loadingTimings(bandwidth, data.byteLength, performance.now());
      stats.total = data.byteLength;
      stats.loaded = data.byteLength;
      callbacks.onProgress?.(stats, context, data, null);
      callbacks.onSuccess({ data, url: context.url }, stats, context, null);
    }

    #fail(type: "failed" | "aborted", message: string): void {
      this.#settled = true;
      const callbacks = this.#callbacks;
      const context = this.context;
      // An abort we asked for was already reported to hls.js by abort().
      if (!callbacks || !context || (type === "aborted" && this.stats.aborted)) return;
      callbacks.onError({ code: 0, text: message }, context, null, this.stats);
    }

    #abortRequest(): void {
      if (this.#requestId === undefined || this.#settled || this.stats.aborted) return;
      this.stats.aborted = true;
      source.abortSegmentLoading(this.#requestId);
    }

    abort(): void {
      if (this.#defaultLoader) {
        this.#defaultLoader.abort();
        return;
      }
      this.#abortRequest();
      const context = this.context;
      if (context) this.#callbacks?.onAbort?.(this.stats, context, null);
    }

    destroy(): void {
      if (this.#defaultLoader) {
        this.#defaultLoader.destroy();
        return;
      }
      this.#abortRequest();
      this.#callbacks = null;
      this.config = null;
    }

    // Optional in hls.js's Loader interface; only segments hls.js loads itself have headers.
    getCacheAge(): number | null {
      return this.#defaultLoader?.getCacheAge?.() ?? null;
    }

    getResponseHeader(name: string): string | null {
      return this.#defaultLoader?.getResponseHeader?.(name) ?? null;
    }
  };
}
