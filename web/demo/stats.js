// What one viewer's engine and player did: bytes by source, segments, peers and stalls,
// counted from P2P Media Loader's events (the same names and payloads with our engine and
// with P2P Media Loader's), and the video element's `waiting`/`playing`.

/** A wait at least this long is a stall a viewer sees. Shorter ones (13–72 ms measured)
 * happen at the emulated live stream's discontinuities with P2P off too. */
export const VISIBLE_STALL_MS = 200;

export class ViewerStats {
  httpBytes = 0;
  p2pBytes = 0;
  uploadedBytes = 0;
  segmentsHttp = 0;
  segmentsP2P = 0;
  segmentErrors = 0;
  /** peerId → { streamType, since, down, up } for connected peers (bytes from and to it). */
  peers = new Map();
  peersEver = new Set();
  started = false;
  startupMs = null;
  stalls = 0;
  stallMs = 0;
  visibleStalls = 0;
  errors = [];
  /** The last segments loaded, oldest first: { source, bytes, url, streamType }. */
  recent = [];
  #stallStart = null;
  #t0 = performance.now();

  /** Counts an engine's events; `log(name, details)` hears each one as well. */
  listen(engine, log) {
    const on = (name, fn) =>
      engine.addEventListener(name, (...args) => {
        fn(...args);
        log(name, ...args);
      });
    on("onChunkDownloaded", (bytes, source, peerId) => {
      if (source === "p2p") {
        this.p2pBytes += bytes;
        const peer = this.peers.get(peerId);
        if (peer) peer.down += bytes;
      } else this.httpBytes += bytes;
    });
    on("onChunkUploaded", (bytes, peerId) => {
      this.uploadedBytes += bytes;
      const peer = this.peers.get(peerId);
      if (peer) peer.up += bytes;
    });
    on("onSegmentLoaded", (d) => {
      if (d.downloadSource === "p2p") this.segmentsP2P += 1;
      else this.segmentsHttp += 1;
      this.recent.push({ source: d.downloadSource, bytes: d.bytesLength, url: d.segmentUrl, streamType: d.streamType });
      if (this.recent.length > 240) this.recent.shift();
    });
    on("onSegmentError", () => {
      this.segmentErrors += 1;
    });
    on("onPeerConnect", (d) => {
      this.peers.set(d.peerId, { streamType: d.streamType, since: performance.now(), down: 0, up: 0 });
      this.peersEver.add(d.peerId);
    });
    on("onPeerClose", (d) => {
      this.peers.delete(d.peerId);
    });
    for (const name of ["onSegmentStart", "onSegmentAbort", "onPeerError", "onTrackerError", "onTrackerWarning"]) {
      on(name, () => {});
    }
  }

  /** Follows the video element: startup time and stalls (waiting after playback began). */
  watch(video) {
    video.addEventListener("playing", () => {
      if (!this.started) {
        this.started = true;
        this.startupMs = Math.round(performance.now() - this.#t0);
      }
      if (this.#stallStart !== null) {
        const ms = performance.now() - this.#stallStart;
        this.stallMs += ms;
        if (ms >= VISIBLE_STALL_MS) this.visibleStalls += 1;
        this.#stallStart = null;
      }
    });
    video.addEventListener("waiting", () => {
      if (this.started && this.#stallStart === null) {
        this.stalls += 1;
        this.#stallStart = performance.now();
      }
    });
  }

  get p2pRatio() {
    const total = this.p2pBytes + this.httpBytes;
    return total === 0 ? null : this.p2pBytes / total;
  }

  /** A plain copy; a stall still going on counts with its duration so far. */
  snapshot() {
    const ongoing = this.#stallStart === null ? 0 : performance.now() - this.#stallStart;
    return {
      httpBytes: this.httpBytes,
      p2pBytes: this.p2pBytes,
      uploadedBytes: this.uploadedBytes,
      p2pRatio: this.p2pRatio,
      segmentsHttp: this.segmentsHttp,
      segmentsP2P: this.segmentsP2P,
      segmentErrors: this.segmentErrors,
      peersConnected: this.peers.size,
      peersEver: this.peersEver.size,
      started: this.started,
      startupMs: this.startupMs,
      stalls: this.stalls,
      stallMs: Math.round(this.stallMs + ongoing),
      visibleStalls: this.visibleStalls + (ongoing >= VISIBLE_STALL_MS ? 1 : 0),
      errors: [...this.errors],
    };
  }
}

const UNITS = ["B", "KB", "MB", "GB"];

/** 1234567 → "1.23 MB" (decimal units, as the status lines of the native peers). */
export function formatBytes(n) {
  let i = 0;
  while (n >= 1000 && i < UNITS.length - 1) {
    n /= 1000;
    i += 1;
  }
  return `${i === 0 ? n : n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2)} ${UNITS[i]}`;
}

/** Bits per second, readable: "640 kbit/s", "1.2 Mbit/s". */
export function formatRate(bitsPerSecond) {
  if (bitsPerSecond >= 1e6) return `${(bitsPerSecond / 1e6).toFixed(bitsPerSecond >= 1e7 ? 0 : 1)} Mbit/s`;
  return `${Math.round(bitsPerSecond / 1e3)} kbit/s`;
}
