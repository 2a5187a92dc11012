// Pure translations from what Shaka Player reports (and what the scheme plugin sees) to what
// the engine takes. No state, no I/O, no Shaka: test/mapping.test.mjs checks them in Node.
import { segmentRuntimeId, type ByteRange, type Segment, type StreamDescriptor, type StreamType } from "./types.js";

/** The fields of a Shaka stream (shaka.extern.Stream) the swarm identity uses. */
export type StreamFields = {
  id: number;
  codecs?: string | null;
  width?: number | null;
  height?: number | null;
  frameRate?: number | null;
  hdr?: string | null;
  language?: string | null;
  channelsCount?: number | null;
  label?: string | null;
  originalId?: string | null;
};

/** A Shaka variant (shaka.extern.Variant): a video and/or an audio stream. */
export type VariantFields<S extends StreamFields = StreamFields> = {
  bandwidth: number;
  video: S | null;
  audio: S | null;
};

/** A stream to register with the engine. */
export type StreamRegistration<S extends StreamFields = StreamFields> = {
  stream: S;
  /** The stream's runtime id: `String(stream.id)`. */
  runtimeId: string;
  type: StreamType;
  descriptor: StreamDescriptor;
};

/** Sample entries P2P Media Loader strips from a video stream's codecs (muxed audio). */
const AUDIO_CODECS = ["mp4a", "ac-3", "ec-3", "ec+3", "opus", "vorb", "flac"];

function withoutAbsent(descriptor: Record<string, unknown>): StreamDescriptor {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(descriptor)) {
    if (value !== undefined && value !== null) out[key] = value;
  }
  return out as StreamDescriptor;
}

/**
 * The streams of a parsed manifest, described as P2P Media Loader 2.3's Shaka integration
 * describes them (SPEC §3.3), each stream once, in variant order:
 * - a video stream is `main`, with the bandwidth of the first variant holding it (for DASH
 *   that is video plus audio), its codecs without audio entries, size, frame rate and HDR
 *   (only the bandwidth when that is 0);
 * - an audio stream beside video is `secondary`: codecs, language, channels, and the label or
 *   else the original id as its name;
 * - an audio stream of an audio-only variant is `main`, with only the bandwidth.
 */
export function streamRegistrations<S extends StreamFields>(
  variants: readonly VariantFields<S>[],
): StreamRegistration<S>[] {
  const seen = new Set<number>();
  const out: StreamRegistration<S>[] = [];
  for (const { bandwidth, video, audio } of variants) {
    if (video && !seen.has(video.id)) {
      seen.add(video.id);
      const codecs = video.codecs
        ? video.codecs
            .split(",")
            .map((c) => c.trim().toLowerCase())
            .filter((c) => c !== "" && !AUDIO_CODECS.some((p) => c.startsWith(p)))
            .join(",")
        : undefined;
      const known = bandwidth !== 0;
      out.push({
        stream: video,
        runtimeId: String(video.id),
        type: "main",
        descriptor: withoutAbsent({
          bitrate: bandwidth,
          codecs: known ? codecs : undefined,
          width: known ? video.width : undefined,
          height: known ? video.height : undefined,
          frameRate: known ? video.frameRate : undefined,
          videoRange: known ? video.hdr : undefined,
        }),
      });
    }
    if (audio && !seen.has(audio.id)) {
      seen.add(audio.id);
      const main = !video;
      out.push({
        stream: audio,
        runtimeId: String(audio.id),
        type: main ? "main" : "secondary",
        descriptor: main
          ? { bitrate: bandwidth }
          : withoutAbsent({
              bitrate: 0,
              codecs: audio.codecs || undefined,
              language: audio.language,
              channels: audio.channelsCount,
              name: audio.label ?? audio.originalId,
            }),
      });
    }
  }
  return out;
}

/** What a Shaka SegmentReference says about one segment. */
export type ReferenceFields = {
  /** `getUris()[0]`: the URL Shaka requests. */
  url: string;
  /** `getStartByte()`; 0 for a whole file. */
  startByte: number;
  /** `getEndByte()`, inclusive; null for a whole file. */
  endByte: number | null;
  startTime: number;
  endTime: number;
};

/** The byte range of a reference, or undefined for a whole file. */
export function referenceByteRange(ref: ReferenceFields): ByteRange | undefined {
  return ref.endByte === null || ref.endByte === undefined
    ? undefined
    : { start: ref.startByte, end: ref.endByte };
}

export function referenceRuntimeId(ref: ReferenceFields): string {
  return segmentRuntimeId(ref.url, referenceByteRange(ref));
}

/**
 * The runtime id of a request the scheme plugin sees: its URL, plus its `Range` header when
 * that names both ends (`bytes=start-end`); a range the engine cannot have registered
 * (open-ended, several, malformed) gives undefined, and the request is left to Shaka.
 */
export function requestRuntimeId(url: string, rangeHeader: string | undefined): string | undefined {
  if (rangeHeader === undefined || rangeHeader === "") return url;
  const m = /^\s*bytes\s*=\s*(\d+)\s*-\s*(\d+)\s*$/.exec(rangeHeader);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  return segmentRuntimeId(url, { start, end });
}

/** P2P Media Loader's DASH id resolution: segments starting less than 0.5 s apart collide. */
export const DASH_ID_RESOLUTION_S = 0.5;

/** Shaka's DASH segment id on the wire: the start time in half seconds, truncated. */
export function dashExternalId(startTime: number): number {
  return Math.trunc(startTime / DASH_ID_RESOLUTION_S);
}

/** One stream's segments as given to the engine, and the ids that must stay off P2P. */
export type KnownSegments = {
  /** runtime id → external id. */
  readonly byRuntimeId: ReadonlyMap<string, number>;
  /** External ids that two different segments claimed. */
  readonly collided: ReadonlySet<number>;
};

export type StreamChanges = {
  add: Segment[];
  remove: string[];
  /** Ids found to collide in this update (newly kept off P2P). */
  collisions: number[];
};

function segmentOf(ref: ReferenceFields, runtimeId: string, externalId: number): Segment {
  const byteRange = referenceByteRange(ref);
  return {
    runtimeId,
    externalId,
    url: ref.url,
    ...(byteRange ? { byteRange } : {}),
    startTime: ref.startTime,
    endTime: ref.endTime,
  };
}

/**
 * Brings a stream's registered segments in line with Shaka's segment index, giving each new
 * segment the external id `idOf` returns (undefined: not shareable, left to HTTP). Segments
 * already registered keep their id. References gone from the index are removed.
 *
 * Two different segments with the same external id would make peers serve one for the other
 * (P2P Media Loader does not check). Such an id is kept off P2P for good: neither segment is
 * registered, and one registered earlier is removed.
 */
export function streamChanges(
  known: KnownSegments,
  refs: readonly ReferenceFields[],
  idOf: (ref: ReferenceFields) => number | undefined,
): StreamChanges {
  const listed = new Set<string>();
  const candidates = new Map<number, { runtimeId: string; ref: ReferenceFields }[]>();
  for (const ref of refs) {
    const runtimeId = referenceRuntimeId(ref);
    if (listed.has(runtimeId)) continue;
    listed.add(runtimeId);
    if (known.byRuntimeId.has(runtimeId)) continue;
    const id = idOf(ref);
    if (id === undefined || !Number.isSafeInteger(id) || known.collided.has(id)) continue;
    const list = candidates.get(id);
    if (list) list.push({ runtimeId, ref });
    else candidates.set(id, [{ runtimeId, ref }]);
  }
  // Registered segments still listed, by id.
  const registeredById = new Map<number, string>();
  for (const [runtimeId, id] of known.byRuntimeId) {
    if (listed.has(runtimeId)) registeredById.set(id, runtimeId);
  }
  const add: Segment[] = [];
  const remove = [...known.byRuntimeId.keys()].filter((id) => !listed.has(id));
  const collisions: number[] = [];
  for (const [id, list] of candidates) {
    const registered = registeredById.get(id);
    const [only] = list;
    if (list.length === 1 && registered === undefined && only) {
      add.push(segmentOf(only.ref, only.runtimeId, id));
      continue;
    }
    collisions.push(id);
    if (registered !== undefined) remove.push(registered);
  }
  return { add, remove, collisions };
}

/** One media segment of an HLS media playlist as the scheme plugin saw it. */
export type PlaylistSegment = {
  runtimeId: string;
  /** EXT-X-MEDIA-SEQUENCE + position. */
  mediaSequence: number;
  /** 0-based position in the playlist. */
  position: number;
};

export type MediaPlaylist = {
  /** No EXT-X-ENDLIST (hls.js's `details.live`). */
  live: boolean;
  segments: PlaylistSegment[];
};

/**
 * The media segments of an HLS media playlist, resolved against the URL it was fetched from
 * (after redirects), with the numbers hls.js gives them; undefined for anything that is not a
 * media playlist (a master playlist, an MPD, garbage). LL-HLS parts and preload hints are not
 * segments.
 */
export function parseMediaPlaylist(text: string, playlistUrl: string): MediaPlaylist | undefined {
  if (!text.trimStart().startsWith("#EXTM3U")) return undefined;
  let mediaSequence = 0;
  let live = true;
  let pendingSegment = false;
  let pendingRange: { length: number; offset: number | undefined } | undefined;
  /** Where the next implicit-offset byte range of a URL starts. */
  const nextOffset = new Map<string, number>();
  const segments: PlaylistSegment[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "") continue;
    if (line.startsWith("#")) {
      if (line.startsWith("#EXT-X-STREAM-INF") || line.startsWith("#EXT-X-MEDIA:")) return undefined;
      if (line.startsWith("#EXT-X-MEDIA-SEQUENCE:")) {
        const n = Number(line.slice("#EXT-X-MEDIA-SEQUENCE:".length));
        if (!Number.isSafeInteger(n) || n < 0) return undefined;
        mediaSequence = n;
      } else if (line === "#EXT-X-ENDLIST") {
        live = false;
      } else if (line.startsWith("#EXTINF:")) {
        pendingSegment = true;
      } else if (line.startsWith("#EXT-X-BYTERANGE:")) {
        const m = /^(\d+)(?:@(\d+))?$/.exec(line.slice("#EXT-X-BYTERANGE:".length).trim());
        if (!m) return undefined;
        pendingRange = { length: Number(m[1]), offset: m[2] === undefined ? undefined : Number(m[2]) };
      }
      continue;
    }
    if (!pendingSegment) continue; // a URI line without EXTINF is not a media segment
    let url: string;
    try {
      url = new URL(line, playlistUrl).href;
    } catch {
      return undefined;
    }
    let byteRange: ByteRange | undefined;
    if (pendingRange) {
      const start = pendingRange.offset ?? nextOffset.get(url) ?? 0;
      if (pendingRange.length === 0) return undefined;
      byteRange = { start, end: start + pendingRange.length - 1 };
      nextOffset.set(url, byteRange.end + 1);
    }
    const position = segments.length;
    segments.push({
      runtimeId: segmentRuntimeId(url, byteRange),
      mediaSequence: mediaSequence + position,
      position,
    });
    pendingSegment = false;
    pendingRange = undefined;
  }
  return segments.length > 0 ? { live, segments } : undefined;
}

/**
 * hls.js's id of an HLS segment (SPEC §3.5): the media sequence number in a live playlist, the
 * 0-based position in a VOD one. Shaka peers and hls.js peers of one stream then agree.
 */
export function hlsExternalId(playlist: MediaPlaylist, segment: PlaylistSegment): number {
  return playlist.live ? segment.mediaSequence : segment.position;
}

/**
 * `timeMs` for Shaka's response: how long the transfer would have taken at the engine's
 * bandwidth estimate (SPEC §4.11), so Shaka's own estimate follows the engine's; the measured
 * wall time when the engine gives no estimate. P2P Media Loader rounded to whole seconds.
 */
export function responseTimeMs(bandwidthBitsPerSecond: number, bytes: number, elapsedMs: number): number {
  if (bandwidthBitsPerSecond > 0 && Number.isFinite(bandwidthBitsPerSecond)) {
    return (bytes * 8000) / bandwidthBitsPerSecond;
  }
  return Math.max(0, elapsedMs);
}
