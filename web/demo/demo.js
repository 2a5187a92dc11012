// The demo page: one viewer (hls.js or Shaka, each with our P2P engine) of a stream served by
// `p2pml demo`, with what its engine does drawn live. Settings live in the URL
// (?player=hlsjs|shaka&stream=live/hls-ts|vod/dash|url&window=20), so "Open another viewer"
// opens the same thing in a new tab, which joins the same swarms.
//
// For tests, window.demo.snapshot() returns the counters (see stats.js).

import { RateChart } from "./chart.js";
import { EventLog } from "./log.js";
import { startHlsjs, startShaka } from "./players.js";
import { ViewerStats, formatBytes, formatRate } from "./stats.js";

const $ = (id) => document.getElementById(id);
const video = $("video");
const stats = new ViewerStats();
const log = new EventLog($("log"), $("filters"));
const chart = new RateChart($("chart"));
let player = null;
let settings = null;
let stream = null;

window.demo = {
  ready: false,
  snapshot: () => ({
    ...stats.snapshot(),
    player: player?.name ?? null,
    stream: stream?.key ?? null,
    src: stream?.src ?? null,
    live: player?.live() ?? null,
    position: video.currentTime,
  }),
};

const fail = (message) => {
  stats.errors.push(message);
  log.note(message, "error");
};
window.addEventListener("error", (e) => fail(`page error: ${e.message}`));
window.addEventListener("unhandledrejection", (e) => fail(`page error: ${e.reason?.message ?? e.reason}`));

/** Every stream the page offers: bundled (live and VOD) and the user's --url. */
function streamsOf(config) {
  const list = [];
  if (config.catalog.user) {
    const { url, format } = config.catalog.user;
    list.push({ key: "url", label: `Your stream · ${new URL(url).host}`, format, live: null, url });
  }
  for (const live of [true, false]) {
    for (const b of config.catalog.bundled) {
      if (live && !b.live) continue;
      list.push({ key: `${live ? "live" : "vod"}/${b.id}`, label: `${live ? "Live" : "VOD"} · ${b.label}`, format: b.format, live, path: b.path });
    }
  }
  return list;
}

/** Where to load a stream from, and the swarm id native peers use for it. */
function locate(s, liveWindow, config) {
  if (s.key === "url") return { ...s, src: s.url, watch: s.url, swarmId: undefined };
  const path = s.live ? `/live/${liveWindow}${s.path}` : s.path;
  // Native peers reach the origin at swarmBase; a browser may have opened the page by another
  // name (localhost, a LAN address). The same swarm id puts them in the same swarms.
  const canonical = config.catalog.swarmBase + path;
  return { ...s, src: new URL(path, location.origin).href, watch: canonical, swarmId: canonical };
}

function readSettings(config, streams) {
  const q = new URLSearchParams(location.search);
  const d = config.default;
  const fallback = d ? (d.stream === "url" ? "url" : `${d.live ? "live" : "vod"}/${d.stream}`) : streams[0]?.key;
  const key = streams.some((s) => s.key === q.get("stream")) ? q.get("stream") : fallback;
  const liveWindow = Number(q.get("window")) || config.liveWindow;
  let name = q.get("player") === "shaka" ? "shaka" : "hlsjs";
  const s = streams.find((x) => x.key === key);
  // hls.js plays HLS only.
  if (s?.format === "dash") name = "shaka";
  return { player: name, stream: key, window: liveWindow };
}

function urlFor(s) {
  const q = new URLSearchParams({ player: s.player, stream: s.stream, window: String(s.window) });
  return `${location.pathname}?${q}`;
}

function setUpControls(config, streams) {
  const select = $("stream");
  for (const s of streams) {
    const option = new Option(s.label, s.key, false, s.key === settings.stream);
    if (s.format === "dash" && !config.players.shaka) {
      option.disabled = true;
      option.label = `${s.label} (needs Shaka)`;
    }
    select.add(option);
  }
  const windows = $("window");
  for (const w of new Set([...config.liveWindows, settings.window])) {
    windows.add(new Option(`${w} segments (${w * 2} s)`, String(w), false, w === settings.window));
  }
  windows.disabled = !stream.live;
  const go = (change) => {
    location.href = urlFor({ ...settings, ...change });
  };
  select.addEventListener("change", () => go({ stream: select.value }));
  windows.addEventListener("change", () => go({ window: Number(windows.value) }));
  for (const b of $("player").querySelectorAll("button")) {
    const name = b.dataset.player;
    b.classList.toggle("on", name === settings.player);
    if (name === "shaka" && !config.players.shaka) {
      b.disabled = true;
      b.title = "Shaka is not built in this checkout (packages/shaka, shaka-player)";
    }
    if (name === "hlsjs" && stream.format === "dash") {
      b.disabled = true;
      b.title = "hls.js plays HLS only";
    }
    b.addEventListener("click", () => name !== settings.player && go({ player: name }));
  }
  $("another").addEventListener("click", () => window.open(urlFor(settings), "_blank"));
}

/** Once a second: rates into the chart, counters into the cards. */
function tick() {
  let last = { http: 0, p2p: 0, up: 0 };
  return () => {
    const now = { http: stats.httpBytes, p2p: stats.p2pBytes, up: stats.uploadedBytes };
    const rate = { http: (now.http - last.http) * 8, p2p: (now.p2p - last.p2p) * 8, up: (now.up - last.up) * 8 };
    last = now;
    chart.push(rate);
    chart.draw();
    const avg = chart.series().at(-1) ?? rate;
    const ratio = stats.p2pRatio;
    $("ratio").textContent = ratio === null ? "–" : `${(ratio * 100).toFixed(ratio > 0 && ratio < 0.1 ? 1 : 0)}%`;
    $("ratio-bar").style.width = `${(ratio ?? 0) * 100}%`;
    $("p2p").textContent = formatBytes(stats.p2pBytes);
    $("http").textContent = formatBytes(stats.httpBytes);
    $("up").textContent = formatBytes(stats.uploadedBytes);
    $("p2p-rate").textContent = `↓ ${formatRate(avg.p2p)}`;
    $("http-rate").textContent = `↓ ${formatRate(avg.http)}`;
    $("up-rate").textContent = `↑ ${formatRate(avg.up)}`;
    $("peers").textContent = String(stats.peers.size);
    $("peers-ever").textContent = `connected now · ${stats.peersEver.size} seen`;
    $("segments").textContent = `${stats.segmentsP2P + stats.segmentsHttp}`;
    $("segments-split").textContent = `${stats.segmentsP2P} P2P · ${stats.segmentsHttp} HTTP${stats.segmentErrors ? ` · ${stats.segmentErrors} failed` : ""}`;
    const snap = stats.snapshot();
    $("stalls").textContent = String(snap.visibleStalls);
    $("stalls").classList.toggle("bad", snap.visibleStalls > 0);
    $("stall-ms").textContent = snap.started ? `${snap.stallMs} ms · startup ${snap.startupMs} ms` : "not playing yet";
    const b = video.buffered;
    let ahead = 0;
    for (let i = 0; i < b.length; i++) if (b.start(i) <= video.currentTime + 0.1 && b.end(i) > video.currentTime) ahead = b.end(i) - video.currentTime;
    $("buffer").textContent = `${ahead.toFixed(1)} s`;
    const latency = player?.latency();
    $("latency").textContent = latency == null ? `at ${video.currentTime.toFixed(0)} s` : `${latency.toFixed(1)} s behind live`;
    const live = player?.live();
    $("badge-live").textContent = live ? "LIVE" : live === false ? "VOD" : "";
    $("badge-live").className = `pill${live ? " live" : ""}`;
    $("badge-info").textContent = [player?.name, player?.rendition(), live ? `${settings.window}-segment window` : null].filter(Boolean).join(" · ");
    drawPeers();
    drawStrip();
  };
}

function drawPeers() {
  const rows = $("peer-rows");
  rows.replaceChildren();
  $("peer-count").textContent = `${stats.peers.size} now · ${stats.peersEver.size} seen`;
  if (stats.peers.size === 0) {
    const td = document.createElement("td");
    td.className = "empty";
    td.textContent = "None yet. Open another viewer, or run the demo with --peers 2 (its default).";
    rows.insertRow().append(td);
    return;
  }
  const now = performance.now();
  for (const [id, p] of [...stats.peers].slice(0, 6)) {
    const tr = rows.insertRow();
    const cell = (text, cls) => {
      const td = tr.insertCell();
      td.textContent = text;
      if (cls) td.className = cls;
      return td;
    };
    cell(id, "id");
    const tag = document.createElement("span");
    tag.className = "tag";
    tag.textContent = p.streamType;
    tr.insertCell().append(tag);
    cell(`↓ ${formatBytes(p.down)}`, "b down");
    cell(`↑ ${formatBytes(p.up)}`, "b up");
    cell(`${Math.round((now - p.since) / 1000)} s`, "t");
  }
  if (stats.peers.size > 6) {
    const td = document.createElement("td");
    td.className = "empty";
    td.textContent = `and ${stats.peers.size - 6} more`;
    rows.insertRow().append(td);
  }
}

function drawStrip() {
  const strip = $("strip");
  const fit = Math.max(10, Math.floor(strip.clientWidth / 15));
  strip.replaceChildren(
    ...stats.recent.slice(-fit).map((s) => {
      const i = document.createElement("i");
      i.className = `${s.source === "p2p" ? "p2p" : "http"} ${s.streamType}`;
      i.title = `${s.url ?? "(segment announced by a peer)"} · ${formatBytes(s.bytes)} · ${s.source} · ${s.streamType}`;
      return i;
    }),
  );
}

/** Every few seconds: tell the server what we play (native peers join it) and show the swarm. */
function heartbeat(config, trackers) {
  const send = async () => {
    try {
      const r = await fetch(`/api/watch?url=${encodeURIComponent(stream.watch)}`, { method: "POST" });
      if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
      showSwarm(await r.json(), config, trackers);
    } catch (e) {
      $("swarm").textContent = `demo server unreachable (${e.message})`;
    }
  };
  send();
  setInterval(send, 3000);
}

function showSwarm(status, config, trackers) {
  const parts = [];
  const t = status.tracker;
  parts.push(t ? `<b>Tracker</b> ${trackers[0]} · ${t.connections} connections · ${t.peers} peers in ${t.swarms} swarms` : `<b>Tracker</b> ${trackers.join(", ")}`);
  const native = status.native.streams.find((s) => s.url === stream.watch);
  if (config.peersPerStream === 0) parts.push("<b>Native peers</b> off (--peers 0)");
  else if (!native) parts.push("<b>Native peers</b> starting…");
  else if (native.error) parts.push(`<b>Native peers</b> failed: ${escape(native.error)}`);
  else {
    parts.push(
      `<b>Native peers</b> ${native.peers} in-process on this stream · P2P ${formatBytes(native.p2pBytes)} · HTTP ${formatBytes(native.httpBytes)} · up ${formatBytes(native.uploadedBytes)} · ${native.connections} connections`,
    );
  }
  $("swarm").innerHTML = parts.join('<span class="dim"> │ </span>');
}

function escape(text) {
  const d = document.createElement("div");
  d.textContent = text;
  return d.innerHTML;
}

async function main() {
  const config = await (await fetch("/api/config")).json();
  const streams = streamsOf(config);
  settings = readSettings(config, streams);
  const chosen = streams.find((s) => s.key === settings.stream);
  if (!chosen) throw new Error("this demo serves no stream (is media/ there?)");
  stream = locate(chosen, settings.window, config);
  setUpControls(config, streams);
  const trackers = config.trackers ?? [`ws://${location.hostname}:${config.trackerPort}`];
  $("source").textContent = stream.src;
  $("hint").innerHTML =
    config.peersPerStream > 0
      ? `<b>${config.peersPerStream} native peers</b> (Rust, in the demo process) watch this stream too. <b>Open another viewer</b>: tabs find each other through the tracker and trade segments over WebRTC data channels.`
      : `<b>Open another viewer</b>: tabs find each other through the tracker and trade segments over WebRTC data channels.`;
  stats.watch(video);
  const core = {
    announceTrackers: trackers,
    rtcConfig: { iceServers: config.iceServers },
    ...(stream.swarmId ? { swarmId: stream.swarmId } : {}),
  };
  if (settings.player === "shaka" && !config.players.shaka) {
    throw new Error("this stream needs Shaka Player, which is not built in this checkout (packages/shaka, shaka-player)");
  }
  const start = settings.player === "shaka" ? startShaka : startHlsjs;
  setInterval(tick(), 1000);
  heartbeat(config, trackers);
  log.note(`${settings.player === "shaka" ? "Shaka Player" : "hls.js"} loads ${stream.src}`);
  window.demo.ready = true;
  player = await start({
    video,
    src: stream.src,
    core,
    modules: config.players,
    onEngine: (engine) => stats.listen(engine, (name, ...args) => log.event(name, ...args)),
    onError: fail,
  });
  log.note(`${player.name} with p2p-media-loader-rs ${config.version} (wasm engine)`);
  video.addEventListener("playing", () => log.note(`playing (${stats.startupMs ?? "?"} ms to first frame)`), { once: true });
  video.play().catch((e) => fail(`play(): ${e.message}`));
}

main().catch((e) => {
  fail(`setup: ${e.message ?? e}`);
  window.demo.ready = true;
});
