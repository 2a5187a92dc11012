// One viewer: hls.js with our engine (p2pml-rs-hlsjs, the wasm build), counting where bytes
// came from exactly as p2pml-viewer.js does for the real P2P Media Loader, so that
// run-p2pml.mjs --page /web/ours.html reports both the same way.
// Query: ?src=<stream URL>&tracker=<ws URL>[&tracker=…][&swarm=<swarmId>]
// Results are on window.p2pml (read by run-p2pml.mjs); `engineStats` there is the engine's own
// count (getStats(), not in P2P Media Loader), to compare with the event-based one.
import Hls from "hls.js";
import { HlsJsP2PEngine } from "p2pml-rs-hlsjs";

const params = new URLSearchParams(location.search);
const src = params.get("src");
const trackers = params.getAll("tracker");
const swarmId = params.get("swarm") ?? undefined;

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
  trackerErrors: [],
  stalls: 0,
  stallMs: 0,
  started: false,
  startupMs: null,
  errors: [],
  position: 0,
  live: null,
};
let engine = null;
window.p2pml = {
  stats,
  snapshot: () => ({
    ...stats,
    peersEver: stats.peersEver.size,
    position: video.currentTime,
    engineStats: engine?.getStats() ?? null,
  }),
};

const video = document.getElementById("video");
const t0 = performance.now();
let stallStart = null;

video.addEventListener("playing", () => {
  if (!stats.started) {
    stats.started = true;
    stats.startupMs = Math.round(performance.now() - t0);
  }
  if (stallStart !== null) {
    stats.stallMs += performance.now() - stallStart;
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

function listen(p2pEngine) {
  p2pEngine.addEventListener("onChunkDownloaded", (bytes, source) => {
    if (source === "p2p") stats.p2pBytes += bytes;
    else stats.httpBytes += bytes;
  });
  p2pEngine.addEventListener("onChunkUploaded", (bytes) => {
    stats.uploadedBytes += bytes;
  });
  p2pEngine.addEventListener("onSegmentLoaded", (d) => {
    if (d.downloadSource === "p2p") stats.segmentsP2P += 1;
    else stats.segmentsHttp += 1;
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
  const HlsWithP2P = HlsJsP2PEngine.injectMixin(Hls);
  const hls = new HlsWithP2P({
    p2p: {
      core: {
        announceTrackers: trackers,
        // Loopback only: no STUN servers to wait for.
        rtcConfig: { iceServers: [] },
        ...(swarmId ? { swarmId } : {}),
      },
      onHlsJsCreated(h) {
        engine = h.p2pEngine;
        listen(engine);
      },
    },
  });
  hls.on(Hls.Events.LEVEL_UPDATED, (_e, data) => {
    stats.live = data.details.live;
  });
  hls.on(Hls.Events.ERROR, (_e, data) => {
    if (data.fatal) stats.errors.push(`hls.js fatal: ${data.type} ${data.details}`);
  });
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
