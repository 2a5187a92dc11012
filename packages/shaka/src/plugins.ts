// What ShakaP2PEngine.registerPlugins installs in Shaka, once per page: scheme plugins for
// http/https that hand the requests of bound players to their engine (and every other request
// to Shaka's HttpFetchPlugin), and manifest parsers that are Shaka's own DASH and HLS parsers
// with one addition: the parsed manifest is shown to the engine bound to the player.
import type {
  Shaka,
  ShakaAbortableOperation,
  ShakaManifest,
  ShakaManifestParser,
  ShakaOperation,
  ShakaRequest,
  ShakaRequestType,
  ShakaResponse,
  ShakaSchemePlugin,
} from "./shaka-types.js";

export type SchemePluginArgs = Parameters<ShakaSchemePlugin>;

/** What an engine bound to a player does with that player's requests and manifests. */
export interface PlayerLink {
  /** A request of the bound player, tagged by its request filter. */
  handle(args: SchemePluginArgs): ShakaAbortableOperation<ShakaResponse>;
  manifestParsed(manifest: ShakaManifest, protocol: "hls" | "dash"): void;
}

/** Networking engines of bound players → their engine. */
const links = new WeakMap<object, PlayerLink>();
/** Requests tagged by a bound player's request filter. */
const tags = new WeakMap<ShakaRequest, PlayerLink>();

export function linkNetworkingEngine(networkingEngine: object, link: PlayerLink): void {
  links.set(networkingEngine, link);
}

export function unlinkNetworkingEngine(networkingEngine: object, link: PlayerLink): void {
  if (links.get(networkingEngine) === link) links.delete(networkingEngine);
}

export function tagRequest(request: ShakaRequest, link: PlayerLink): void {
  tags.set(request, link);
}

/** Shaka's own HTTP plugin, which every request not ours goes to. */
export function defaultLoad(shaka: Shaka, args: SchemePluginArgs): ShakaOperation<ShakaResponse> {
  return shaka.net.HttpFetchPlugin.parse(...args) as ShakaOperation<ShakaResponse>;
}

const SCHEMES = ["http", "https"] as const;
const DASH_MIMES = ["application/dash+xml", "video/vnd.mpeg.dash.mpd"];
const HLS_MIMES = ["application/x-mpegurl", "application/vnd.apple.mpegurl", "audio/x-mpegurl"];

/**
 * Shaka's parser, seen through a Proxy that only adds to `start`: everything else, including
 * methods later Shaka versions add, reaches the parser itself.
 */
function decorated(parser: ShakaManifestParser, protocol: "hls" | "dash"): ShakaManifestParser {
  const start: ShakaManifestParser["start"] = async (uri, playerInterface) => {
    const manifest = await parser.start(uri, playerInterface);
    const link = links.get(playerInterface.networkingEngine);
    if (link) {
      try {
        link.manifestParsed(manifest, protocol);
      } catch (error) {
        // The engine must never cost the viewer playback: without its streams, every segment
        // goes over Shaka's own HTTP.
        console.error("p2pml-rs-shaka: could not register the manifest's streams", error);
      }
    }
    return manifest;
  };
  return new Proxy(parser, {
    get(target, property) {
      if (property === "start") return start;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export function registerPlugins(shaka: Shaka): void {
  const { NetworkingEngine } = shaka.net;
  const plugin: ShakaSchemePlugin = (...args) => {
    const link = tags.get(args[1]);
    return link ? link.handle(args) : defaultLoad(shaka, args);
  };
  for (const scheme of SCHEMES) {
    NetworkingEngine.registerScheme(scheme, plugin, NetworkingEngine.PluginPriority.APPLICATION);
  }
  const Parser = shaka.media.ManifestParser;
  for (const mime of DASH_MIMES) {
    Parser.registerParserByMime(mime, () => decorated(new shaka.dash.DashParser(), "dash"));
  }
  for (const mime of HLS_MIMES) {
    Parser.registerParserByMime(mime, () => decorated(new shaka.hls.HlsParser(), "hls"));
  }
}

/** Puts Shaka's own plugins back (P2P Media Loader left none registered). */
export function unregisterPlugins(shaka: Shaka): void {
  const { NetworkingEngine, HttpFetchPlugin } = shaka.net;
  for (const scheme of SCHEMES) {
    NetworkingEngine.unregisterScheme(scheme);
    NetworkingEngine.registerScheme(
      scheme,
      HttpFetchPlugin.parse as ShakaSchemePlugin,
      NetworkingEngine.PluginPriority.PREFERRED,
      true,
    );
  }
  const Parser = shaka.media.ManifestParser;
  for (const mime of DASH_MIMES) Parser.registerParserByMime(mime, () => new shaka.dash.DashParser());
  for (const mime of HLS_MIMES) Parser.registerParserByMime(mime, () => new shaka.hls.HlsParser());
}

/** Request type names, from the namespace the page gave (values may differ between versions). */
export function isType(shaka: Shaka, type: ShakaRequestType, name: "MANIFEST" | "SEGMENT"): boolean {
  return type === shaka.net.NetworkingEngine.RequestType[name];
}
