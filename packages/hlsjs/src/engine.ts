// HlsJsP2PEngine: the public face of the package, with P2P Media Loader 2.3's API. It follows
// one hls.js instance's events and media element and turns them into engine calls; the
// loaders it hands to hls.js send segment requests to the engine.
import type Hls from "hls.js";
import type {
  AudioTrackLoadedData,
  LevelSwitchingData,
  LevelUpdatedData,
  ManifestLoadedData,
} from "hls.js";
import { EngineBridge } from "./bridge.js";
import { fragmentLoaderClass, type FragmentLoaderClass } from "./fragment-loader.js";
import { playlistLoaderClass, type PlaylistLoaderClass } from "./playlist-loader.js";
import {
  playerTuning,
  playlistRuntimeId,
  playlistShapeFromText,
  type PlaylistShape,
} from "./mapping.js";
import { StreamRegistry } from "./streams.js";
import { injectMixin, type HlsWithP2PClass } from "./mixin.js";
import type {
  CoreConfig,
  CoreEventMap,
  DefinedCoreConfig,
  DynamicCoreConfig,
  EngineStats,
} from "./types.js";

/** The whole configuration in force. */
export type HlsJsP2PEngineConfig = {
  core: DefinedCoreConfig;
};

/** What the constructor takes: any subset of the core configuration. */
export type PartialHlsJsP2PEngineConfig = Partial<Omit<HlsJsP2PEngineConfig, "core">> & {
  core?: Partial<CoreConfig>;
};

/** What applyDynamicConfig takes. */
export type DynamicHlsJsP2PEngineConfig = {
  core?: DynamicCoreConfig;
};

/** An hls.js instance made by a class from injectMixin. */
export type HlsWithP2PInstance<HlsType> = HlsType & {
  readonly p2pEngine: HlsJsP2PEngine;
};

/**
 * The constructor argument of a class from injectMixin: hls.js's config plus `p2p`.
 * `onHlsJsCreated` gets the new instance (P2P Media Loader's type gave it the class's type, so
 * that only `p2pEngine` type-checked on it).
 */
export type HlsWithP2PConfig<HlsType extends abstract new () => unknown> =
  ConstructorParameters<HlsType>[0] & {
    p2p?: PartialHlsJsP2PEngineConfig & {
      onHlsJsCreated?: (hls: HlsWithP2PInstance<InstanceType<HlsType>>) => void;
    };
  };

// hls.js event names (the values of Hls.Events); this package never imports hls.js at run
// time, so the page's own copy is the only one loaded.
const MANIFEST_LOADING = "hlsManifestLoading";
const MANIFEST_LOADED = "hlsManifestLoaded";
const LEVEL_SWITCHING = "hlsLevelSwitching";
const LEVEL_UPDATED = "hlsLevelUpdated";
const AUDIO_TRACK_LOADED = "hlsAudioTrackLoaded";
const MEDIA_ATTACHING = "hlsMediaAttaching";
const MEDIA_ATTACHED = "hlsMediaAttached";
const MEDIA_DETACHED = "hlsMediaDetached";
const DESTROYING = "hlsDestroying";

const PLAYBACK_EVENTS = ["timeupdate", "seeking", "ratechange"] as const;

type Handler = (event: string, data: never) => void;
type Subscribable = {
  on(event: string, handler: Handler): void;
  off(event: string, handler: Handler): void;
};

/**
 * Peer-to-peer delivery of HLS segments for hls.js, over the p2p-media-loader-rs engine
 * (WebAssembly). Peers are P2P Media Loader 2.3 compatible: they share swarms with pages that
 * use the JavaScript P2P Media Loader.
 *
 * Two ways in: `HlsJsP2PEngine.injectMixin(Hls)` gives an hls.js class that makes its own
 * engine (see `p2p` in its config); or create an engine, spread `getConfigForHlsJs()` into the
 * hls.js config and call `bindHls`.
 */
export class HlsJsP2PEngine {
  readonly #core: EngineBridge;
  readonly #streams: StreamRegistry;
  #hlsGetter: (() => Hls | undefined) | undefined;
  #hls: Hls | undefined;
  /** The element whose playback events we follow (hls.media is gone by MEDIA_DETACHED). */
  #media: HTMLMediaElement | undefined;

  /**
   * Returns a subclass of the given hls.js class whose constructor also accepts
   * `p2p: { core?, onHlsJsCreated? }`, creates its engine, and exposes it as `p2pEngine`.
   */
  static injectMixin<HlsClass extends typeof Hls>(hls: HlsClass): HlsWithP2PClass<HlsClass> {
    return injectMixin(hls, (config) => new HlsJsP2PEngine(config));
  }

  /**
   * @param config `core` is the engine configuration, P2P Media Loader's CoreConfig.
   * @throws if the engine's wasm could not be loaded on this page.
   */
  constructor(config?: PartialHlsJsP2PEngineConfig) {
    this.#core = new EngineBridge(config?.core);
    this.#streams = new StreamRegistry(this.#core);
  }

  /** Listen to an engine event; see CoreEventMap for names and arguments. */
  addEventListener<K extends keyof CoreEventMap>(eventName: K, listener: CoreEventMap[K]): void {
    this.#core.addEventListener(eventName, listener);
  }

  removeEventListener<K extends keyof CoreEventMap>(
    eventName: K,
    listener: CoreEventMap[K],
  ): void {
    this.#core.removeEventListener(eventName, listener);
  }

  /** The loaders to put into the hls.js config (`{...hlsConfig, ...getConfigForHlsJs()}`). */
  getConfigForHlsJs(): { fLoader: FragmentLoaderClass; pLoader: PlaylistLoaderClass } {
    const core = this.#core;
    const streams = this.#streams;
    return {
      fLoader: fragmentLoaderClass(
        {
          canLoad(runtimeId) {
            const type = streams.streamTypeOf(runtimeId);
            return type !== undefined && !core.isP2PDisabled(type) && core.hasSegment(runtimeId);
          },
          loadSegment: (runtimeId, onSuccess, onError) =>
            core.loadSegment(runtimeId, onSuccess, onError),
          abortSegmentLoading: (requestId) => core.abortSegmentLoading(requestId),
        },
        this,
      ),
      pLoader: playlistLoaderClass({
        onCreated: () => this.#followCurrentHls(),
        onMainMediaPlaylist: (text) => {
          const shape = playlistShapeFromText(text, "main");
          if (shape) this.#tune(shape);
        },
      }),
    };
  }

  getConfig(): HlsJsP2PEngineConfig {
    return { core: this.#core.getConfig() };
  }

  /** Changes settings at run time; see the README for which ones take effect. */
  applyDynamicConfig(dynamicConfig: DynamicHlsJsP2PEngineConfig): void {
    if (dynamicConfig.core) this.#core.applyDynamicConfig(dynamicConfig.core);
  }

  /**
   * Tells the engine which hls.js instance it serves: the instance, or a function returning
   * the current one (for players that recreate hls.js). Events are followed from the next
   * playlist request on.
   */
  bindHls<T = unknown>(hls: T | (() => T)): void {
    this.#hlsGetter =
      typeof hls === "function" ? (hls as () => Hls | undefined) : () => hls as Hls;
  }

  /**
   * Byte counters since this engine was created, and the peers connected now. Not in P2P
   * Media Loader.
   */
  getStats(): EngineStats {
    return this.#core.stats();
  }

  /**
   * Stops following the hls.js instance, closes every connection and forgets the source. The
   * engine may be bound again (a new hls.js instance from the bindHls function is picked up
   * when it loads a playlist).
   */
  destroy = (): void => {
    this.#resetCore();
    this.#subscribe("off");
    this.#followMedia(undefined);
    this.#hls = undefined;
  };

  // -- following hls.js -----------------------------------------------------------------------

  #followCurrentHls(): void {
    const hls = this.#hlsGetter?.();
    if (hls === this.#hls) return;
    if (this.#hls) this.destroy();
    this.#hls = hls;
    this.#subscribe("on");
    this.#followMedia(hls?.media ?? undefined);
  }

  #subscribe(method: "on" | "off"): void {
    const hls = this.#hls as unknown as Subscribable | undefined;
    if (!hls) return;
    hls[method](MANIFEST_LOADED, this.#onManifestLoaded);
    hls[method](LEVEL_SWITCHING, this.#onLevelSwitching);
    hls[method](LEVEL_UPDATED, this.#onLevelUpdated);
    hls[method](AUDIO_TRACK_LOADED, this.#onAudioTrackLoaded);
    hls[method](DESTROYING, this.destroy);
    hls[method](MEDIA_ATTACHING, this.#resetCore);
    hls[method](MANIFEST_LOADING, this.#resetCore);
    hls[method](MEDIA_ATTACHED, this.#onMediaAttached);
    hls[method](MEDIA_DETACHED, this.#onMediaDetached);
  }

  #followMedia(media: HTMLMediaElement | undefined): void {
    if (media === this.#media) return;
    for (const name of PLAYBACK_EVENTS) {
      this.#media?.removeEventListener(name, this.#onPlayback);
      media?.addEventListener(name, this.#onPlayback);
    }
    this.#media = media;
  }

  #resetCore = (): void => {
    this.#core.reset();
    this.#streams.clear();
  };

  #onManifestLoaded = (_event: string, data: ManifestLoadedData): void => {
    this.#core.setManifestResponseUrl(manifestResponseUrl(data));
    this.#streams.registerManifest(data);
  };

  #onLevelSwitching = (_event: string, data: LevelSwitchingData): void => {
    if (data.bitrate) this.#core.setActiveLevelBitrate(data.bitrate);
  };

  #onLevelUpdated = (_event: string, data: LevelUpdatedData): void => {
    const level = this.#hls?.levels?.[data.level];
    this.#onPlaylist(data, level ? playlistRuntimeId(level.url) : undefined);
  };

  #onAudioTrackLoaded = (_event: string, data: AudioTrackLoadedData): void => {
    this.#onPlaylist(data, data.track?.url);
  };

  #onPlaylist(data: LevelUpdatedData | AudioTrackLoadedData, manifestUrl?: string): void {
    const { details } = data;
    this.#tunePlayer(data);
    this.#core.setIsLive(details.live);
    this.#streams.updatePlaylist(data, manifestUrl);
  }

  #tunePlayer({ details }: LevelUpdatedData | AudioTrackLoadedData): void {
    this.#tune({
      live: details.live,
      targetduration: details.targetduration,
      fragmentCount: details.fragments.length,
      firstFragmentType: details.fragments[0]?.type,
    });
  }

  #tune(playlist: PlaylistShape): void {
    const hls = this.#hls;
    if (!hls) return;
    const changes = playerTuning(
      playlist,
      hls.userConfig ?? {},
      hls.config,
      this.#core.highDemandTimeWindow(),
    );
    Object.assign(hls.config, changes);
  }

  #onMediaAttached = (): void => {
    this.#followMedia(this.#hls?.media ?? undefined);
  };

  #onMediaDetached = (): void => {
    this.#followMedia(undefined);
  };

  #onPlayback = (event: Event): void => {
    const media = event.target as HTMLMediaElement;
    this.#core.updatePlayback(media.currentTime, media.playbackRate);
  };
}

/**
 * The multivariant playlist's URL after redirects, from hls.js's own loaders' network
 * details; the requested URL when a custom loader gives neither an XMLHttpRequest nor a
 * Response.
 */
function manifestResponseUrl(data: ManifestLoadedData): string {
  const details: unknown = data.networkDetails;
  if (typeof XMLHttpRequest !== "undefined" && details instanceof XMLHttpRequest) {
    if (details.responseURL) return details.responseURL;
  } else if (typeof Response !== "undefined" && details instanceof Response) {
    if (details.url) return details.url;
  }
  return data.url;
}
