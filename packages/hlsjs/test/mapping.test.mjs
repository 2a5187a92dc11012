// The hls.js → engine translations (dist/mapping.js, built by `node build.mjs`).
// node --test packages/hlsjs/test/
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  audioTrackDescriptor,
  inclusiveByteRange,
  levelDescriptor,
  loadingTimings,
  playerTuning,
  playlistChanges,
  playlistRuntimeId,
  playlistShapeFromText,
  segmentRuntimeId,
} from "../dist/mapping.js";

test("byte ranges: hls.js's exclusive end becomes inclusive; 0/0 and missing mean none", () => {
  assert.deepEqual(inclusiveByteRange(0, 1000), { start: 0, end: 999 });
  assert.deepEqual(inclusiveByteRange(1000, 1001), { start: 1000, end: 1000 });
  assert.equal(inclusiveByteRange(0, 0), undefined);
  assert.equal(inclusiveByteRange(undefined, undefined), undefined);
  assert.equal(inclusiveByteRange(5, undefined), undefined);
});

test("segment runtime ids: the URL, or url|start-endInclusive", () => {
  assert.equal(segmentRuntimeId("https://cdn/a/seg1.ts"), "https://cdn/a/seg1.ts");
  assert.equal(
    segmentRuntimeId("https://cdn/a/all.mp4", { start: 720, end: 50_719 }),
    "https://cdn/a/all.mp4|720-50719",
  );
  assert.equal(playlistRuntimeId("https://cdn/v.m3u8"), "https://cdn/v.m3u8");
  assert.equal(playlistRuntimeId(["https://a/v.m3u8", "https://b/v.m3u8"]), "https://a/v.m3u8");
});

const level = (over = {}) => ({
  attrs: { "FRAME-RATE": "29.970", "VIDEO-RANGE": "SDR", BANDWIDTH: "2000000" },
  bitrate: 2_000_000,
  name: "",
  url: "https://cdn/720p.m3u8",
  videoCodec: "avc1.64001f",
  audioCodec: "mp4a.40.2",
  width: 1280,
  height: 720,
  ...over,
});

test("a variant's descriptor: bitrate, video codecs, size, raw FRAME-RATE, VIDEO-RANGE", () => {
  assert.deepEqual(levelDescriptor(level()), {
    bitrate: 2_000_000,
    codecs: "avc1.64001f",
    width: 1280,
    height: 720,
    frameRate: "29.970",
    videoRange: "SDR",
  });
});

test("a variant's descriptor prefers a peak bitrate when hls.js has one", () => {
  assert.equal(levelDescriptor(level({ maxBitrate: 2_500_000 })).bitrate, 2_500_000);
});

test("a variant without bitrate sends bitrate 0 and nothing else", () => {
  assert.deepEqual(levelDescriptor(level({ bitrate: 0 })), { bitrate: 0 });
});

test("absent attributes are left out, not sent as undefined or null", () => {
  const d = levelDescriptor(level({ attrs: {}, width: undefined, height: undefined, videoCodec: undefined }));
  assert.deepEqual(d, { bitrate: 2_000_000 });
  assert.deepEqual(Object.keys(d), ["bitrate"]);
});

test("an audio rendition's descriptor: bitrate 0, codec, language, channels, name", () => {
  const track = {
    url: "https://cdn/audio-en.m3u8",
    audioCodec: "mp4a.40.2",
    lang: "en",
    channels: "2",
    name: "English",
    groupId: "aud",
  };
  assert.deepEqual(audioTrackDescriptor(track), {
    bitrate: 0,
    codecs: "mp4a.40.2",
    language: "en",
    channels: "2",
    name: "English",
  });
  assert.deepEqual(audioTrackDescriptor({ url: "u", name: "" }), { bitrate: 0, name: "" });
});

const frag = (sn, start, over = {}) => ({
  url: `https://cdn/seg${sn}.ts`,
  byteRange: [],
  sn,
  start,
  end: start + 4,
  ...over,
});

test("VOD: external ids are 0-based positions, not media sequence numbers", () => {
  const { add, remove } = playlistChanges(new Set(), [frag(10, 0), frag(11, 4), frag(12, 8)], false);
  assert.deepEqual(
    add.map((s) => [s.runtimeId, s.externalId, s.startTime, s.endTime]),
    [
      ["https://cdn/seg10.ts", 0, 0, 4],
      ["https://cdn/seg11.ts", 1, 4, 8],
      ["https://cdn/seg12.ts", 2, 8, 12],
    ],
  );
  assert.deepEqual(remove, []);
  assert.ok(add.every((s) => !("byteRange" in s)));
});

test("live: external ids are media sequence numbers; known segments are not re-added; dropped ones are removed", () => {
  const first = playlistChanges(new Set(), [frag(100, 400), frag(101, 404), frag(102, 408)], true);
  assert.deepEqual(first.add.map((s) => s.externalId), [100, 101, 102]);

  const known = new Set(first.add.map((s) => s.runtimeId));
  const next = playlistChanges(known, [frag(101, 404), frag(102, 408), frag(103, 412)], true);
  assert.deepEqual(next.add.map((s) => [s.runtimeId, s.externalId]), [["https://cdn/seg103.ts", 103]]);
  assert.deepEqual(next.remove, ["https://cdn/seg100.ts"]);
});

test("a playlist that did not change produces no changes", () => {
  const fragments = [frag(1, 0), frag(2, 4)];
  const { add } = playlistChanges(new Set(), fragments, true);
  const again = playlistChanges(new Set(add.map((s) => s.runtimeId)), fragments, true);
  assert.deepEqual(again, { add: [], remove: [] });
});

test("byte-range segments of one file get distinct runtime ids with inclusive ends", () => {
  const url = "https://cdn/video.mp4";
  const { add } = playlistChanges(
    new Set(),
    [frag(0, 0, { url, byteRange: [720, 50_720] }), frag(1, 4, { url, byteRange: [50_720, 99_000] })],
    false,
  );
  assert.deepEqual(
    add.map((s) => [s.runtimeId, s.byteRange]),
    [
      [`${url}|720-50719`, { start: 720, end: 50_719 }],
      [`${url}|50720-98999`, { start: 50_720, end: 98_999 }],
    ],
  );
});

test("init segments in the list are skipped, positions still count from the list", () => {
  const { add } = playlistChanges(new Set(), [frag("initSegment", 0), frag(5, 0)], false);
  assert.deepEqual(add.map((s) => s.externalId), [1]);
});

test("loading timings reproduce the engine's bandwidth and end now", () => {
  // 1,000,000 bytes at 8 Mbit/s take 1000 ms.
  const t = loadingTimings(8_000_000, 1_000_000, 50_000);
  assert.deepEqual(t, { start: 48_990, first: 49_000, end: 50_000 });
  // The bandwidth hls.js derives from them is the engine's.
  assert.equal((1_000_000 * 8000) / (t.end - t.first), 8_000_000);
});

test("loading timings with no usable bandwidth stay finite", () => {
  for (const bw of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    const t = loadingTimings(bw, 1000, 10);
    assert.ok([t.start, t.first, t.end].every(Number.isFinite), `bandwidth ${bw}`);
    assert.equal(t.end, 10);
  }
});

const hlsDefaults = { liveSyncDurationCount: 3, maxBufferLength: 30, maxMaxBufferLength: 600 };

test("tuning, live main playlist: sync count as far back as the playlist allows, buffer to the urgent window", () => {
  const live = { live: true, targetduration: 2, fragmentCount: 20, firstFragmentType: "main" };
  assert.deepEqual(playerTuning(live, {}, hlsDefaults, 15), {
    liveSyncDurationCount: 19,
    maxBufferLength: 15,
    maxMaxBufferLength: 15,
  });
  // A long window is capped at 120 s behind the edge.
  const long = { ...live, fragmentCount: 500 };
  assert.equal(playerTuning(long, {}, hlsDefaults, 15).liveSyncDurationCount, 60);
  // Long target durations: never below two of them.
  const slow = { ...live, targetduration: 10 };
  assert.equal(playerTuning(slow, {}, hlsDefaults, 15).maxBufferLength, 20);
});

test("tuning leaves settings the page chose alone", () => {
  const live = { live: true, targetduration: 2, fragmentCount: 20, firstFragmentType: "main" };
  assert.deepEqual(playerTuning(live, { liveSyncDuration: 10 }, hlsDefaults, 15), {
    maxBufferLength: 15,
    maxMaxBufferLength: 15,
  });
  assert.deepEqual(playerTuning(live, { liveSyncDurationCount: 4, maxBufferLength: 60 }, hlsDefaults, 15), {});
  assert.deepEqual(playerTuning(live, { maxMaxBufferLength: 60 }, hlsDefaults, 15), {
    liveSyncDurationCount: 19,
  });
});

test("tuning only lowers buffers, only for main playlists of more than 4 segments, and reports only changes", () => {
  const vod = { live: false, targetduration: 4, fragmentCount: 100, firstFragmentType: "main" };
  assert.deepEqual(playerTuning(vod, {}, hlsDefaults, 15), { maxBufferLength: 15, maxMaxBufferLength: 15 });
  assert.deepEqual(playerTuning(vod, {}, { ...hlsDefaults, maxBufferLength: 10, maxMaxBufferLength: 15 }, 15), {});
  assert.deepEqual(playerTuning({ ...vod, firstFragmentType: "audio" }, {}, hlsDefaults, 15), {});
  assert.deepEqual(playerTuning({ ...vod, fragmentCount: 4 }, {}, hlsDefaults, 15), {});
  const live = { live: true, targetduration: 2, fragmentCount: 5, firstFragmentType: "main" };
  assert.deepEqual(playerTuning(live, {}, { ...hlsDefaults, liveSyncDurationCount: 4 }, 15), {
    maxBufferLength: 15,
    maxMaxBufferLength: 15,
  });
});

test("playlist shape from text, as hls.js will parse it: live without ENDLIST, one fragment per EXTINF", () => {
  const live = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2,\na.ts\n#EXTINF:2,\r\nb.ts\n";
  assert.deepEqual(playlistShapeFromText(live, "main"), {
    live: true,
    targetduration: 2,
    fragmentCount: 2,
    firstFragmentType: "main",
  });
  assert.equal(playlistShapeFromText(`${live}#EXT-X-ENDLIST\n`, "main")?.live, false);
  // Multivariant playlists, garbage and playlists without a target duration: no shape.
  assert.equal(playlistShapeFromText("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nl.m3u8\n", "main"), undefined);
  assert.equal(playlistShapeFromText("<html>502</html>", "main"), undefined);
  assert.equal(playlistShapeFromText("#EXTM3U\n#EXTINF:2,\na.ts\n", "main"), undefined);
  // The shape feeds the tuning before hls.js picks its start: 20 segments, 19 behind the edge.
  const twenty = `#EXTM3U\n#EXT-X-TARGETDURATION:2\n${"#EXTINF:2,\ns.ts\n".repeat(20)}`;
  assert.equal(playerTuning(playlistShapeFromText(twenty, "main"), {}, hlsDefaults, 15).liveSyncDurationCount, 19);
});
