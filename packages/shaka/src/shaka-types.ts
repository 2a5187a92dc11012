// The parts of Shaka Player's API this package uses, named from Shaka's own declarations
// (shaka-player/dist/shaka-player.compiled.d.ts, types only: the package never imports Shaka
// at run time; it uses the `shaka` namespace the page passes in or has on `window`).
import type shakaNamespace from "shaka-player/dist/shaka-player.compiled.d.ts";

/** The `shaka` namespace: `window.shaka`, or the module's default export. */
export type Shaka = typeof shakaNamespace;
export type ShakaPlayer = shakaNamespace.Player;
export type ShakaStream = shakaNamespace.extern.Stream;
export type ShakaVariant = shakaNamespace.extern.Variant;
export type ShakaManifest = shakaNamespace.extern.Manifest;
export type ShakaReference = shakaNamespace.media.SegmentReference;
export type ShakaRequest = shakaNamespace.extern.Request;
export type ShakaResponse = shakaNamespace.extern.Response;
export type ShakaRequestContext = shakaNamespace.extern.RequestContext;
export type ShakaRequestFilter = shakaNamespace.extern.RequestFilter;
export type ShakaSchemePlugin = shakaNamespace.extern.SchemePlugin;
export type ShakaManifestParser = shakaNamespace.extern.ManifestParser;
export type ShakaNetworkingEngine = shakaNamespace.net.NetworkingEngine;
export type ShakaAbortableOperation<T> = shakaNamespace.extern.IAbortableOperation<T>;
/** What HttpFetchPlugin returns: an IAbortableOperation that can also be chained. */
export type ShakaOperation<T> = shakaNamespace.util.AbortableOperation<T>;
export type ShakaRequestType = shakaNamespace.net.NetworkingEngine.RequestType;

declare global {
  interface Window {
    /** Shaka Player's namespace, when loaded with a script tag. */
    shaka?: Shaka;
  }
}
