// The event log: the engine's events under P2P Media Loader's names, newest first. Chunk events
// come dozens per second, so they are summed per second and per direction.

import { formatBytes } from "./stats.js";

const MAX_ROWS = 250;

/** Which filter chip an event belongs to. */
const GROUP = {
  onSegmentStart: "segments",
  onSegmentLoaded: "segments",
  onSegmentError: "segments",
  onSegmentAbort: "segments",
  onPeerConnect: "peers",
  onPeerClose: "peers",
  onPeerError: "peers",
  onChunkDownloaded: "chunks",
  onChunkUploaded: "chunks",
  onTrackerError: "tracker",
  onTrackerWarning: "tracker",
  player: "player",
};

/** ".../480p/seg-012.ts?x" → "480p/seg-012.ts" */
function shortUrl(url) {
  if (typeof url !== "string") return "(announced by a peer)";
  const path = url.split(/[?#]/)[0].split("/").filter(Boolean);
  return path.slice(-2).join("/");
}

const shortPeer = (id) => (typeof id === "string" ? id.slice(0, 8) + "…" + id.slice(-4) : "?");
const reason = (e) => (e?.type ? `${e.type}${e.message ? `: ${e.message}` : ""}` : String(e?.message ?? e));

/** The kind of row (its colour) and its text, per event. */
function describe(name, args) {
  const [d] = args;
  switch (name) {
    case "onSegmentStart":
      return ["start", `${shortUrl(d.segment?.url)} from ${d.downloadSource}${d.peerId ? ` ${shortPeer(d.peerId)}` : ""}`];
    case "onSegmentLoaded":
      return [d.downloadSource, `${shortUrl(d.segmentUrl)} · ${formatBytes(d.bytesLength)} · ${d.downloadSource === "p2p" ? "from a peer" : "over HTTP"} · ${d.streamType}`];
    case "onSegmentError":
      return ["error", `${shortUrl(d.segment?.url)} from ${d.downloadSource}: ${reason(d.error)}`];
    case "onSegmentAbort":
      return ["muted", `${shortUrl(d.segment?.url)}${d.downloadSource ? ` (${d.downloadSource})` : ""}`];
    case "onPeerConnect":
      return ["peer", `${shortPeer(d.peerId)} · ${d.streamType}`];
    case "onPeerClose":
      return ["muted", `${shortPeer(d.peerId)} · ${d.streamType}`];
    case "onPeerError":
      return ["error", `${shortPeer(d.peerId)}: ${reason(d.error)}`];
    case "onTrackerError":
      return ["error", `${d.streamType}: ${reason(d.error)}`];
    case "onTrackerWarning":
      return ["warn", `${d.streamType}: ${reason(d.warning)}`];
    default:
      return ["muted", args.map(String).join(" ")];
  }
}

export class EventLog {
  /** @param {HTMLOListElement} list  @param {HTMLElement} filters chips with data-group */
  constructor(list, filters) {
    this.list = list;
    this.t0 = performance.now();
    this.hidden = new Set();
    this.chunks = { down: { n: 0, p2p: 0, http: 0 }, up: { n: 0, bytes: 0 } };
    for (const chip of filters.querySelectorAll("[data-group]")) {
      chip.addEventListener("click", () => {
        const g = chip.dataset.group;
        if (this.hidden.has(g)) this.hidden.delete(g);
        else this.hidden.add(g);
        chip.classList.toggle("off", this.hidden.has(g));
        list.classList.toggle(`hide-${g}`, this.hidden.has(g));
      });
    }
    setInterval(() => this.#flushChunks(), 1000);
  }

  /** An engine event: `log.event("onPeerConnect", details)`. */
  event(name, ...args) {
    if (name === "onChunkDownloaded") {
      const [bytes, source] = args;
      this.chunks.down.n += 1;
      this.chunks.down[source === "p2p" ? "p2p" : "http"] += bytes;
      return;
    }
    if (name === "onChunkUploaded") {
      this.chunks.up.n += 1;
      this.chunks.up.bytes += args[0];
      return;
    }
    const [kind, text] = describe(name, args);
    this.#row(name, kind, text);
  }

  /** Something the page itself reports (player started, errors). */
  note(text, kind = "player") {
    this.#row("player", kind, text);
  }

  #flushChunks() {
    const { down, up } = this.chunks;
    if (down.n > 0) {
      const parts = [];
      if (down.p2p > 0) parts.push(`${formatBytes(down.p2p)} from peers`);
      if (down.http > 0) parts.push(`${formatBytes(down.http)} over HTTP`);
      this.#row("onChunkDownloaded", down.p2p > 0 ? "p2p" : "http", `×${down.n} in 1 s · ${parts.join(" · ")}`);
    }
    if (up.n > 0) this.#row("onChunkUploaded", "up", `×${up.n} in 1 s · ${formatBytes(up.bytes)} to peers`);
    this.chunks = { down: { n: 0, p2p: 0, http: 0 }, up: { n: 0, bytes: 0 } };
  }

  #row(name, kind, text) {
    const li = document.createElement("li");
    li.className = `ev ${kind} g-${GROUP[name] ?? "player"}`;
    const t = (performance.now() - this.t0) / 1000;
    const time = document.createElement("time");
    time.textContent = `${String(Math.floor(t / 60)).padStart(2, "0")}:${(t % 60).toFixed(1).padStart(4, "0")}`;
    const chip = document.createElement("b");
    chip.textContent = name;
    const span = document.createElement("span");
    span.textContent = text;
    li.append(time, chip, span);
    this.list.prepend(li);
    while (this.list.childElementCount > MAX_ROWS) this.list.lastElementChild.remove();
  }
}
