// Drives N headless Chromium viewers of one stream, each playing it with hls.js and the real
// P2P Media Loader 2.3.1 (web/p2pml.html, served by the origin), and reports per-viewer HTTP and
// P2P bytes, stalls and peers, plus the swarm's P2P ratio, as JSON on stdout.
//
// node tests/browser/run-p2pml.mjs --origin http://127.0.0.1:8080 --tracker ws://127.0.0.1:8000 \
//   --stream /live/20/hls-ts/master.m3u8 [--viewers 3] [--spacing 5] [--duration 40] \
//   [--page /web/p2pml.html] [--expect-p2p] [--verbose]
// --page may be repeated to mix players in one swarm: viewer i opens the (i mod n)-th page, e.g.
// --page /web/p2pml.html --page /web/ours.html for P2P Media Loader and our engine side by side.
//
// Exit status: 0 when no page raised an error (and, with --expect-p2p, every viewer after the
// first received P2P bytes); 1 otherwise; 2 on bad arguments.
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

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
const browser = await chromium.launch({
  executablePath: opt.chromium,
  headless: true,
  args: [
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

const origin = new URL(opt.origin).origin;
const streamUrl = new URL(opt.stream, opt.origin).href;
const query = new URLSearchParams({ src: streamUrl });
for (const t of opt.tracker) query.append("tracker", t);
const pageUrls = opt.page.map((p) => `${new URL(p, opt.origin).href}?${query}`);

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
    await page.goto(pageUrls[i % pageUrls.length]);
    await page.waitForFunction(() => window.p2pml?.stats.ready === true, null, { timeout: 15000 });
    pages.push({ i, page, joinedAt: Date.now(), pagePath: opt.page[i % opt.page.length] });
    log(`viewer ${i} joined`);
  }
  await sleep(durationMs);

  const report = [];
  for (const { i, page, joinedAt, pagePath } of pages) {
    const s = await page.evaluate(() => window.p2pml.snapshot());
    report.push({
      viewer: i,
      page: pagePath,
      watchedS: Math.round((Date.now() - joinedAt) / 1000),
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
      stalls: s.stalls,
      stallMs: Math.round(s.stallMs),
      positionS: Math.round(s.position * 10) / 10,
      live: s.live,
      trackerErrors: s.trackerErrors,
      errors: s.errors,
    });
  }
  const http = report.reduce((a, r) => a + r.httpBytes, 0);
  const p2p = report.reduce((a, r) => a + r.p2pBytes, 0);
  const result = {
    stream: streamUrl,
    trackers: opt.tracker,
    viewers,
    spacingS: spacingMs / 1000,
    durationS: durationMs / 1000,
    swarm: { httpBytes: http, p2pBytes: p2p, p2pRatio: ratio(p2p, http) },
    perViewer: report,
    pageErrors,
  };
  console.log(JSON.stringify(result, null, 2));

  const failures = [...pageErrors];
  for (const r of report) {
    for (const e of r.errors) failures.push(`viewer ${r.viewer}: ${e}`);
    if (!r.started) failures.push(`viewer ${r.viewer}: never started playing`);
    if (opt["expect-p2p"] && r.viewer > 0 && r.p2pBytes === 0) {
      failures.push(`viewer ${r.viewer}: no P2P bytes`);
    }
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
