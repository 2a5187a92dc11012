// Drives N headless Chromium viewers of one stream, each playing it with hls.js and the real
// P2P Media Loader 2.3.1 (web/p2pml.html, served by the origin), and reports per-viewer HTTP and
// P2P bytes, stalls and peers, plus the swarm's P2P ratio, as JSON on stdout.
//
// node tests/browser/run-p2pml.mjs --origin http://127.0.0.1:8080 --tracker ws://127.0.0.1:8000 \
//   --stream /live/20/hls-ts/master.m3u8 [--viewers 3] [--spacing 5] [--duration 40] \
//   [--page /web/p2pml.html] [--expect-p2p] [--verbose]
// --page may be repeated to mix players in one swarm: viewer i opens the (i mod n)-th page, e.g.
// --page /web/p2pml.html --page /web/ours.html for P2P Media Loader and our engine side by side.
// A page may carry its own query (e.g. /web/ours.html?prefix=-RS0001-&level=0, see web/viewer.js).
// --kill I@S closes viewer I S seconds after it joined (the others must play on).
// Checks, each failing the run: --expect-p2p (every viewer after the first got P2P bytes),
// --expect-no-stalls (no surviving viewer had a visible stall, ≥ 200 ms: see web/viewer.js), --expect-switch-p2p (after the page's level
// switch, every viewer after the first got P2P bytes of the new level and kept playing),
// --expect-cross PREFIX (viewers whose own peer id prefix differs from PREFIX both downloaded
// from and uploaded to peers whose id starts with PREFIX: segments crossed between the two
// sides both ways; pages report their prefix, see web/stats.js).
//
// Exit status: 0 when no page raised an error (and, with --expect-p2p, every viewer after the
// first received P2P bytes); 1 otherwise; 2 on bad arguments.
import { parseArgs } from "node:util";
import { launchChromium } from "./chromium.mjs";

const { values: opt } = parseArgs({
  options: {
    origin: { type: "string" },
    tracker: { type: "string", multiple: true },
    stream: { type: "string" },
    viewers: { type: "string", default: "3" },
    spacing: { type: "string", default: "5" },
    duration: { type: "string", default: "40" },
    page: { type: "string", multiple: true, default: ["/web/p2pml.html"] },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    "expect-p2p": { type: "boolean", default: false },
    "expect-no-stalls": { type: "boolean", default: false },
    "expect-switch-p2p": { type: "boolean", default: false },
    "expect-cross": { type: "string" },
    kill: { type: "string", multiple: true, default: [] },
    verbose: { type: "boolean", default: false },
  },
});
if (!opt.origin || !opt.tracker || !opt.stream) {
  console.error("usage: run-p2pml.mjs --origin URL --tracker WS_URL --stream PATH [--viewers N] [--spacing S] [--duration S]");
  process.exit(2);
}
const viewers = Number(opt.viewers);
const spacingMs = Number(opt.spacing) * 1000;
const durationMs = Number(opt.duration) * 1000;
const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// What WebRTC between headless pages on loopback needs (shared/BROWSER-TESTING.md): loopback
// candidates allowed, and camera/microphone granted to the page's origin (below).
const browser = await launchChromium(opt.chromium);

const origin = new URL(opt.origin).origin;
const streamUrl = new URL(opt.stream, opt.origin).href;
const query = new URLSearchParams({ src: streamUrl });
for (const t of opt.tracker) query.append("tracker", t);
const pageUrls = opt.page.map((p) => {
  const url = new URL(p, opt.origin);
  for (const [k, v] of query) url.searchParams.append(k, v);
  return url.href;
});
const kills = new Map(
  opt.kill.map((k) => {
    const [i, s] = k.split("@").map(Number);
    return [i, s * 1000];
  }),
);
const killed = new Set();

const pages = [];
const pageErrors = [];
let exitCode = 0;
try {
  for (let i = 0; i < viewers; i++) {
    if (i > 0) await sleep(spacingMs);
    const context = await browser.newContext();
    await context.grantPermissions(["camera", "microphone"], { origin });
    const page = await context.newPage();
    page.on("pageerror", (e) => {
      pageErrors.push(`viewer ${i}: ${e.message}`);
      log(`viewer ${i} page error: ${e.message}`);
    });
    page.on("console", (m) => {
      if (opt.verbose || m.type() === "error") log(`viewer ${i} console.${m.type()}: ${m.text()}`);
    });
    // Main-thread CPU time of the page (CDP Performance.TaskDuration), read at the end.
    const cdp = await context.newCDPSession(page);
    await cdp.send("Performance.enable");
    await page.goto(pageUrls[i % pageUrls.length]);
    await page.waitForFunction(() => window.p2pml?.stats.ready === true, null, { timeout: 15000 });
    pages.push({ i, page, cdp, joinedAt: Date.now(), pagePath: opt.page[i % opt.page.length] });
    if (kills.has(i)) {
      setTimeout(() => {
        killed.add(i);
        log(`viewer ${i} killed`);
        context.close().catch(() => {});
      }, kills.get(i));
    }
    log(`viewer ${i} joined`);
  }
  await sleep(durationMs);

  const report = [];
  for (const { i, page, cdp, joinedAt, pagePath } of pages) {
    if (killed.has(i)) {
      report.push({ viewer: i, page: pagePath, killed: true });
      continue;
    }
    const s = await page.evaluate(() => window.p2pml.snapshot());
    const { metrics } = await cdp.send("Performance.getMetrics");
    const metric = (name) => metrics.find((m) => m.name === name)?.value ?? null;
    report.push({
      viewer: i,
      page: pagePath,
      prefix: s.prefix ?? null,
      watchedS: Math.round((Date.now() - joinedAt) / 1000),
      cpuMs: Math.round((metric("TaskDuration") ?? 0) * 1000),
      httpBytes: s.httpBytes,
      p2pBytes: s.p2pBytes,
      uploadedBytes: s.uploadedBytes,
      p2pRatio: ratio(s.p2pBytes, s.httpBytes),
      segmentsHttp: s.segmentsHttp,
      segmentsP2P: s.segmentsP2P,
      segmentErrors: s.segmentErrors,
      peersConnected: s.peersConnected,
      peersEver: s.peersEver,
      started: s.started,
      startupMs: s.startupMs,
      latencyAtStartS: s.latencyAtStartS,
      stalls: s.stalls,
      stallMs: Math.round(s.stallMs),
      visibleStalls: s.visibleStalls,
      positionS: Math.round(s.position * 10) / 10,
      live: s.live,
      level: s.level,
      switched: s.switched,
      positionAtSwitchS: s.positionAtSwitch === null ? null : Math.round(s.positionAtSwitch * 10) / 10,
      p2pBytesAfterSwitch: s.p2pBytesAfterSwitch,
      p2pBytesByPeer: s.p2pBytesByPeer,
      uploadedBytesByPeer: s.uploadedBytesByPeer,
      trackerErrors: s.trackerErrors,
      recentSegments: s.recentSegments,
      ...(opt.verbose ? { timeline: s.timeline } : {}),
      errors: s.errors,
    });
  }
  const alive = report.filter((r) => !r.killed);
  const http = alive.reduce((a, r) => a + r.httpBytes, 0);
  const p2p = alive.reduce((a, r) => a + r.p2pBytes, 0);
  const result = {
    stream: streamUrl,
    trackers: opt.tracker,
    viewers,
    spacingS: spacingMs / 1000,
    durationS: durationMs / 1000,
    swarm: {
      httpBytes: http,
      p2pBytes: p2p,
      p2pRatio: ratio(p2p, http),
      stalls: alive.reduce((a, r) => a + r.stalls, 0),
      visibleStalls: alive.reduce((a, r) => a + r.visibleStalls, 0),
      stallMs: alive.reduce((a, r) => a + r.stallMs, 0),
    },
    perViewer: report,
    pageErrors,
  };
  console.log(JSON.stringify(result, null, 2));

  const failures = [...pageErrors];
  for (const r of alive) {
    for (const e of r.errors) failures.push(`viewer ${r.viewer}: ${e}`);
    if (!r.started) failures.push(`viewer ${r.viewer}: never started playing`);
    if (opt["expect-p2p"] && r.viewer > 0 && r.p2pBytes === 0) {
      failures.push(`viewer ${r.viewer}: no P2P bytes`);
    }
    if (opt["expect-no-stalls"] && r.visibleStalls > 0) {
      failures.push(`viewer ${r.viewer}: ${r.visibleStalls} visible stall(s), ${r.stallMs} ms in all`);
    }
    if (opt["expect-switch-p2p"]) {
      if (!r.switched) failures.push(`viewer ${r.viewer}: never switched level`);
      else if (r.positionS < r.positionAtSwitchS + 5) {
        failures.push(`viewer ${r.viewer}: stopped playing after the level switch`);
      } else if (r.viewer > 0 && r.p2pBytesAfterSwitch === 0) {
        failures.push(`viewer ${r.viewer}: no P2P bytes in the new level's swarm`);
      }
    }
  }
  if (opt["expect-cross"]) {
    // Only what crossed between the two sides counts: bytes that viewers of the other side
    // (their own prefix differs) got from, or sent to, peers whose id starts with PREFIX.
    const prefix = opt["expect-cross"];
    const others = alive.filter((r) => !(r.prefix ?? "").startsWith(prefix));
    const sum = (key) =>
      others.reduce((a, r) => a + Object.entries(r[key] ?? {}).reduce((b, [k, v]) => b + (k.startsWith(prefix) ? v : 0), 0), 0);
    const from = sum("p2pBytesByPeer");
    const to = sum("uploadedBytesByPeer");
    log(`cross-implementation: the other side got ${from} bytes from ${prefix}… peers and sent ${to} bytes to them`);
    if (others.length === alive.length) failures.push(`no viewer has the peer id prefix ${prefix}`);
    if (from === 0) failures.push(`no bytes went from peers ${prefix}… to the other side`);
    if (to === 0) failures.push(`no bytes went from the other side to peers ${prefix}…`);
  }
  if (failures.length > 0) {
    log(`FAILED:\n  ${failures.join("\n  ")}`);
    exitCode = 1;
  }
} catch (e) {
  log(`FAILED: ${e.stack ?? e}`);
  exitCode = 1;
} finally {
  await browser.close();
}
process.exit(exitCode);

function ratio(p2p, http) {
  const total = p2p + http;
  return total === 0 ? 0 : Math.round((p2p / total) * 1000) / 1000;
}
