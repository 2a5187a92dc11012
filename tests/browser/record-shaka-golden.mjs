// Records what real Shaka Player (from node_modules) makes of a manifest, and what
// p2pml-rs-shaka's mapping (packages/shaka/dist/mapping.js) turns that into, as a JSON golden
// file that two tests read: packages/shaka/test/golden.test.mjs (the mapping still gives the
// same) and crates/native/tests/manifest_dash.rs (the native DASH parser, which has no Shaka,
// gives the same stream identities and segment ids, so native peers and Shaka pages share
// swarms). Not run by the test command; rerun after changing Shaka's version or the media:
//
//   cargo xtask build-web
//   cargo run -p p2pml-cli -- origin --listen 127.0.0.1:18080 --media media \
//       --mount /web=tests/browser/web --mount /node_modules=node_modules &
//   node tests/browser/record-shaka-golden.mjs --origin http://127.0.0.1:18080 \
//       --src /dash/manifest.mpd > tests/fixtures/shaka-dash-vod.json
//
// URLs are stored relative to the origin, so that the files do not depend on its port.
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { dashExternalId, streamChanges, streamRegistrations } from "../../packages/shaka/dist/mapping.js";

const { values: opt } = parseArgs({
  options: {
    origin: { type: "string" },
    src: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
});
if (!opt.origin || !opt.src) {
  console.error("usage: record-shaka-golden.mjs --origin URL --src PATH");
  process.exit(2);
}
const origin = new URL(opt.origin).origin;
const browser = await chromium.launch({ executablePath: opt.chromium, headless: true });
let dump;
try {
  const page = await browser.newPage();
  await page.goto(`${origin}/web/shaka-dump.html?src=${encodeURIComponent(new URL(opt.src, origin).href)}`);
  await page.waitForFunction(() => window.dump !== undefined, null, { timeout: 30000 });
  dump = await page.evaluate(() => window.dump);
} finally {
  await browser.close();
}
if (dump.error) {
  console.error(`Shaka could not load ${opt.src}: ${dump.error}`);
  process.exit(1);
}
const relative = (url) => (url.startsWith(origin) ? url.slice(origin.length) : url);
for (const s of dump.streams) for (const r of s.references) r.url = relative(r.url);

const byId = new Map(dump.streams.map((s) => [s.id, s]));
const variants = dump.variants.map((v) => ({
  bandwidth: v.bandwidth,
  video: v.video === null ? null : byId.get(v.video),
  audio: v.audio === null ? null : byId.get(v.audio),
}));
const expected = streamRegistrations(variants).map(({ stream, type, descriptor }) => {
  const { add } = streamChanges({ byRuntimeId: new Map(), collided: new Set() }, stream.references, (r) =>
    dashExternalId(r.startTime),
  );
  return {
    representation: stream.originalId,
    type,
    descriptor,
    segments: add.map((s) => [s.url, s.externalId]),
  };
});
console.log(
  JSON.stringify(
    {
      about: "What Shaka Player made of the manifest (shaka), and p2pml-rs-shaka's streams and segment ids for it (expected). Written by tests/browser/record-shaka-golden.mjs.",
      manifest: opt.src,
      shakaVersion: dump.shakaVersion,
      shaka: { variants: dump.variants, streams: dump.streams },
      expected,
    },
    null,
    1,
  ),
);
