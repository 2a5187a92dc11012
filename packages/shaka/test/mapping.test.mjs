// The Shaka → engine translations (dist/mapping.js, built by `node build.mjs`).
// node --test packages/shaka/test/
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  dashExternalId,
  hlsExternalId,
  parseMediaPlaylist,
  referenceRuntimeId,
  requestRuntimeId,
  responseTimeMs,
  streamChanges,
  streamRegistrations,
} from "../dist/mapping.js";

// -- streams (SPEC §3.3, Shaka's mapping) ---------------------------------------------------------

const video = (id, over = {}) => ({
  id,
  codecs: "avc1.4d4015",
  width: 426,
  height: 240,
  frameRate: 30,
  hdr: undefined,
  language: "und",
  channelsCount: null,
  label: null,
  originalId: String(id),
  ...over,
});
const audio = (id, over = {}) => ({
  id,
  codecs: "mp4a.40.2",
  language: "en",
  channelsCount: 2,
  label: "English",
  originalId: `a${id}`,
  ...over,
});

test("video streams are main, described by the first variant holding them, audio codecs stripped", () => {
  const v0 = video(0, { codecs: "avc1.4d4015,mp4a.40.2", hdr: "SDR" });
  const a = audio(9);
  const regs = streamRegistrations([
    { bandwidth: 62_427, video: v0, audio: a },
    // The same video with another audio: not registered again, its bandwidth ignored.
    { bandwidth: 99_999, video: v0, audio: audio(10) },
  ]);
  assert.deepEqual(
    regs.map((r) => [r.runtimeId, r.type, r.descriptor]),
    [
      ["0", "main", { bitrate: 62_427, codecs: "avc1.4d4015", width: 426, height: 240, frameRate: 30, videoRange: "SDR" }],
      ["9", "secondary", { bitrate: 0, codecs: "mp4a.40.2", language: "en", channels: 2, name: "English" }],
      ["10", "secondary", { bitrate: 0, codecs: "mp4a.40.2", language: "en", channels: 2, name: "English" }],
    ],
  );
  assert.equal(regs[0].stream, v0);
});

test("a variant without bandwidth describes its video by bitrate 0 alone", () => {
  const [reg] = streamRegistrations([{ bandwidth: 0, video: video(1), audio: null }]);
  assert.deepEqual(reg.descriptor, { bitrate: 0 });
});

test("audio: the label, else the original id, is the name; audio-only variants are main", () => {
  const regs = streamRegistrations([
    { bandwidth: 10, video: video(1), audio: audio(2, { label: null, originalId: "3", language: "und", channelsCount: 1 }) },
    { bandwidth: 64_000, video: null, audio: audio(4) },
  ]);
  assert.deepEqual(regs[1].descriptor, { bitrate: 0, codecs: "mp4a.40.2", language: "und", channels: 1, name: "3" });
  assert.deepEqual([regs[2].type, regs[2].descriptor], ["main", { bitrate: 64_000 }]);
});

// -- runtime ids ------------------------------------------------------------------------------

test("runtime ids: the reference's URL and inclusive byte range; the request's URL and Range", () => {
  const whole = { url: "https://cdn/v/seg-1.m4s", startByte: 0, endByte: null, startTime: 0, endTime: 2 };
  const part = { url: "https://cdn/v/all.mp4", startByte: 720, endByte: 50_719, startTime: 2, endTime: 4 };
  assert.equal(referenceRuntimeId(whole), "https://cdn/v/seg-1.m4s");
  assert.equal(referenceRuntimeId(part), "https://cdn/v/all.mp4|720-50719");
  assert.equal(requestRuntimeId("https://cdn/v/seg-1.m4s", undefined), "https://cdn/v/seg-1.m4s");
  assert.equal(requestRuntimeId("https://cdn/v/all.mp4", "bytes=720-50719"), referenceRuntimeId(part));
  // Ranges the engine cannot have registered are not matched.
  assert.equal(requestRuntimeId("https://cdn/v/all.mp4", "bytes=720-"), undefined);
  assert.equal(requestRuntimeId("https://cdn/v/all.mp4", "bytes=0-1,5-9"), undefined);
  assert.equal(requestRuntimeId("https://cdn/v/all.mp4", "bytes=9-1"), undefined);
  assert.equal(requestRuntimeId("https://cdn/v/all.mp4", "items=0-1"), undefined);
});

// -- DASH ids and collisions ------------------------------------------------------------------

const ref = (i, start, over = {}) => ({
  url: `https://cdn/dash/seg-0-${String(i).padStart(3, "0")}.m4s`,
  startByte: 0,
  endByte: null,
  startTime: start,
  endTime: start + 2,
  ...over,
});
const fresh = () => ({ byRuntimeId: new Map(), collided: new Set() });
const dashId = (r) => dashExternalId(r.startTime);

test("DASH ids are the start time in half seconds, truncated (P2P Media Loader's)", () => {
  assert.equal(dashExternalId(0), 0);
  assert.equal(dashExternalId(2), 4);
  assert.equal(dashExternalId(2.49), 4);
  assert.equal(dashExternalId(2.5), 5);
  assert.equal(dashExternalId(86_400 + 58), 172_916);
});

test("new references are added with their ids; gone ones removed; known ones kept", () => {
  const known = fresh();
  const first = streamChanges(known, [ref(1, 0), ref(2, 2), ref(3, 4)], dashId);
  assert.deepEqual(first.add.map((s) => [s.externalId, s.url.slice(-9), s.startTime, s.endTime]), [
    [0, "0-001.m4s", 0, 2],
    [4, "0-002.m4s", 2, 4],
    [8, "0-003.m4s", 4, 6],
  ]);
  assert.deepEqual(first.remove, []);
  for (const s of first.add) known.byRuntimeId.set(s.runtimeId, s.externalId);
  // Live: one evicted, one appended; a known segment whose time moved keeps its id.
  const next = streamChanges(known, [ref(2, 2.3), ref(3, 4), ref(4, 6)], dashId);
  assert.deepEqual(next.add.map((s) => s.externalId), [12]);
  assert.deepEqual(next.remove, [ref(1, 0).url]);
  assert.deepEqual(next.collisions, []);
});

test("segments starting within 0.5 s of each other stay off P2P, both of them, for good", () => {
  const known = fresh();
  // 4.0 and 4.3 both give id 8: neither is shared, the others are.
  const c = streamChanges(known, [ref(1, 0), ref(2, 4), ref(3, 4.3), ref(4, 6)], dashId);
  assert.deepEqual(c.add.map((s) => s.externalId), [0, 12]);
  assert.deepEqual(c.collisions, [8]);
  for (const s of c.add) known.byRuntimeId.set(s.runtimeId, s.externalId);
  for (const id of c.collisions) known.collided.add(id);
  // A later reference with a registered segment's id: that one is withdrawn too.
  const later = streamChanges(known, [ref(1, 0), ref(4, 6), ref(5, 6.2), ref(6, 8)], dashId);
  assert.deepEqual(later.collisions, [12]);
  assert.deepEqual(later.remove, [ref(4, 6).url]);
  assert.deepEqual(later.add.map((s) => s.externalId), [16]);
  // A collided id stays off even when one segment is left alone with it.
  known.byRuntimeId.delete(ref(4, 6).url);
  known.collided.add(12);
  const alone = streamChanges(known, [ref(5, 6.2)], dashId);
  assert.deepEqual(alone.add, []);
});

test("byte-range references (SegmentBase) are segments of their own", () => {
  const c = streamChanges(
    fresh(),
    [
      { url: "https://cdn/v.mp4", startByte: 900, endByte: 1999, startTime: 0, endTime: 2 },
      { url: "https://cdn/v.mp4", startByte: 2000, endByte: 2999, startTime: 2, endTime: 4 },
    ],
    dashId,
  );
  assert.deepEqual(
    c.add.map((s) => [s.runtimeId, s.byteRange]),
    [
      ["https://cdn/v.mp4|900-1999", { start: 900, end: 1999 }],
      ["https://cdn/v.mp4|2000-2999", { start: 2000, end: 2999 }],
    ],
  );
});

test("references without an id (not in any playlist seen) are left to HTTP", () => {
  const c = streamChanges(fresh(), [ref(1, 0), ref(2, 2)], (r) => (r.startTime === 0 ? 7 : undefined));
  assert.deepEqual(c.add.map((s) => s.externalId), [7]);
});

// -- HLS media playlists ----------------------------------------------------------------------

const VOD_FMP4 = `#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-MAP:URI="../dash/init-0.mp4"
#EXTINF:2.000000,
../dash/seg-0-001.m4s
#EXTINF:2.000000,
../dash/seg-0-002.m4s
#EXT-X-ENDLIST
`;

test("VOD: ids are positions, whatever EXT-X-MEDIA-SEQUENCE says (hls.js's rule)", () => {
  const p = parseMediaPlaylist(VOD_FMP4, "http://o/hls-fmp4/media_0.m3u8");
  assert.equal(p.live, false);
  assert.deepEqual(
    p.segments.map((s) => [s.runtimeId, s.mediaSequence, s.position, hlsExternalId(p, s)]),
    [
      ["http://o/dash/seg-0-001.m4s", 1, 0, 0],
      ["http://o/dash/seg-0-002.m4s", 2, 1, 1],
    ],
  );
});

test("live: ids are media sequence numbers; parts and hints are not segments", () => {
  const text = `#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:1003
#EXT-X-DISCONTINUITY-SEQUENCE:33
#EXTINF:2.0,
/live/20/pass-33/hls-ts/240p/seg-013.ts
#EXT-X-DISCONTINUITY
#EXTINF:2.0,
/live/20/pass-34/hls-ts/240p/seg-000.ts
#EXT-X-PART:DURATION=0.5,URI="part-1.ts"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-2.ts"
`;
  const p = parseMediaPlaylist(text, "http://o/live/20/hls-ts/240p/index.m3u8?x=1");
  assert.equal(p.live, true);
  assert.deepEqual(
    p.segments.map((s) => [s.runtimeId, hlsExternalId(p, s)]),
    [
      ["http://o/live/20/pass-33/hls-ts/240p/seg-013.ts", 1003],
      ["http://o/live/20/pass-34/hls-ts/240p/seg-000.ts", 1004],
    ],
  );
});

test("byte ranges: explicit offsets, and implicit ones continuing the same URI", () => {
  const text = `#EXTM3U
#EXT-X-TARGETDURATION:2
#EXTINF:2,
#EXT-X-BYTERANGE:1000@720
all.mp4
#EXTINF:2,
#EXT-X-BYTERANGE:500
all.mp4
#EXTINF:2,
other.mp4
#EXT-X-ENDLIST
`;
  const p = parseMediaPlaylist(text, "https://cdn/x/v.m3u8");
  assert.deepEqual(p.segments.map((s) => s.runtimeId), [
    "https://cdn/x/all.mp4|720-1719",
    "https://cdn/x/all.mp4|1720-2219",
    "https://cdn/x/other.mp4",
  ]);
});

test("what is not a media playlist gives nothing", () => {
  assert.equal(parseMediaPlaylist("<MPD/>", "http://o/a.mpd"), undefined);
  assert.equal(
    parseMediaPlaylist("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n", "http://o/m.m3u8"),
    undefined,
  );
  assert.equal(parseMediaPlaylist("#EXTM3U\n#EXT-X-TARGETDURATION:2\n", "http://o/e.m3u8"), undefined);
  assert.equal(parseMediaPlaylist("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:-4\n#EXTINF:2,\na.ts\n", "http://o/e.m3u8"), undefined);
  assert.equal(parseMediaPlaylist("#EXTM3U\n#EXTINF:2,\n#EXT-X-BYTERANGE:x\na.ts\n", "http://o/e.m3u8"), undefined);
});

// -- response timing --------------------------------------------------------------------------

test("timeMs follows the engine's bandwidth estimate, not rounded to seconds", () => {
  assert.equal(responseTimeMs(8_000_000, 100_000, 3), 100);
  assert.equal(responseTimeMs(1_000_000, 62_500, 3), 500);
  assert.equal(responseTimeMs(0, 100_000, 42), 42);
  assert.equal(responseTimeMs(Infinity, 100_000, 42), 42);
});
