// Listener registry, deferred delivery and payload shapes (dist/events.js).
// node --test packages/hlsjs/test/
import assert from "node:assert/strict";
import { test } from "node:test";
import { DeliveryQueue, Listeners, normaliseEventArgs, toRequestError } from "../dist/events.js";
import { RequestError } from "../dist/types.js";

/** Runs `fn` with setTimeout captured, and returns what the captured callbacks threw. */
async function reportedErrors(fn) {
  const original = globalThis.setTimeout;
  const scheduled = [];
  globalThis.setTimeout = (callback) => scheduled.push(callback);
  try {
    await fn();
  } finally {
    globalThis.setTimeout = original;
  }
  return scheduled.map((callback) => {
    try {
      callback();
      return undefined;
    } catch (error) {
      return error.message;
    }
  });
}

test("listeners run in the order added, duplicates included; remove takes one registration", () => {
  const listeners = new Listeners();
  const calls = [];
  const a = (x) => calls.push(`a${x}`);
  const b = (x) => calls.push(`b${x}`);
  listeners.add("onPeerConnect", a);
  listeners.add("onPeerConnect", b);
  listeners.add("onPeerConnect", a);
  listeners.emit("onPeerConnect", [1]);
  listeners.remove("onPeerConnect", a);
  listeners.emit("onPeerConnect", [2]);
  listeners.remove("onPeerConnect", a);
  listeners.remove("onPeerConnect", a); // nothing left to remove: no error
  listeners.emit("onPeerConnect", [3]);
  listeners.emit("onPeerClose", [4]); // no listeners: nothing happens
  assert.deepEqual(calls, ["a1", "b1", "a1", "b2", "a2", "b3"]);
});

test("a listener removed during an emit still gets that emit; one added does not", () => {
  const listeners = new Listeners();
  const calls = [];
  const late = () => calls.push("late");
  const second = () => calls.push("second");
  listeners.add("onChunkUploaded", () => {
    calls.push("first");
    listeners.remove("onChunkUploaded", second);
    listeners.add("onChunkUploaded", late);
  });
  listeners.add("onChunkUploaded", second);
  listeners.emit("onChunkUploaded", []);
  assert.deepEqual(calls, ["first", "second"]);
});

test("a throwing listener does not stop the others; its error is reported later", async () => {
  const listeners = new Listeners();
  const calls = [];
  listeners.add("onSegmentLoaded", () => {
    throw new Error("listener bug");
  });
  listeners.add("onSegmentLoaded", () => calls.push("after"));
  const reported = await reportedErrors(() => listeners.emit("onSegmentLoaded", [{}]));
  assert.deepEqual(calls, ["after"]);
  assert.deepEqual(reported, ["listener bug"]);
});

test("deliveries run after the current stack, in order, including ones queued meanwhile", async () => {
  const queue = new DeliveryQueue();
  const calls = [];
  queue.push(() => {
    calls.push(1);
    queue.push(() => calls.push(3));
  });
  queue.push(() => calls.push(2));
  assert.deepEqual(calls, [], "nothing runs synchronously");
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(calls, [1, 2, 3]);
  queue.push(() => calls.push(4));
  await new Promise((r) => setTimeout(r));
  assert.deepEqual(calls, [1, 2, 3, 4], "the queue schedules itself again once drained");
});

test("a throwing delivery does not drop the ones after it", async () => {
  const queue = new DeliveryQueue();
  const calls = [];
  const reported = await reportedErrors(async () => {
    queue.push(() => {
      throw new Error("callback bug");
    });
    queue.push(() => calls.push("next"));
    await Promise.resolve();
  });
  assert.deepEqual(reported, ["callback bug"]);
  assert.deepEqual(calls, ["next"]);
});

const segment = { runtimeId: "u", externalId: 3, url: "u", byteRange: null, startTime: 0, endTime: 4 };

test("onSegmentError: a plain error object becomes a RequestError with type, message, timestamp", () => {
  const [payload] = normaliseEventArgs("onSegmentError", [
    {
      error: { type: "peer-segment-absent", message: "absent", timestamp: 12.5 },
      segment,
      downloadSource: "p2p",
      peerId: "peer-1",
      streamType: "main",
    },
  ]);
  assert.ok(payload.error instanceof RequestError);
  assert.ok(payload.error instanceof Error);
  assert.equal(payload.error.type, "peer-segment-absent");
  assert.equal(payload.error.message, "absent");
  assert.equal(payload.error.timestamp, 12.5);
  assert.equal(payload.peerId, "peer-1");
  assert.ok(!("byteRange" in payload.segment), "a null byteRange is left out");
  assert.equal(payload.segment.externalId, 3);
});

test("nulls from Rust become undefined, and peerId is always present on segment events", () => {
  const [loaded] = normaliseEventArgs("onSegmentLoaded", [
    { segmentUrl: "u", bytesLength: 10, downloadSource: "http", peerId: null, streamType: "main" },
  ]);
  assert.equal(loaded.peerId, undefined);
  assert.ok("peerId" in loaded);
  const [abort] = normaliseEventArgs("onSegmentAbort", [{ segment, downloadSource: null, streamType: "secondary" }]);
  assert.equal(abort.downloadSource, undefined);
  assert.ok("peerId" in abort);
  assert.deepEqual(normaliseEventArgs("onChunkDownloaded", [100, "http", null]), [100, "http", undefined]);
  assert.deepEqual(normaliseEventArgs("onChunkDownloaded", [100, "p2p", "peer"]), [100, "p2p", "peer"]);
  assert.deepEqual(normaliseEventArgs("onChunkUploaded", [64, "peer", "extra"]), [64, "peer"]);
});

test("onPeerError carries an Error; tracker payloads pass through", () => {
  const [peer] = normaliseEventArgs("onPeerError", [{ peerId: "p", streamType: "main", error: "ICE failed" }]);
  assert.ok(peer.error instanceof Error);
  assert.equal(peer.error.message, "ICE failed");
  const [tracker] = normaliseEventArgs("onTrackerError", [{ streamType: "main", error: { message: "refused" } }]);
  assert.deepEqual(tracker, { streamType: "main", error: { message: "refused" } });
});

test("toRequestError keeps RequestErrors and wraps strings and Errors", () => {
  const original = new RequestError("abort", "stopped", 1);
  assert.equal(toRequestError(original), original);
  const fromString = toRequestError("boom");
  assert.equal(fromString.message, "boom");
  const cause = new Error("inner");
  assert.equal(toRequestError(cause).cause, cause);
});
