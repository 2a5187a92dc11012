// One viewer: Shaka Player with our P2P engine (p2pml-rs-shaka, the import map's
// "p2p-engine-shaka"), counting where bytes came from (stats.js, as viewer.js does for hls.js).
// Shaka itself is the page's classic script (window.shaka).
//
// Query: ?src=<DASH or HLS URL>&tracker=<ws URL>[&tracker=…]
//   [&swarm=<swarmId>]   swarm id instead of the manifest URL
//   [&prefix=-XX0000-]    peer id prefix (tests tell implementations apart by it)
//   [&p2p=off]            plain Shaka (configured as the engine would configure it): the baseline
//   [&height=H]           ABR off, the video rendition of height H
// Results are on window.p2pml (read by run-p2pml.mjs).
import { ShakaP2PEngine } from "p2p-engine-shaka";
import { commonParams, coreConfig, startStats } from "./stats.js";

const query = commonParams();
const { params, src, p2pOff } = query;
const height = params.has("height") ? Number(params.get("height")) : undefined;
const { shaka } = window;

const video = document.getElementById("video");
let player = null;
const { stats, listen, httpSegment } = startStats(
  video,
  {
    level: () => player?.getVariantTracks().find((t) => t.active)?.height ?? null,
    latency: () => (player?.isLive() ? player.seekRange().end - video.currentTime : null),
  },
  query.prefix ?? null,
);

try {
  shaka.polyfill.installAll();
  if (!p2pOff) ShakaP2PEngine.registerPlugins(shaka);
  player = new shaka.Player();
  await player.attach(video);
  if (p2pOff) {
    // What bindShakaPlayer configures, so that the baseline differs only by P2P.
    player.configure({
      manifest: { defaultPresentationDelay: 25, dash: { ignoreSuggestedPresentationDelay: true } },
      streaming: { preferNativeHls: false },
    });
    player.getNetworkingEngine().registerResponseFilter((type, response) => {
      if (type === shaka.net.NetworkingEngine.RequestType.SEGMENT) httpSegment(response.data.byteLength);
    });
  } else {
    const engine = new ShakaP2PEngine({ core: coreConfig(query) }, shaka);
    engine.bindShakaPlayer(player);
    listen(engine);
    window.p2pml.engine = engine;
  }
  player.addEventListener("error", (event) => {
    const e = event.detail;
    if (e?.severity === shaka.util.Error.Severity.CRITICAL) {
      stats.errors.push(`shaka critical error ${e.code} (category ${e.category})`);
    }
  });
  player.addEventListener("loaded", () => {
    stats.live = player.isLive();
  });
  await player.load(src);
  if (height !== undefined) {
    player.configure({ abr: { enabled: false } });
    const track = player.getVariantTracks().find((t) => t.height === height);
    if (track) player.selectVariantTrack(track, /* clearBuffer= */ true);
  }
  video.play().catch((e) => stats.errors.push(`play(): ${e}`));
} catch (e) {
  // Typically the wasm could not be loaded, or Shaka refused the stream; report it.
  stats.errors.push(`setup: ${e}${e?.cause ? ` (cause: ${e.cause})` : ""}${e?.code ? ` (shaka code ${e.code})` : ""}`);
}
stats.ready = true;
