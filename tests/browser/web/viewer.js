// One viewer: hls.js with a P2P engine, counting where bytes came from. The page's import map
// says which engine "p2p-engine" is: the real P2P Media Loader 2.3.1 (p2pml.html) or our wasm
// package p2pml-rs-hlsjs (ours.html); both have the same API, so this file serves both.
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

const params = new URLSearchParams(location.search);
const src = params.get("src");
const trackers = params.getAll("tracker");
const swarmId = params.get("swarm") ?? undefined;
const prefix = params.get("prefix") ?? undefined;
const p2pOff = params.get("p2p") === "off";
const fixedLevel = params.has("level") ? Number(params.get("level")) : undefined;
const switchAt = params.has("switchAt") ? Number(params.get("switchAt")) : undefined;
const switchTo = Number(params.get("switchTo") ?? 0);
const liveSyncCount = params.has("liveSyncCount") ? Number(params.get("liveSyncCount")) : undefined;

// Waits this long or longer count as visible stalls. Shorter ones (13–72 ms measured) happen at
// the emulated live stream's discontinuities with P2P off too: they are the media's, not ours.
const VISIBLE_STALL_MS = 200;

const stats = {
  ready: false,
  httpBytes: 0,
  p2pBytes: 0,
  uploadedBytes: 0,
  segmentsHttp: 0,
  segmentsP2P: 0,
  segmentErrors: 0,
  peersConnected: 0,
  peersEver: new Set(),
  // The page's own peer id prefix, when the query sets one.
  peerIdPrefix: prefix ?? null,
  // By the first 8 characters of the peer id, where the engine names the peer.
  p2pBytesByPeer: {},
  uploadedBytesByPeer: {},
  trackerErrors: [],
  stalls: 0,
  stallMs: 0,
  visibleStalls: 0,
  started: false,
  startupMs: null,
  latencyAtStartS: null,
  errors: [],
  position: 0,
  live: null,
  level: null,
  switched: false,
  // P2P bytes of segments of the level switched to, loaded after the switch.
  p2pBytesAfterSwitch: 0,
  positionAtSwitch: null,
  // The last few segments loaded, with their source (for failure reports).
  recentSegments: [],
  timeline: [],
};
let engine = null;
let hls = null;
window.p2pml = {
  stats,
  // A plain, JSON-friendly snapshot.
  snapshot: () => ({
    ...stats,
    // A stall still going on counts with its duration so far.
    stallMs: stats.stallMs + (stallStart === null ? 0 : performance.now() - stallStart),
    visibleStalls:
      stats.visibleStalls +
      (stallStart !== null && performance.now() - stallStart >= VISIBLE_STALL_MS ? 1 : 0),
    peersEver: stats.peersEver.size,
    position: video.currentTime,
    level: hls?.currentLevel ?? null,
  }),
};

const video = document.getElementById("video");
const t0 = performance.now();
let stallStart = null;

video.addEventListener("playing", () => {
  if (!stats.started) {
    stats.started = true;
    stats.startupMs = Math.round(performance.now() - t0);
    // How far behind the live edge playback began (null for VOD).
    stats.latencyAtStartS = hls?.latency ? Math.round(hls.latency * 10) / 10 : null;
  }
  if (stallStart !== null) {
    const ms = performance.now() - stallStart;
    stats.stallMs += ms;
    if (ms >= VISIBLE_STALL_MS) stats.visibleStalls += 1;
    stallStart = null;
  }
});
video.addEventListener("waiting", () => {
  // A stall is waiting after playback began; before that it is startup time.
  if (stats.started && stallStart === null) {
    stats.stalls += 1;
    stallStart = performance.now();
  }
});

const add = (map, key, n) => {
  map[key] = (map[key] ?? 0) + n;
};
const peerKey = (peerId) => (typeof peerId === "string" ? peerId.slice(0, 8) : "unknown");

function listen(p2pEngine) {
  p2pEngine.addEventListener("onChunkDownloaded", (bytes, source, peerId) => {
    if (source === "p2p") {
      stats.p2pBytes += bytes;
      add(stats.p2pBytesByPeer, peerKey(peerId), bytes);
    } else stats.httpBytes += bytes;
  });
  p2pEngine.addEventListener("onChunkUploaded", (bytes, peerId) => {
    stats.uploadedBytes += bytes;
    add(stats.uploadedBytesByPeer, peerKey(peerId), bytes);
  });
  p2pEngine.addEventListener("onSegmentLoaded", (d) => {
    if (d.downloadSource === "p2p") stats.segmentsP2P += 1;
    else stats.segmentsHttp += 1;
    const t = Math.round((performance.now() - t0) / 100) / 10;
    stats.timeline.push(`${t} ${d.downloadSource} ${d.segmentUrl?.split("/").slice(-3).join("/")}`);
    stats.recentSegments = [...stats.recentSegments.slice(-7), `${d.downloadSource} ${d.segmentUrl}`];
    if (stats.switched && d.downloadSource === "p2p" && hls) {
      // Segment URIs need not sit beside their playlist (the emulated live stream puts them
      // under /pass-k/), so match the rendition's directory name: ".../480p/index.m3u8" → "/480p/".
      const url = hls.levels[switchTo]?.url?.[0];
      const dir = url ? new URL(".", url).pathname.split("/").filter(Boolean).pop() : null;
      // A segment without a URL is one a peer announced beyond our copy of the live playlist:
      // the engine fetches those for the stream being played, which is now the new level's.
      const ours =
        d.segmentUrl === undefined ? hls.currentLevel === switchTo : dir && d.segmentUrl.includes(`/${dir}/`);
      if (ours) stats.p2pBytesAfterSwitch += d.bytesLength;
    }
  });
  p2pEngine.addEventListener("onSegmentError", () => {
    stats.segmentErrors += 1;
  });
  p2pEngine.addEventListener("onPeerConnect", (d) => {
    stats.peersConnected += 1;
    stats.peersEver.add(d.peerId);
  });
  p2pEngine.addEventListener("onPeerClose", () => {
    stats.peersConnected -= 1;
  });
  p2pEngine.addEventListener("onTrackerError", (d) => {
    stats.trackerErrors.push(String(d.error?.message ?? d.error));
  });
}

try {
  const hlsConfig = {
    ...(fixedLevel !== undefined ? { startLevel: fixedLevel } : {}),
    ...(liveSyncCount !== undefined ? { liveSyncDurationCount: liveSyncCount } : {}),
  };
  if (p2pOff) {
    hls = new Hls(hlsConfig);
    hls.on(Hls.Events.FRAG_LOADED, (_e, data) => {
      stats.httpBytes += data.frag.stats.loaded;
      stats.segmentsHttp += 1;
    });
  } else {
    const HlsWithP2P = HlsJsP2PEngine.injectMixin(Hls);
    hls = new HlsWithP2P({
      ...hlsConfig,
      p2p: {
        core: {
          announceTrackers: trackers,
          // Loopback only: no STUN servers to wait for.
          rtcConfig: { iceServers: [] },
          ...(swarmId ? { swarmId } : {}),
          ...(prefix ? { trackerClientVersionPrefix: prefix } : {}),
        },
        onHlsJsCreated(h) {
          engine = h.p2pEngine;
          listen(engine);
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
setInterval(() => {
  document.getElementById("status").textContent = JSON.stringify(window.p2pml.snapshot(), null, 1);
}, 1000);
