// ShakaP2PEngine: the public face of the package, with P2P Media Loader 2.3's API. It follows
// one Shaka player (its events, its media element, its requests and parsed manifests) and
// turns them into engine calls.
import { EngineBridge } from "./bridge.js";
import { requestRuntimeId, responseTimeMs } from "./mapping.js";
import {
  defaultLoad,
  isType,
  linkNetworkingEngine,
  registerPlugins,
  tagRequest,
  unlinkNetworkingEngine,
  unregisterPlugins,
  type PlayerLink,
  type SchemePluginArgs,
} from "./plugins.js";
import type {
  Shaka,
  ShakaAbortableOperation,
  ShakaManifest,
  ShakaNetworkingEngine,
  ShakaPlayer,
  ShakaRequestFilter,
  ShakaResponse,
} from "./shaka-types.js";
import { ShakaStreams } from "./streams.js";
import type {
  CoreConfig,
  CoreEventMap,
  DefinedCoreConfig,
  DynamicCoreConfig,
  EngineStats,
} from "./types.js";

/** What applyDynamicConfig takes. */
export type DynamicShakaP2PEngineConfig = {
  core?: DynamicCoreConfig;
};

/** The whole configuration in force. */
export type ShakaP2PEngineConfig = {
  core: DefinedCoreConfig;
};

/** What the constructor takes: any subset of the core configuration. */
export type PartialShakaEngineConfig = Partial<Omit<ShakaP2PEngineConfig, "core">> & {
  core?: Partial<CoreConfig>;
};

/** Seconds behind the live edge Shaka plays, to give segments time to spread (P2P Media Loader's). */
const LIVE_EDGE_DELAY = 25;

const PLAYBACK_EVENTS = ["timeupdate", "seeking", "ratechange"] as const;
/** Live segment indexes are re-read at most this often on playback ticks. */
const SYNC_INTERVAL_MS = 1000;

/** Errors carry a stack; everything else is shown as it is. */
function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function header(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === lower) return value;
  return undefined;
}

function resolveShaka(shaka: Shaka | undefined): Shaka {
  const found = shaka ?? (typeof window !== "undefined" ? window.shaka : undefined);
  if (!found) {
    throw new Error(
      "p2pml-rs-shaka: the shaka namespace is neither passed nor on window (load Shaka Player first)",
    );
  }
  return found;
}

/**
 * Peer-to-peer delivery of DASH and HLS segments for Shaka Player, over the p2p-media-loader-rs
 * engine (WebAssembly). Peers are P2P Media Loader 2.3 compatible.
 *
 * Use: `ShakaP2PEngine.registerPlugins(shaka)` once, before creating players; then
 * `new ShakaP2PEngine({ core }, shaka)` and `bindShakaPlayer(player)` before `player.load()`.
 */
export class ShakaP2PEngine {
  readonly #shaka: Shaka;
  readonly #core: EngineBridge;
  readonly #streams: ShakaStreams;
  #player: ShakaPlayer | undefined;
  #networkingEngine: ShakaNetworkingEngine | undefined;
  #media: HTMLMediaElement | undefined;
  #manifestUrlSet = false;
  #lastSync = 0;
  readonly #link: PlayerLink;
  readonly #requestFilter: ShakaRequestFilter;

  /**
   * Installs the scheme and manifest parser plugins in Shaka. Once per page, before players
   * are created.
   * @param shaka Shaka Player's namespace; `window.shaka` when left out.
   */
  static registerPlugins(shaka?: Shaka): void {
    registerPlugins(resolveShaka(shaka));
  }

  /** Puts Shaka's own HTTP plugin and manifest parsers back. */
  static unregisterPlugins(shaka?: Shaka): void {
    unregisterPlugins(resolveShaka(shaka));
  }

  /**
   * @param config `core` is the engine configuration, P2P Media Loader's CoreConfig.
   * @param shaka Shaka Player's namespace; `window.shaka` when left out.
   * @throws if Shaka cannot be found, or the engine's wasm could not be loaded on this page.
   */
  constructor(config?: PartialShakaEngineConfig, shaka?: Shaka) {
    this.#shaka = resolveShaka(shaka);
    this.#core = new EngineBridge(config?.core);
    this.#streams = new ShakaStreams(this.#core);
    this.#link = {
      handle: (args) => this.#handle(args),
      manifestParsed: (manifest, protocol) => this.#onManifestParsed(manifest, protocol),
    };
    this.#requestFilter = (type, request, context) => {
      tagRequest(request, this.#link);
      // Shaka may have just extended the index of the stream it asks a segment of.
      if (isType(this.#shaka, type, "SEGMENT")) this.#streams.syncStream(context?.stream);
    };
  }

  /**
   * Follows this player from now on: configures it for P2P (below), tags its requests for the
   * scheme plugins, and listens to its events. Call before `player.load()`.
   *
   * Configuration set, as P2P Media Loader sets it (change it afterwards if needed):
   * `manifest.defaultPresentationDelay` 25 s, `manifest.dash.ignoreSuggestedPresentationDelay`,
   * and `streaming.preferNativeHls` false (`useNativeHlsOnSafari` before Shaka 5).
   */
  bindShakaPlayer(player: ShakaPlayer): void {
    if (this.#player === player) return;
    if (this.#player) this.destroy();
    this.#player = player;
    player.configure("manifest.defaultPresentationDelay", LIVE_EDGE_DELAY);
    player.configure("manifest.dash.ignoreSuggestedPresentationDelay", true);
    const major = Number(/\d+/.exec(this.#shaka.Player.version)?.[0] ?? 0);
    if (major >= 5) player.configure("streaming.preferNativeHls", false);
    else player.configure("streaming.useNativeHlsOnSafari", false);
    this.#followPlayer("on");
    // Already attached: the engine knows the position before the first segment request (P2P
    // Media Loader waited for `loaded`).
    this.#followMedia(player.getMediaElement() ?? undefined);
  }

  /** Listen to an engine event; see CoreEventMap for names and arguments. */
  addEventListener<K extends keyof CoreEventMap>(eventName: K, listener: CoreEventMap[K]): void {
    this.#core.addEventListener(eventName, listener);
  }

  removeEventListener<K extends keyof CoreEventMap>(eventName: K, listener: CoreEventMap[K]): void {
    this.#core.removeEventListener(eventName, listener);
  }

  getConfig(): ShakaP2PEngineConfig {
    return { core: this.#core.getConfig() };
  }

  /** Changes settings at run time; see the README for which ones take effect. */
  applyDynamicConfig(dynamicConfig: DynamicShakaP2PEngineConfig): void {
    if (dynamicConfig.core) this.#core.applyDynamicConfig(dynamicConfig.core);
  }

  /** Byte counters since this engine was created, and the peers connected now (not in P2P Media Loader). */
  getStats(): EngineStats & { idCollisions: number } {
    return { ...this.#core.stats(), idCollisions: this.#streams.collisions };
  }

  /** Stops following the player, closes every connection and forgets the source. */
  destroy(): void {
    this.#resetSource();
    this.#followPlayer("off");
    this.#followMedia(undefined);
    this.#player = undefined;
  }

  // -- following the player -------------------------------------------------------------------

  #followPlayer(method: "on" | "off"): void {
    const player = this.#player;
    if (!player) return;
    if (method === "on") {
      const networkingEngine = player.getNetworkingEngine();
      if (networkingEngine) {
        this.#networkingEngine = networkingEngine;
        linkNetworkingEngine(networkingEngine, this.#link);
        networkingEngine.registerRequestFilter(this.#requestFilter);
      }
    } else if (this.#networkingEngine) {
      unlinkNetworkingEngine(this.#networkingEngine, this.#link);
      this.#networkingEngine.unregisterRequestFilter(this.#requestFilter);
      this.#networkingEngine = undefined;
    }
    const listen = method === "on" ? "addEventListener" : "removeEventListener";
    player[listen]("loading", this.#resetSource);
    player[listen]("unloading", this.#onUnloading);
    player[listen]("loaded", this.#onLoaded);
    player[listen]("adaptation", this.#onVariantChanged);
    player[listen]("variantchanged", this.#onVariantChanged);
  }

  #followMedia(media: HTMLMediaElement | undefined): void {
    if (media === this.#media) return;
    for (const name of PLAYBACK_EVENTS) {
      this.#media?.removeEventListener(name, this.#onPlayback);
      media?.addEventListener(name, this.#onPlayback);
    }
    this.#media = media;
  }

  #resetSource = (): void => {
    this.#core.reset();
    this.#streams.clear();
    this.#manifestUrlSet = false;
  };

  #onUnloading = (): void => {
    this.#resetSource();
    this.#followMedia(undefined);
  };

  #onLoaded = (): void => {
    const player = this.#player;
    if (!player) return;
    this.#core.setIsLive(player.isLive());
    this.#followMedia(player.getMediaElement() ?? undefined);
    this.#streams.syncAll();
  };

  #onVariantChanged = (): void => {
    const active = this.#player?.getVariantTracks().find((track) => track.active);
    if (active?.bandwidth) this.#core.setActiveLevelBitrate(active.bandwidth);
  };

  #onPlayback = (event: Event): void => {
    const media = event.target as HTMLMediaElement;
    this.#core.updatePlayback(media.currentTime, media.playbackRate);
    // Live indexes grow between segment requests; the engine wants them early to prefetch.
    const now = performance.now();
    if (event.type === "seeking" || now - this.#lastSync >= SYNC_INTERVAL_MS) {
      this.#lastSync = now;
      this.#streams.syncAll();
    }
  };

  #onManifestParsed(manifest: ShakaManifest, protocol: "hls" | "dash"): void {
    // Known before the first segment (P2P Media Loader waited for `loaded`): the engine's
    // segment storage takes the live flag when it is created.
    this.#core.setIsLive(manifest.presentationTimeline.isLive());
    this.#streams.registerManifest(manifest.variants, protocol);
  }

  // -- requests -------------------------------------------------------------------------------

  #handle(args: SchemePluginArgs): ShakaAbortableOperation<ShakaResponse> {
    const [uri, request, type] = args;
    if (isType(this.#shaka, type, "SEGMENT")) {
      const runtimeId = requestRuntimeId(uri, header(request.headers, "Range"));
      if (runtimeId !== undefined && this.#core.isSegmentLoadable(runtimeId)) {
        return this.#loadSegment(args, runtimeId);
      }
      return defaultLoad(this.#shaka, args);
    }
    const loading = defaultLoad(this.#shaka, args);
    if (!isType(this.#shaka, type, "MANIFEST")) return loading;
    return loading.chain((response: ShakaResponse) => {
      this.#onManifestResponse(response);
      return response;
    });
  }

  #onManifestResponse(response: ShakaResponse): void {
    if (!this.#manifestUrlSet) {
      this.#manifestUrlSet = true;
      this.#core.setManifestResponseUrl(response.uri);
    }
    // HLS media playlists give the segment numbers hls.js uses as ids.
    const data = response.data;
    const bytes =
      data instanceof ArrayBuffer
        ? new Uint8Array(data)
        : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes[0] !== 0x23 /* "#" */ && !(bytes[0] === 0xef && bytes[3] === 0x23) /* BOM */) return;
    try {
      this.#streams.notePlaylist(new TextDecoder().decode(bytes), response.uri);
    } catch (error) {
      console.warn("p2pml-rs-shaka: could not read a playlist; its segments go over HTTP", error);
    }
  }

  /** A segment through the engine; if the engine fails, through Shaka's own HTTP plugin. */
  #loadSegment(args: SchemePluginArgs, runtimeId: string): ShakaAbortableOperation<ShakaResponse> {
    const [uri, request] = args;
    const { Error: ShakaError } = this.#shaka.util;
    const started = performance.now();
    let requestId: number | undefined;
    let settled = false;
    let aborted = false;
    let fallback: ShakaAbortableOperation<ShakaResponse> | undefined;
    let rejectAbort: ((error: unknown) => void) | undefined;
    const abortedError = () =>
      new ShakaError(ShakaError.Severity.RECOVERABLE, ShakaError.Category.NETWORK, ShakaError.Code.OPERATION_ABORTED);
    const viaHttp = (why: string): Promise<ShakaResponse> => {
      console.warn(`p2pml-rs-shaka: ${why}; loading ${uri} over HTTP`);
      fallback = defaultLoad(this.#shaka, args);
      return fallback.promise;
    };
    const promise = new Promise<ShakaResponse>((resolve, reject) => {
      rejectAbort = reject;
      try {
        requestId = this.#core.loadSegment(
          runtimeId,
          (data, bandwidth) => {
            settled = true;
            if (aborted) return;
            resolve({
              uri,
              originalUri: uri,
              data,
              status: 200,
              headers: {},
              timeMs: responseTimeMs(bandwidth, data.byteLength, performance.now() - started),
              originalRequest: request,
              fromCache: false,
            });
          },
          (errorType, message) => {
            settled = true;
            if (aborted) return;
            if (errorType === "aborted") reject(abortedError());
            else resolve(viaHttp(`the engine could not load the segment (${message})`));
          },
        );
      } catch (error) {
        settled = true;
        resolve(viaHttp(`the engine failed to start a segment request (${describe(error)})`));
      }
    });
    return new this.#shaka.util.AbortableOperation(promise, () => {
      aborted = true;
      if (fallback) return fallback.abort();
      if (!settled && requestId !== undefined) this.#core.abortSegmentLoading(requestId);
      rejectAbort?.(abortedError());
      return Promise.resolve();
    }) as ShakaAbortableOperation<ShakaResponse>;
  }
}
