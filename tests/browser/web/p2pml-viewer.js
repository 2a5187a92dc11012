// One viewer: hls.js with the real P2P Media Loader 2.3.1, counting where bytes came from.
// Query: ?src=<stream URL>&tracker=<ws URL>[&tracker=…][&swarm=<swarmId>]
// Results are on window.p2pml (read by run-p2pml.mjs).
import Hls from "hls.js";
import { HlsJsP2PEngine } from "p2p-media-loader-hlsjs";

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
window.p2pml = {
  stats,
  // A plain, JSON-friendly snapshot.
  snapshot: () => ({
    ...stats,
    peersEver: stats.peersEver.size,
    position: video.currentTime,
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
  // Only stalls after playback began count: the initial load is startup time.
  if (stats.started && stallStart === null) {
    stats.stalls += 1;
    stallStart = performance.now();
  }
});

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
      const engine = h.p2pEngine;
      engine.addEventListener("onChunkDownloaded", (bytes, source) => {
        if (source === "p2p") stats.p2pBytes += bytes;
        else stats.httpBytes += bytes;
      });
      engine.addEventListener("onChunkUploaded", (bytes) => {
        stats.uploadedBytes += bytes;
      });
      engine.addEventListener("onSegmentLoaded", (d) => {
        if (d.downloadSource === "p2p") stats.segmentsP2P += 1;
        else stats.segmentsHttp += 1;
      });
      engine.addEventListener("onSegmentError", () => {
        stats.segmentErrors += 1;
      });
      engine.addEventListener("onPeerConnect", (d) => {
        stats.peersConnected += 1;
        stats.peersEver.add(d.peerId);
      });
      engine.addEventListener("onPeerClose", () => {
        stats.peersConnected -= 1;
      });
      engine.addEventListener("onTrackerError", (d) => {
        stats.trackerErrors.push(String(d.error?.message ?? d.error));
      });
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
stats.ready = true;
setInterval(() => {
  document.getElementById("status").textContent = JSON.stringify(window.p2pml.snapshot(), null, 1);
}, 1000);
