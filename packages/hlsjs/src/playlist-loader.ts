// hls.js's pLoader: hls.js's own loader, unchanged, except for two notices to the engine.
// - Creating one tells the engine which hls.js instance it serves. hls.js creates a playlist
//   loader before it loads anything, and by then the instance exists, which neither the mixin
//   (it must call super() first) nor a page using bindHls(() => hls) can guarantee earlier.
// - A main media playlist's text reaches the engine before hls.js parses it. hls.js picks a live
//   start position while it handles the playlist, before it emits LEVEL_UPDATED, so tuning set
//   from that event came too late for the first playlist and start latency varied between runs.
import type {
  HlsConfig,
  Loader,
  LoaderCallbacks,
  LoaderConfiguration,
  LoaderContext,
  LoaderStats,
  PlaylistLoaderContext,
} from "hls.js";

export type PlaylistLoaderClass = new (config: HlsConfig) => Loader<PlaylistLoaderContext>;

export type PlaylistHooks = {
  onCreated(): void;
  /** A main media playlist's text, before hls.js parses it. */
  onMainMediaPlaylist(text: string): void;
};

export function playlistLoaderClass(hooks: PlaylistHooks): PlaylistLoaderClass {
  return class P2PPlaylistLoader implements Loader<PlaylistLoaderContext> {
    readonly #loader: Loader<LoaderContext>;

    constructor(config: HlsConfig) {
      this.#loader = new config.loader(config);
      hooks.onCreated();
    }

    get context(): PlaylistLoaderContext | null {
      return this.#loader.context as PlaylistLoaderContext | null;
    }

    set context(value: PlaylistLoaderContext | null) {
      this.#loader.context = value;
    }

    get stats(): LoaderStats {
      return this.#loader.stats;
    }

    set stats(value: LoaderStats) {
      this.#loader.stats = value;
    }

    load(
      context: PlaylistLoaderContext,
      config: LoaderConfiguration,
      callbacks: LoaderCallbacks<PlaylistLoaderContext>,
    ): void {
      // "level" is a main rendition's playlist; "manifest" may be a media playlist without a
      // multivariant one above it (the hook ignores multivariant text).
      const main = context.type === "level" || context.type === "manifest";
      const observed: LoaderCallbacks<PlaylistLoaderContext> = main
        ? {
            ...callbacks,
            onSuccess: (response, stats, ctx, networkDetails) => {
              if (typeof response.data === "string") hooks.onMainMediaPlaylist(response.data);
              callbacks.onSuccess(response, stats, ctx, networkDetails);
            },
          }
        : callbacks;
      this.#loader.load(context, config, observed as LoaderCallbacks<LoaderContext>);
    }

    abort(): void {
      this.#loader.abort();
    }

    destroy(): void {
      this.#loader.destroy();
    }

    // Optional in hls.js's Loader interface: offered whenever the default loader offers them.
    getCacheAge(): number | null {
      return this.#loader.getCacheAge?.() ?? null;
    }

    getResponseHeader(name: string): string | null {
      return this.#loader.getResponseHeader?.(name) ?? null;
    }
  };
}
