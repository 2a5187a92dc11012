// One viewer: hls.js with a P2P engine, counting where bytes came from (stats.js). The page's
// import map says which engine "p2p-engine" is: the real P2P Media Loader 2.3.1 (p2pml.html) or
// our wasm package p2pml-rs-hlsjs (ours.html); both have the same API, so this file serves both.
// shaka-viewer.js is the same for Shaka Player.
//
// Query: ?src=<stream URL>&tracker=<ws URL>[&tracker=…]
//   [&swarm=<swarmId>]        swarm id instead of the manifest URL
//   [&prefix=-XX0000-]         peer id prefix (tests tell implementations apart by it)
//   [&p2p=off]                 plain hls.js: the baseline, counting HTTP bytes only
//   [&level=N]                 start at level N with ABR off
//   [&switchAt=S&switchTo=M]   switch to level M, S seconds after start
//   [&liveSyncCount=K]         hls.js liveSyncDurationCount (3 is hls.js's default)
// Results are on window.p2pml (read by run-p2pml.mjs).
import Hls from "hls.js";
import { HlsJsP2PEngine } from "p2p-engine";
import { commonParams, coreConfig, startStats } from "./stats.js";

const query = commonParams();
const { params, src, p2pOff } = query;
const fixedLevel = params.has("level") ? Number(params.get("level")) : undefined;
const switchAt = params.has("switchAt") ? Number(params.get("switchAt")) : undefined;
const switchTo = Number(params.get("switchTo") ?? 0);
const liveSyncCount = params.has("liveSyncCount") ? Number(params.get("liveSyncCount")) : undefined;

const video = document.getElementById("video");
let hls = null;
const { stats, listen, httpSegment } = startStats(
  video,
  {
    level: () => hls?.currentLevel ?? null,
    latency: () => hls?.latency || null,
    isSwitchedLevelSegment(d) {
      if (!hls) return false;
      // Segment URIs need not sit beside their playlist (the emulated live stream puts them
      // under /pass-k/), so match the rendition's directory name: ".../480p/index.m3u8" → "/480p/".
      const url = hls.levels[switchTo]?.url?.[0];
      const dir = url ? new URL(".", url).pathname.split("/").filter(Boolean).pop() : null;
      // A segment without a URL is one a peer announced beyond our copy of the live playlist:
      // the engine fetches those for the stream being played, which is now the new level's.
      return d.segmentUrl === undefined ? hls.currentLevel === switchTo : Boolean(dir && d.segmentUrl.includes(`/${dir}/`));
    },
  },
  query.prefix ?? null,
);

try {
  const hlsConfig = {
    ...(fixedLevel !== undefined ? { startLevel: fixedLevel } : {}),
    ...(liveSyncCount !== undefined ? { liveSyncDurationCount: liveSyncCount } : {}),
  };
  if (p2pOff) {
    hls = new Hls(hlsConfig);
    hls.on(Hls.Events.FRAG_LOADED, (_e, data) => httpSegment(data.frag.stats.loaded));
  } else {
    const HlsWithP2P = HlsJsP2PEngine.injectMixin(Hls);
    hls = new HlsWithP2P({
      ...hlsConfig,
      p2p: {
        core: coreConfig(query),
        onHlsJsCreated(h) {
          listen(h.p2pEngine);
        },
      },
    });
  }
  hls.on(Hls.Events.LEVEL_UPDATED, (_e, data) => {
    stats.live = data.details.live;
  });
  hls.on(Hls.Events.ERROR, (_e, data) => {
    if (data.fatal) stats.errors.push(`hls.js fatal: ${data.type} ${data.details}`);
  });
  if (fixedLevel !== undefined) {
    // ABR off: every viewer stays in one rendition's swarm until told to switch.
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      hls.currentLevel = fixedLevel;
    });
  }
  if (switchAt !== undefined) {
    setTimeout(() => {
      stats.switched = true;
      stats.positionAtSwitch = video.currentTime;
      hls.nextLevel = switchTo;
    }, switchAt * 1000);
  }
  hls.attachMedia(video);
  hls.loadSource(src);
  video.play().catch((e) => stats.errors.push(`play(): ${e}`));
} catch (e) {
  // Typically the wasm could not be loaded; report it rather than time out.
  stats.errors.push(`setup: ${e}${e?.cause ? ` (cause: ${e.cause})` : ""}`);
}
stats.ready = true;
