// The event side of the bridge, kept free of the wasm so test/events.test.mjs can run it in
// Node: a listener registry, an ordered deferred-delivery queue, and the conversion of what
// the wasm passes into P2P Media Loader's payload shapes.
import { RequestError, type CoreEventMap, type RequestErrorType } from "./types.js";

type Listener = (...args: never[]) => void;

/** Hands an exception to the page's error reporting without stopping the caller. */
function reportLater(error: unknown): void {
  setTimeout(() => {
    throw error;
  });
}

/** Listeners by event name, called in the order they were added (duplicates allowed). */
export class Listeners {
  readonly #byName = new Map<string, Listener[]>();

  add<K extends keyof CoreEventMap>(name: K, listener: CoreEventMap[K]): void {
    const list = this.#byName.get(name);
    if (list) list.push(listener);
    else this.#byName.set(name, [listener]);
  }

  /** Removes the first registration of `listener` for `name`, if any. */
  remove<K extends keyof CoreEventMap>(name: K, listener: CoreEventMap[K]): void {
    const list = this.#byName.get(name);
    const at = list ? list.indexOf(listener) : -1;
    if (list && at !== -1) list.splice(at, 1);
  }

  /**
   * Calls every listener of `name` with `args`. A listener that throws does not keep the
   * others from running; its exception is reported asynchronously.
   */
  emit(name: string, args: readonly unknown[]): void {
    const list = this.#byName.get(name);
    if (!list || list.length === 0) return;
    for (const listener of [...list]) {
      try {
        (listener as (...a: unknown[]) => void)(...args);
      } catch (error) {
        reportLater(error);
      }
    }
  }

  has(name: string): boolean {
    return (this.#byName.get(name)?.length ?? 0) > 0;
  }
}

/**
 * Runs functions after the current call stack (in a microtask), in the order they were
 * queued. The wasm may call back into JavaScript while it holds its own state borrowed; page
 * code reached synchronously from there and calling straight back into the wasm would fail, so
 * everything the wasm reports goes through one of these.
 */
export class DeliveryQueue {
  readonly #pending: (() => void)[] = [];
  #scheduled = false;

  push(fn: () => void): void {
    this.#pending.push(fn);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.#drain());
  }

  #drain(): void {
    // Functions queued while draining run in this same pass, after those already queued.
    for (let next = this.#pending.shift(); next; next = this.#pending.shift()) {
      try {
        next();
      } catch (error) {
        reportLater(error);
      }
    }
    this.#scheduled = false;
  }
}

// -- payloads -----------------------------------------------------------------------------------

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** Rust's `None` may arrive as null where P2P Media Loader passes undefined. */
function nullToUndefined(value: unknown): unknown {
  return value === null ? undefined : value;
}

function normaliseSegment(value: unknown): unknown {
  const segment = record(value);
  if (!segment) return value;
  const out = { ...segment };
  if (out["byteRange"] === null || out["byteRange"] === undefined) delete out["byteRange"];
  return out;
}

function messageOf(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  const message = record(value)?.["message"];
  return typeof message === "string" ? message : undefined;
}

/** An Error with `type` and `timestamp`, as P2P Media Loader's `onSegmentError` carries. */
export function toRequestError(value: unknown): RequestError {
  if (value instanceof RequestError) return value;
  const fields = record(value);
  const type = fields?.["type"];
  const timestamp = fields?.["timestamp"];
  const error = new RequestError(
    (typeof type === "string" ? type : "http-error") as RequestErrorType,
    messageOf(value),
    typeof timestamp === "number" ? timestamp : undefined,
  );
  if (value instanceof Error) error.cause = value;
  return error;
}

function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(messageOf(value) ?? String(value));
}

/** Brings one event's arguments, as the wasm passed them, to the shapes of CoreEventMap. */
export function normaliseEventArgs(name: string, args: readonly unknown[]): unknown[] {
  switch (name) {
    case "onChunkDownloaded":
      return [args[0], args[1], nullToUndefined(args[2])];
    case "onChunkUploaded":
      return [args[0], args[1]];
  }
  const first = record(args[0]);
  if (!first) return [...args];
  const payload: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(first)) payload[key] = nullToUndefined(value);
  if ("segment" in payload) payload["segment"] = normaliseSegment(payload["segment"]);
  if (name === "onSegmentError") payload["error"] = toRequestError(payload["error"]);
  if (name === "onPeerError") payload["error"] = toError(payload["error"]);
  if (name.startsWith("onSegment") && !("peerId" in payload)) payload["peerId"] = undefined;
  return [payload, ...args.slice(1)];
}
