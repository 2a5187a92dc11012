// What every viewer page counts, for whichever player and engine it runs: bytes by source (and
// by the peer's id prefix where the engine names the peer), uploads, segments, peers, tracker
// errors, stalls and startup, exposed as window.p2pml.snapshot() for run-p2pml.mjs.
// viewer.js (hls.js) and shaka-viewer.js (Shaka Player) use it.

// Waits this long or longer count as visible stalls. Shorter ones (13–72 ms measured) happen at
// the emulated live stream's discontinuities with P2P off too: they are the media's, not ours.
export const VISIBLE_STALL_MS = 200;

/**
 * Starts counting for the page's video element. `player` gives what only the player knows:
 * `level()` (the rendition playing, or null), `latency()` (seconds behind the live edge, or
 * null) and, optionally, `isSwitchedLevelSegment(details)` for the level-switch test.
 * `prefix` is this viewer's own peer id prefix (null: the engine's default).
 */
export function startStats(video, player, prefix = null) {
  const stats = {
    ready: false,
    prefix,
    httpBytes: 0,
    p2pBytes: 0,
    uploadedBytes: 0,
    segmentsHttp: 0,
    segmentsP2P: 0,
    segmentErrors: 0,
    peersConnected: 0,
    peersEver: new Set(),
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
  const t0 = performance.now();
  let stallStart = null;

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
      level: player.level(),
    }),
  };

  video.addEventListener("playing", () => {
    if (!stats.started) {
      stats.started = true;
      stats.startupMs = Math.round(performance.now() - t0);
      // How far behind the live edge playback began (null for VOD).
      const latency = player.latency();
      stats.latencyAtStartS = latency ? Math.round(latency * 10) / 10 : null;
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

  /** Counts what a P2P engine (P2P Media Loader's API) reports. */
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
      if (stats.switched && d.downloadSource === "p2p" && player.isSwitchedLevelSegment?.(d)) {
        stats.p2pBytesAfterSwitch += d.bytesLength;
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

  /** Counts a segment loaded with P2P off (the baseline). */
  function httpSegment(bytes) {
    stats.httpBytes += bytes;
    stats.segmentsHttp += 1;
  }

  setInterval(() => {
    document.getElementById("status").textContent = JSON.stringify(window.p2pml.snapshot(), null, 1);
  }, 1000);

  return { stats, listen, httpSegment };
}

/** The query every viewer page takes (see viewer.js for the hls.js-only extras). */
export function commonParams() {
  const params = new URLSearchParams(location.search);
  return {
    params,
    src: params.get("src"),
    trackers: params.getAll("tracker"),
    swarmId: params.get("swarm") ?? undefined,
    prefix: params.get("prefix") ?? undefined,
    p2pOff: params.get("p2p") === "off",
  };
}

/** The engine options every viewer page passes (P2P Media Loader's CoreConfig). */
export function coreConfig({ trackers, swarmId, prefix }) {
  return {
    announceTrackers: trackers,
    // Loopback only: no STUN servers to wait for.
    rtcConfig: { iceServers: [] },
    ...(swarmId ? { swarmId } : {}),
    ...(prefix ? { trackerClientVersionPrefix: prefix } : {}),
  };
}
