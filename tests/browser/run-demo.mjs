// Drives the demo page (web/demo, served by `p2pml demo`) in headless Chromium: opens it, clicks
// "Open another viewer" after --second-at seconds, lets both tabs play until --duration, saves a
// screenshot of the first tab, and prints both tabs' counters as JSON.
//
// node tests/browser/run-demo.mjs --url http://127.0.0.1:18280/ [--player hlsjs|shaka]
//   [--stream live/hls-ts] [--window 20] [--duration 32] [--second-at 10] [--screenshot PATH]
// Fails (exit 1) unless both tabs started playing, received P2P bytes and show them on the
// page, had no visible stall (≥ 200 ms) and no error, and the page's footer reports the demo's
// native peers on the stream; exit 2 on bad arguments.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { launchChromium } from "./chromium.mjs";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    player: { type: "string", default: "hlsjs" },
    stream: { type: "string" },
    window: { type: "string" },
    duration: { type: "string", default: "32" },
    "second-at": { type: "string", default: "10" },
    screenshot: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
});
if (!opt.url) {
  console.error("usage: run-demo.mjs --url http://127.0.0.1:PORT/ [--player hlsjs|shaka] [--stream KEY] [--duration S] [--second-at S] [--screenshot PATH]");
  process.exit(2);
}
const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// WebRTC between headless pages on loopback needs both (shared/BROWSER-TESTING.md): loopback
// candidates allowed, and camera/microphone granted to the page's origin.
const browser = await launchChromium(opt.chromium, ["--disable-background-media-suspend"]);

const url = new URL(opt.url);
url.searchParams.set("player", opt.player);
if (opt.stream) url.searchParams.set("stream", opt.stream);
if (opt.window) url.searchParams.set("window", opt.window);
const failures = [];
let exitCode = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  await context.grantPermissions(["camera", "microphone"], { origin: url.origin });
  const watch = (page, name) => {
    page.on("pageerror", (e) => failures.push(`${name}: page error: ${e.message}`));
    page.on("console", (m) => m.type() === "error" && log(`${name} console.error: ${m.text()}`));
  };
  const ready = (page) => page.waitForFunction(() => window.demo?.ready === true, null, { timeout: 15000 });

  const first = await context.newPage();
  watch(first, "tab 1");
  const t0 = Date.now();
  await first.goto(url.href);
  await ready(first);
  log(`tab 1 open: ${url.href}`);

  await sleep(Number(opt["second-at"]) * 1000);
  const [second] = await Promise.all([context.waitForEvent("page"), first.click("#another")]);
  watch(second, "tab 2");
  await second.waitForLoadState();
  await ready(second);
  log(`tab 2 open (the button): ${second.url()}`);

  await sleep(Math.max(0, Number(opt.duration) * 1000 - (Date.now() - t0)));

  const tabs = [];
  for (const [name, page] of [["tab 1", first], ["tab 2", second]]) {
    const s = await page.evaluate(() => window.demo.snapshot());
    const shown = await page.evaluate(() => ({
      p2p: document.getElementById("p2p").textContent,
      ratio: document.getElementById("ratio").textContent,
      swarm: document.getElementById("swarm").textContent,
      events: document.getElementById("log").childElementCount,
    }));
    tabs.push({ name, url: page.url(), ...s, shown });
  }
  await first.bringToFront();
  // Let the chart and cards take one more tick in front.
  await sleep(1200);
  if (opt.screenshot) {
    mkdirSync(dirname(opt.screenshot), { recursive: true });
    await first.screenshot({ path: opt.screenshot });
    log(`screenshot: ${opt.screenshot}`);
  }
  console.log(JSON.stringify({ url: url.href, tabs }, null, 2));

  for (const t of tabs) {
    for (const e of t.errors) failures.push(`${t.name}: ${e}`);
    if (!t.started) failures.push(`${t.name}: never started playing`);
    if (!(t.p2pBytes > 0)) failures.push(`${t.name}: no P2P bytes`);
    if (t.shown.p2p === "0 B" || t.shown.ratio === "–") failures.push(`${t.name}: the page does not show the P2P bytes (${t.shown.p2p}, ${t.shown.ratio})`);
    if (t.visibleStalls > 0) failures.push(`${t.name}: ${t.visibleStalls} visible stall(s), ${t.stallMs} ms`);
    if (!/Native peers 2 in-process/.test(t.shown.swarm)) failures.push(`${t.name}: the footer does not report the native peers: ${t.shown.swarm}`);
    if (t.shown.events === 0) failures.push(`${t.name}: the event log is empty`);
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
