// Pure translations from what hls.js reports to what the engine takes. No state, no I/O, so
// that test/mapping.test.mjs can check them without a browser or the wasm.
import type { LevelParsed, MediaPlaylist } from "hls.js";
import { segmentRuntimeId, type ByteRange, type Segment, type StreamDescriptor } from "./types.js";

export { segmentRuntimeId };
export type { StreamDescriptor };

/**
 * A byte range with an inclusive end, from hls.js's `[start, endExclusive)`; undefined when
 * there is no range (hls.js uses 0/0 or leaves the offsets out for whole-file segments).
 */
export function inclusiveByteRange(
  start: number | undefined,
  endExclusive: number | undefined,
): ByteRange | undefined {
  if (start === undefined || endExclusive === undefined) return undefined;
  const end = endExclusive - 1;
  return start <= end ? { start, end } : undefined;
}

/** hls.js keeps a level's URL as a string or, once loaded into a Level, as a list. */
export function playlistRuntimeId(url: string | readonly string[]): string {
  return typeof url === "string" ? url : (url[0] ?? "");
}

function withoutAbsent(descriptor: StreamDescriptor): StreamDescriptor {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(descriptor)) {
    if (value !== undefined && value !== null) out[key] = value;
  }
  return out as StreamDescriptor;
}

/**
 * A variant (EXT-X-STREAM-INF) as a "main" stream. The peak bitrate is preferred when hls.js
 * exposes one; with no bitrate at all only `bitrate: 0` is sent, as P2P Media Loader does, so
 * that peers whose players parse the other attributes differently still agree.
 */
export function levelDescriptor(level: LevelParsed): StreamDescriptor {
  const maxBitrate = (level as { maxBitrate?: number }).maxBitrate;
  const bitrate = maxBitrate ?? level.bitrate ?? 0;
  if (!bitrate) return { bitrate: 0 };
  const attrs = level.attrs as Record<string, string | undefined> | undefined;
  return withoutAbsent({
    bitrate,
    codecs: level.videoCodec,
    width: level.width,
    height: level.height,
    frameRate: attrs?.["FRAME-RATE"],
    videoRange: attrs?.["VIDEO-RANGE"],
  });
}

/** An alternative audio rendition (EXT-X-MEDIA TYPE=AUDIO) as a "secondary" stream. */
export function audioTrackDescriptor(track: MediaPlaylist): StreamDescriptor {
  return withoutAbsent({
    bitrate: 0,
    codecs: track.audioCodec,
    language: track.lang,
    channels: track.channels,
    name: track.name,
  });
}

/** What hls.js's fragments carry that matters here. */
export type FragmentLike = {
  url: string;
  byteRange: [number, number] | [];
  sn: number | "initSegment";
  start: number;
  end: number;
};

/** Segments to add to and runtime ids to remove from a stream after a playlist (re)load. */
export type PlaylistChanges = { add: Segment[]; remove: string[] };

/**
 * Compares a freshly loaded playlist with the segments the engine already has for the stream.
 * New segments get the media sequence number as external id for live playlists and their
 * 0-based position for VOD (SPEC §3.5); known ones are left alone, so a playlist that turns
 * from live to VOD keeps the ids it had.
 */
export function playlistChanges(
  known: ReadonlySet<string>,
  fragments: readonly FragmentLike[],
  live: boolean,
): PlaylistChanges {
  const stillListed = new Set<string>();
  const add: Segment[] = [];
  fragments.forEach((fragment, position) => {
    if (typeof fragment.sn !== "number") return;
    const [start, endExclusive] = fragment.byteRange;
    const byteRange = inclusiveByteRange(start, endExclusive);
    const runtimeId = segmentRuntimeId(fragment.url, byteRange);
    if (stillListed.has(runtimeId)) return;
    stillListed.add(runtimeId);
    if (known.has(runtimeId)) return;
    add.push({
      runtimeId,
      externalId: live ? fragment.sn : position,
      url: fragment.url,
      ...(byteRange ? { byteRange } : {}),
      startTime: fragment.start,
      endTime: fragment.end,
    });
  });
  const remove = [...known].filter((id) => !stillListed.has(id));
  return { add, remove };
}

/**
 * Timings for hls.js's LoaderStats that make its bandwidth estimate equal the engine's
 * (SPEC §4.11): the transfer is placed to end now and to have lasted bytes / bandwidth, after a
 * nominal 10 ms to first byte.
 */
export function loadingTimings(
  bandwidthBitsPerSecond: number,
  bytes: number,
  now: number,
): { start: number; first: number; end: number } {
  const transferMs =
    bandwidthBitsPerSecond > 0 && Number.isFinite(bandwidthBitsPerSecond)
      ? (bytes * 8000) / bandwidthBitsPerSecond
      : 0;
  const first = now - transferMs;
  return { start: first - 10, first, end: now };
}

/** Longest distance from the live edge the tuning asks hls.js to keep, in seconds. */
export const MAX_LIVE_SYNC_SECONDS = 120;

export type PlaylistShape = {
  live: boolean;
  targetduration: number;
  fragmentCount: number;
  /** hls.js's playlist type of the first fragment: "main", "audio", "subtitle". */
  firstFragmentType: string | undefined;
};

/**
 * The shape of a media playlist read from its text, the way hls.js will read it: live unless
 * it has `#EXT-X-ENDLIST`, one fragment per `#EXTINF`. `undefined` for a multivariant playlist
 * or text that is not a playlist (hls.js reports those itself).
 */
export function playlistShapeFromText(text: string, fragmentType: string): PlaylistShape | undefined {
  if (!text.startsWith("#EXTM3U")) return undefined;
  let targetduration: number | undefined;
  let fragmentCount = 0;
  let live = true;
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith("#EXTINF:")) fragmentCount += 1;
    else if (line.startsWith("#EXT-X-TARGETDURATION:")) {
      targetduration = Number(line.slice("#EXT-X-TARGETDURATION:".length));
    } else if (line.startsWith("#EXT-X-ENDLIST")) live = false;
    else if (line.startsWith("#EXT-X-STREAM-INF")) return undefined;
  }
  if (targetduration === undefined || !(targetduration > 0) || fragmentCount === 0) return undefined;
  return { live, targetduration, fragmentCount, firstFragmentType: fragmentType };
}

export type BufferSettings = {
  liveSyncDuration?: number | null;
  liveSyncDurationCount?: number | null;
  maxBufferLength?: number | null;
  maxMaxBufferLength?: number | null;
};

/**
 * hls.js settings that give the engine room to work (SPEC §6.4), applied only to main
 * playlists of more than 4 segments and never to a setting the page chose itself:
 * - live: stay as far behind the edge as the playlist allows, up to 120 s, so that segments
 *   have time to spread through the swarm;
 * - both: let hls.js buffer no further than the engine's urgent window (at least two target
 *   durations); the engine prefetches the rest.
 * Returns only the settings that change.
 */
export function playerTuning(
  playlist: PlaylistShape,
  userSet: BufferSettings,
  current: { liveSyncDurationCount: number; maxBufferLength: number; maxMaxBufferLength: number },
  highDemandTimeWindow: number,
): { liveSyncDurationCount?: number; maxBufferLength?: number; maxMaxBufferLength?: number } {
  const out: { liveSyncDurationCount?: number; maxBufferLength?: number; maxMaxBufferLength?: number } = {};
  if (playlist.firstFragmentType !== "main" || playlist.fragmentCount <= 4) return out;
  const isSet = (v: number | null | undefined) => v !== undefined && v !== null;

  if (playlist.live && !isSet(userSet.liveSyncDuration) && !isSet(userSet.liveSyncDurationCount)) {
    const count = Math.min(
      playlist.fragmentCount - 1,
      Math.floor(MAX_LIVE_SYNC_SECONDS / playlist.targetduration),
    );
    if (count !== current.liveSyncDurationCount) out.liveSyncDurationCount = count;
  }

  if (!isSet(userSet.maxBufferLength) && !isSet(userSet.maxMaxBufferLength)) {
    const length = Math.max(2 * playlist.targetduration, highDemandTimeWindow);
    if (current.maxBufferLength > length) out.maxBufferLength = length;
    if (current.maxMaxBufferLength > length) out.maxMaxBufferLength = length;
  }
  return out;
}
