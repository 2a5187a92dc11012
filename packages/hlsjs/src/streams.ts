// The streams and segments this integration has given the engine. The engine has no call to
// list them back, and the fragment loader needs to know a segment's stream type on every
// request, so the integration keeps its own record, changed only together with the engine.
import type {
  AudioTrackLoadedData,
  LevelUpdatedData,
  ManifestLoadedData,
} from "hls.js";
import type { EngineBridge } from "./bridge.js";
import {
  audioTrackDescriptor,
  levelDescriptor,
  playlistChanges,
  playlistRuntimeId,
} from "./mapping.js";
import type { StreamType } from "./types.js";

type StreamRecord = { readonly type: StreamType; readonly segments: Set<string> };

export class StreamRegistry {
  readonly #engine: EngineBridge;
  readonly #streams = new Map<string, StreamRecord>();

  constructor(engine: EngineBridge) {
    this.#engine = engine;
  }

  /** Every variant becomes a "main" stream, every audio rendition a "secondary" one. */
  registerManifest(data: ManifestLoadedData): void {
    for (const level of data.levels) {
      this.#add(playlistRuntimeId(level.url), "main", () => levelDescriptor(level));
    }
    for (const track of data.audioTracks) {
      this.#add(playlistRuntimeId(track.url), "secondary", () => audioTrackDescriptor(track));
    }
  }

  #add(runtimeId: string, type: StreamType, descriptor: () => object): void {
    if (this.#streams.has(runtimeId)) return;
    this.#engine.addStreamIfNoneExists(runtimeId, type, descriptor());
    this.#streams.set(runtimeId, { type, segments: new Set() });
  }

  /**
   * Brings a stream's segments in line with a freshly loaded playlist. The stream is found by
   * the playlist's URL, or else by the URL the manifest gave for it (`fallbackUrl`): hls.js
   * reports the URL after redirects, which differs from the manifest's when the playlist was
   * redirected.
   */
  updatePlaylist(data: LevelUpdatedData | AudioTrackLoadedData, fallbackUrl?: string): void {
    const { details } = data;
    let runtimeId = details.url;
    let stream = this.#streams.get(runtimeId);
    if (!stream && fallbackUrl !== undefined) {
      runtimeId = fallbackUrl;
      stream = this.#streams.get(runtimeId);
    }
    if (!stream) return;

    const { add, remove } = playlistChanges(stream.segments, details.fragments, details.live);
    if (add.length === 0 && remove.length === 0) return;
    this.#engine.updateStream(runtimeId, add, remove);
    for (const id of remove) stream.segments.delete(id);
    for (const segment of add) stream.segments.add(segment.runtimeId);
  }

  /** The type of the first stream holding the segment, or undefined for an unknown one. */
  streamTypeOf(segmentRuntimeId: string): StreamType | undefined {
    for (const stream of this.#streams.values()) {
      if (stream.segments.has(segmentRuntimeId)) return stream.type;
    }
    return undefined;
  }

  /** Forgets everything; the engine is reset alongside. */
  clear(): void {
    this.#streams.clear();
  }
}
