// hls.js's pLoader: hls.js's own loader, unchanged, except that creating one tells the engine
// which hls.js instance it serves. hls.js creates a playlist loader before it loads anything,
// and by then the instance exists, which neither the mixin (it must call super() first) nor a
// page using bindHls(() => hls) can guarantee earlier.
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

export function playlistLoaderClass(onCreated: () => void): PlaylistLoaderClass {
  return class P2PPlaylistLoader implements Loader<PlaylistLoaderContext> {
    readonly #loader: Loader<LoaderContext>;

    constructor(config: HlsConfig) {
      this.#loader = new config.loader(config);
      onCreated();
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
      this.#loader.load(context, config, callbacks as LoaderCallbacks<LoaderContext>);
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
