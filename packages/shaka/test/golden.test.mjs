// What real Shaka Player 5 made of the test media's MPD (recorded by
// tests/browser/record-shaka-golden.mjs into tests/fixtures/shaka-dash-vod.json) still maps to
// the recorded stream descriptors and segment ids. crates/native/tests/manifest_dash.rs checks
// the native DASH parser against the same file, so both sides agree on the wire.
// node --test packages/shaka/test/
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { dashExternalId, streamChanges, streamRegistrations } from "../dist/mapping.js";

const golden = JSON.parse(
  readFileSync(new URL("../../../tests/fixtures/shaka-dash-vod.json", import.meta.url), "utf8"),
);

test("the recorded Shaka manifest gives the recorded streams and segment ids", () => {
  const byId = new Map(golden.shaka.streams.map((s) => [s.id, s]));
  const variants = golden.shaka.variants.map((v) => ({
    bandwidth: v.bandwidth,
    video: v.video === null ? null : byId.get(v.video),
    audio: v.audio === null ? null : byId.get(v.audio),
  }));
  const actual = streamRegistrations(variants).map(({ stream, type, descriptor }) => ({
    representation: stream.originalId,
    type,
    descriptor,
    segments: streamChanges({ byRuntimeId: new Map(), collided: new Set() }, stream.references, (r) =>
      dashExternalId(r.startTime),
    ).add.map((s) => [s.url, s.externalId]),
  }));
  assert.deepEqual(actual, golden.expected);
  // The recording is of the real thing: four representations, 30 segments each.
  assert.equal(golden.expected.length, 4);
  for (const s of golden.expected) assert.equal(s.segments.length, 30);
});
