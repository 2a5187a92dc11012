// The streams and segments this integration has given the engine, kept in step with Shaka's
// segment indexes through Shaka's public SegmentIndex/SegmentReference methods only: the
// index is read (not replaced or searched by reflection, as P2P Media Loader does) whenever
// Shaka asks for a segment of the stream and, for live streams, on every playback tick.
import type { EngineBridge } from "./bridge.js";
import {
  dashExternalId,
  hlsExternalId,
  parseMediaPlaylist,
  referenceRuntimeId,
  streamChanges,
  streamRegistrations,
  type MediaPlaylist,
  type PlaylistSegment,
  type ReferenceFields,
  type VariantFields,
} from "./mapping.js";
import type { ShakaReference, ShakaStream } from "./shaka-types.js";

type StreamRecord = {
  readonly shakaStream: ShakaStream;
  readonly byRuntimeId: Map<string, number>;
  readonly collided: Set<number>;
  /** What the index looked like at the last read, to skip unchanged ones cheaply. */
  lastShape: string;
};

/** Most media playlists remembered for their segment numbers (each rendition has one). */
const MAX_PLAYLISTS = 64;

export class ShakaStreams {
  readonly #engine: EngineBridge;
  readonly #streams = new Map<string, StreamRecord>();
  #protocol: "hls" | "dash" | undefined;
  /** HLS media playlists by URL, as the scheme plugin saw them last. */
  readonly #playlists = new Map<string, MediaPlaylist>();
  /** Segment runtime id → where it was listed. */
  readonly #hlsSegments = new Map<string, { playlist: MediaPlaylist; segment: PlaylistSegment }>();
  /** Counts the playlists noted, so that an index is read again once new numbers are known. */
  #playlistGeneration = 0;
  /** Ids kept off P2P since the source was loaded (see mapping.ts streamChanges). */
  collisions = 0;

  constructor(engine: EngineBridge) {
    this.#engine = engine;
  }

  /** Registers the streams of a manifest Shaka has just parsed (SPEC §3.3). */
  registerManifest(variants: readonly VariantFields<ShakaStream>[], protocol: "hls" | "dash"): void {
    this.#protocol = protocol;
    for (const { stream, runtimeId, type, descriptor } of streamRegistrations(variants)) {
      if (this.#streams.has(runtimeId)) continue;
      this.#engine.addStreamIfNoneExists(runtimeId, type, descriptor);
      this.#streams.set(runtimeId, {
        shakaStream: stream,
        byRuntimeId: new Map(),
        collided: new Set(),
        lastShape: "",
      });
    }
    this.syncAll();
  }

  /**
   * Remembers the segments of an HLS media playlist fetched through the scheme plugin, for
   * their hls.js-compatible ids. Returns whether the text was a media playlist.
   */
  notePlaylist(text: string, url: string): boolean {
    const playlist = parseMediaPlaylist(text, url);
    if (!playlist) return false;
    this.#forgetPlaylist(url);
    this.#playlists.set(url, playlist);
    for (const segment of playlist.segments) this.#hlsSegments.set(segment.runtimeId, { playlist, segment });
    this.#playlistGeneration += 1;
    while (this.#playlists.size > MAX_PLAYLISTS) {
      const [oldest] = this.#playlists.keys();
      if (oldest === undefined) break;
      this.#forgetPlaylist(oldest);
    }
    return true;
  }

  #forgetPlaylist(url: string): void {
    const playlist = this.#playlists.get(url);
    if (!playlist) return;
    this.#playlists.delete(url);
    for (const s of playlist.segments) {
      if (this.#hlsSegments.get(s.runtimeId)?.playlist === playlist) this.#hlsSegments.delete(s.runtimeId);
    }
  }

  /** Reads the segment index of the stream with this Shaka id, if it is one of ours. */
  syncStream(shakaStream: { id: number } | undefined): void {
    if (!shakaStream) return;
    const record = this.#streams.get(String(shakaStream.id));
    if (record) this.#sync(String(shakaStream.id), record);
  }

  /** Reads every segment index Shaka has created. */
  syncAll(): void {
    for (const [runtimeId, record] of this.#streams) this.#sync(runtimeId, record);
  }

  /** Forgets everything; the engine is reset alongside. */
  clear(): void {
    this.#streams.clear();
    this.#playlists.clear();
    this.#hlsSegments.clear();
    this.#protocol = undefined;
    this.collisions = 0;
  }

  #sync(runtimeId: string, record: StreamRecord): void {
    const index = record.shakaStream.segmentIndex;
    if (!index) return;
    let refs: ReferenceFields[];
    try {
      const shaka: ShakaReference[] = [];
      for (const ref of index) if (ref) shaka.push(ref);
      const first = shaka[0];
      const last = shaka[shaka.length - 1];
      // HLS ids come from playlist text, which may arrive after the index: a new playlist
      // counts as a change too.
      const shape =
        first && last
          ? `${shaka.length}|${first.getUris()[0]}|${last.getUris()[0]}|${last.getEndByte()}|${this.#playlistGeneration}`
          : "";
      if (shape === record.lastShape) return;
      record.lastShape = shape;
      refs = shaka.map(referenceFields).filter((r): r is ReferenceFields => r !== undefined);
    } catch (error) {
      // An index Shaka is rebuilding (or a Shaka whose SegmentIndex changed): the segments of
      // this stream go over Shaka's own HTTP until the next read succeeds.
      console.warn("p2pml-rs-shaka: cannot read a segment index", error);
      return;
    }
    const idOf =
      this.#protocol === "hls"
        ? (ref: ReferenceFields) => {
            const found = this.#hlsSegments.get(referenceRuntimeId(ref));
            return found ? hlsExternalId(found.playlist, found.segment) : undefined;
          }
        : (ref: ReferenceFields) => dashExternalId(ref.startTime);
    const { add, remove, collisions } = streamChanges(record, refs, idOf);
    for (const id of collisions) {
      record.collided.add(id);
      this.collisions += 1;
      console.warn(
        `p2pml-rs-shaka: two segments of stream ${runtimeId} start within 0.5 s (id ${id}); both stay off P2P`,
      );
    }
    if (add.length === 0 && remove.length === 0) return;
    try {
      this.#engine.updateStream(runtimeId, add, remove);
    } catch (error) {
      // The engine refused the update: these segments go over Shaka's own HTTP.
      console.error("p2pml-rs-shaka: the engine refused a segment list update", error);
      record.lastShape = "";
      return;
    }
    for (const id of remove) record.byRuntimeId.delete(id);
    for (const segment of add) record.byRuntimeId.set(segment.runtimeId, segment.externalId);
  }
}

/** A SegmentReference's fields; undefined for partial (LL-HLS) or URL-less references. */
function referenceFields(ref: ShakaReference): ReferenceFields | undefined {
  if (ref.isPartial?.()) return undefined;
  const url = ref.getUris()[0];
  if (!url) return undefined;
  return {
    url,
    startByte: ref.getStartByte(),
    endByte: ref.getEndByte(),
    startTime: ref.getStartTime(),
    endTime: ref.getEndTime(),
  };
}
