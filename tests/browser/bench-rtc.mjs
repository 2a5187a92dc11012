// Data-channel throughput on 127.0.0.1 with 64 KiB messages, side by side in one run:
// native→native (webrtc-rs, both ends in one process), native→Chromium (webrtc-rs sending to a
// headless Chromium page) and Chromium→Chromium (two pages of one browser). Every sender stops
// writing above 1 MiB buffered and resumes below 512 KiB, as our peers do.
//
// node tests/browser/bench-rtc.mjs --native target/release/examples/rtc_bench [--mib 256]
//   [--runs 2] [--chromium /usr/bin/chromium]
// Run it in a loopback-only network namespace (`cargo xtask bench-rtc` does). Prints a table,
// then one JSON line per measurement on stdout. A benchmark: it reports, it does not gate.
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { launchChromium } from "./chromium.mjs";

const { values: opt } = parseArgs({
  options: {
    native: { type: "string" },
    mib: { type: "string", default: "256" },
    runs: { type: "string", default: "2" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
});
if (!opt.native) {
  console.error("usage: bench-rtc.mjs --native PATH_TO_rtc_bench [--mib N] [--runs N]");
  process.exit(2);
}
const mib = Number(opt.mib);
const total = mib * 1024 * 1024;
const log = (...a) => console.error("bench-rtc:", ...a);

// A blank page on an origin of our own: camera/microphone permission for it makes Chromium
// offer its 127.0.0.1 host candidate (see BROWSER-TESTING.md).
const server = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "text/html" });
  res.end("<!doctype html><title>bench-rtc</title>");
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await launchChromium(opt.chromium);
const context = await browser.newContext();
await context.grantPermissions(["camera", "microphone"], { origin });
const cdp = await browser.newBrowserCDPSession();
/** CPU seconds of every Chromium process so far. */
async function chromiumCpu() {
  const { processInfo } = await cdp.send("SystemInfo.getProcessInfo");
  return processInfo.reduce((a, p) => a + p.cpuTime, 0);
}

async function newPage() {
  const page = await context.newPage();
  await page.goto(origin);
  // Helpers every page has: a peer connection with a promise of complete ICE gathering.
  await page.evaluate(() => {
    window.benchPc = () => {
      const pc = new RTCPeerConnection();
      pc.gathered = new Promise((resolve) => {
        pc.addEventListener("icegatheringstatechange", () => {
          if (pc.iceGatheringState === "complete") resolve();
        });
        setTimeout(resolve, 5000);
      });
      return pc;
    };
    // Counts incoming bytes; resolves with the first and last arrival times.
    window.benchReceive = (channel, total) =>
      new Promise((resolve) => {
        channel.binaryType = "arraybuffer";
        let got = 0;
        let first = null;
        channel.onmessage = (e) => {
          first ??= performance.now();
          got += e.data.byteLength;
          if (got >= total) resolve({ got, ms: performance.now() - first });
        };
      });
  });
  return page;
}

/** Has `page` answer `offer` and count what arrives (`window.benchDone`); returns its answer. */
function answerIn(page, offer) {
  return page.evaluate(
    async ({ offer, total }) => {
      const pc = window.benchPc();
      window.benchDone = new Promise((resolve) => {
        pc.ondatachannel = (e) => resolve(window.benchReceive(e.channel, total));
      });
      await pc.setRemoteDescription({ type: "offer", sdp: offer });
      await pc.setLocalDescription(await pc.createAnswer());
      await pc.gathered;
      return pc.localDescription.sdp;
    },
    { offer, total },
  );
}

/** native→Chromium: the native end offers and sends; the page answers and counts. */
async function nativeToChromium() {
  const page = await newPage();
  const child = spawn(opt.native, ["offer", String(mib)], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise((r) => child.on("exit", r));
  try {
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async () => (await lines.next()).value ?? "";
    const offer = decodeURIComponent((await next()).replace(/^offer /, ""));
    const answer = await answerIn(page, offer);
    const cpu0 = await chromiumCpu();
    child.stdin.write(`answer ${encodeURIComponent(answer)}\n`);
    // rtc_bench gives up on a stalled transfer (its run limit): then the page
    // never completes, so its exit ends the wait too.
    const received = await Promise.race([
      page.evaluate(() => window.benchDone),
      exited.then((code) => ({ exitedEarly: code })),
    ]);
    if ("exitedEarly" in received) {
      throw new Error(`rtc_bench exited (${received.exitedEarly}) before Chromium had every byte`);
    }
    const chromiumCpuS = (await chromiumCpu()) - cpu0;
    child.stdin.write("done\n");
    const result = Object.fromEntries(
      (await next())
        .replace(/^result /, "")
        .split(" ")
        .map((kv) => kv.split("=")),
    );
    child.stdin.end();
    await exited;
    return {
      path: "native→Chromium",
      bytes: received.got,
      seconds: received.ms / 1000,
      // Both ends: the native process during its transfer, Chromium's processes while receiving.
      cpuS: Number(result.cpu_s) + chromiumCpuS,
      openMs: Number(result.open_ms),
    };
  } finally {
    child.kill();
    await page.close();
  }
}

/** Chromium→Chromium: page A offers and sends, page B answers and counts. */
async function chromiumToChromium() {
  const [a, b] = [await newPage(), await newPage()];
  const opened = Date.now();
  const offer = await a.evaluate(async () => {
    const pc = window.benchPc();
    window.benchChannel = pc.createDataChannel("bench");
    window.benchPeer = pc;
    await pc.setLocalDescription(await pc.createOffer());
    await pc.gathered;
    return pc.localDescription.sdp;
  });
  const answer = await answerIn(b, offer);
  await a.evaluate(async (answer) => {
    await window.benchPeer.setRemoteDescription({ type: "answer", sdp: answer });
    const ch = window.benchChannel;
    if (ch.readyState !== "open") await new Promise((r) => (ch.onopen = r));
  }, answer);
  const openMs = Date.now() - opened;
  const cpu0 = await chromiumCpu();
  const sending = a.evaluate(async (total) => {
    const ch = window.benchChannel;
    ch.bufferedAmountLowThreshold = 512 * 1024;
    const message = new Uint8Array(64 * 1024).fill(0xa5);
    let sent = 0;
    while (sent < total) {
      if (ch.bufferedAmount >= 1024 * 1024) {
        await new Promise((r) => (ch.onbufferedamountlow = r));
        continue;
      }
      const n = Math.min(message.length, total - sent);
      ch.send(n === message.length ? message : message.subarray(0, n));
      sent += n;
    }
  }, total);
  const received = await b.evaluate(() => window.benchDone);
  await sending;
  const cpuS = (await chromiumCpu()) - cpu0;
  await a.close();
  await b.close();
  return { path: "Chromium→Chromium", bytes: received.got, seconds: received.ms / 1000, cpuS, openMs };
}

/** native→native: both ends in the rtc_bench process. */
async function nativeToNative() {
  const child = spawn(opt.native, ["local", String(mib)], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  await new Promise((r) => child.on("exit", r));
  const r = Object.fromEntries(
    out
      .trim()
      .replace(/^result /, "")
      .split(" ")
      .map((kv) => kv.split("=")),
  );
  return {
    path: "native→native",
    bytes: Number(r.sent),
    seconds: Number(r.send_s),
    cpuS: Number(r.cpu_s),
    openMs: Number(r.open_ms),
  };
}

const rows = [];
try {
  for (let run = 1; run <= Number(opt.runs); run++) {
    for (const [path, measure] of [
      ["native→native", nativeToNative],
      ["native→Chromium", nativeToChromium],
      ["Chromium→Chromium", chromiumToChromium],
    ]) {
      try {
        const row = { run, ...(await measure()) };
        log(`${row.path} run ${run}: ${(row.bytes / 1e6 / row.seconds).toFixed(0)} MB/s`);
        rows.push(row);
      } catch (e) {
        // One stalled path costs its row, not the whole table.
        log(`${path} run ${run} failed: ${e.message}`);
        rows.push({ run, path, failed: e.message });
      }
    }
  }
} finally {
  await browser.close();
  server.close();
}

console.log(
  `${mib} MiB one way in 64 KiB messages, ordered and reliable; loopback; native side: 4 MiB socket buffers, 1.5 MiB SCTP receive window, 8 MiB buffered at most toward native and 1 MiB toward Chromium (our engines' marks on these paths); CPU = both ends`,
);
console.log("| path | run | MB/s | Gbit/s | CPU ms per MB | channel open ms |");
console.log("|---|---|---|---|---|---|");
for (const r of rows) {
  if (r.failed) {
    console.log(`| ${r.path} | ${r.run} | failed: ${r.failed} | | | |`);
    continue;
  }
  const mb = r.bytes / 1e6;
  console.log(
    `| ${r.path} | ${r.run} | ${(mb / r.seconds).toFixed(0)} | ${((mb * 8) / 1000 / r.seconds).toFixed(2)} | ${((r.cpuS * 1000) / mb).toFixed(1)} | ${r.openMs.toFixed(0)} |`,
  );
}
for (const r of rows) console.log(JSON.stringify(r));
