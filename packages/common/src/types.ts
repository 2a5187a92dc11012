// Public types, shaped like p2p-media-loader-core 2.3's so that code written against P2P Media
// Loader compiles unchanged. The engine itself is the wasm module; these types describe what
// crosses the boundary.

/** Which swarm a stream belongs to: video (or muxed) renditions, or alternative audio. */
export type StreamType = "main" | "secondary";

/** Where a segment or chunk came from. */
export type DownloadSource = "http" | "p2p";

/** A byte range with an inclusive end. */
export type ByteRange = {
  start: number;
  end: number;
};

/** The fields that feed a stream's short id (SPEC §3.2); absent ones are left out. */
export type StreamDescriptor = {
  bitrate?: number;
  codecs?: string;
  width?: number;
  height?: number;
  language?: string;
  /** hls.js passes the CHANNELS attribute, Shaka a number: both hash the same. */
  channels?: string | number;
  name?: string;
  /** hls.js passes FRAME-RATE as written, Shaka a number: both hash the same. */
  frameRate?: string | number;
  videoRange?: string;
};

/** The local key of a segment: its URL, or `url|start-end` (end inclusive) for a range. */
export function segmentRuntimeId(url: string, byteRange?: ByteRange): string {
  return byteRange ? `${url}|${byteRange.start}-${byteRange.end}` : url;
}

/** A media segment as the engine knows it. */
export type Segment = {
  /** Local key: the URL, or `url|start-end` for a byte range. */
  readonly runtimeId: string;
  /**
   * The id on the wire: for HLS the media sequence number (live) or the position (VOD); for
   * DASH the start time in half seconds.
   */
  readonly externalId: number;
  readonly url: string;
  readonly byteRange?: ByteRange;
  /** Seconds on the playlist's timeline. */
  readonly startTime: number;
  readonly endTime: number;
};

/** Settings of one stream type. Every one has a default (see the README). */
export type StreamConfig = {
  /** Download from peers but never share. */
  isP2PUploadDisabled: boolean;
  /** Send every segment of this type to the player's own loader. */
  isP2PDisabled: boolean;
  /** Seconds ahead of the playhead that count as urgent (HTTP preferred). */
  highDemandTimeWindow: number;
  /** Seconds ahead of the playhead in which segments may be fetched over HTTP for the swarm. */
  httpDownloadTimeWindow: number;
  /** Milliseconds to hold back all HTTP after start, giving peers a chance. */
  httpDownloadInitialTimeoutMs: number;
  /** Seconds ahead of the playhead in which segments may be fetched from peers. */
  p2pDownloadTimeWindow: number;
  simultaneousHttpDownloads: number;
  simultaneousP2PDownloads: number;
  /** Largest data-channel message sent, in bytes. */
  webRtcMaxMessageSize: number;
  p2pNotReceivingBytesTimeoutMs: number;
  /** How long the swarm of a rendition no longer played is kept. */
  p2pInactiveLoaderDestroyTimeoutMs: number;
  httpNotReceivingBytesTimeoutMs: number;
  httpErrorRetries: number;
  p2pErrorRetries: number;
  /** WebTorrent tracker URLs (ws:// or wss://). */
  announceTrackers: string[];
  /** Passed to RTCPeerConnection. */
  rtcConfig: RTCConfiguration;
  /** Start of the peer id announced to trackers. */
  trackerClientVersionPrefix: string;
  /** Swarm identity; by default the manifest's response URL without its query. */
  swarmId?: string;
  validateP2PSegment?: (
    url: string,
    byteRange: ByteRange | undefined,
    data: ArrayBuffer,
  ) => Promise<boolean>;
  validateHTTPSegment?: (
    url: string,
    byteRange: ByteRange | undefined,
    data: ArrayBuffer,
  ) => Promise<boolean>;
  httpRequestSetup?: (
    segmentUrl: string,
    segmentByteRange: ByteRange | undefined,
    requestAbortSignal: AbortSignal,
    requestByteRange: { start: number; end?: number } | undefined,
  ) => Promise<Request | undefined | null>;
};

/** Settings shared by both stream types. */
export type CommonCoreConfig = {
  /** Segment store limit in MiB; `undefined` lets the engine pick one for the device. */
  segmentMemoryStorageLimit: number | undefined;
  /** Accepted for type compatibility with P2P Media Loader; see the README. */
  customSegmentStorageFactory?: (isLive: boolean) => unknown;
};

/** What a page passes: anything left out takes its default; top-level keys apply to both types. */
export type CoreConfig = Partial<StreamConfig> &
  Partial<CommonCoreConfig> & {
    mainStream?: Partial<StreamConfig>;
    secondaryStream?: Partial<StreamConfig>;
  };

/** The configuration in force, as `getConfig()` reports it. */
export type DefinedCoreConfig = CommonCoreConfig & {
  mainStream: StreamConfig;
  secondaryStream: StreamConfig;
};

/** The stream settings that `applyDynamicConfig` may change. */
export type DynamicStreamProperties =
  | "highDemandTimeWindow"
  | "httpDownloadInitialTimeoutMs"
  | "httpDownloadTimeWindow"
  | "p2pDownloadTimeWindow"
  | "simultaneousHttpDownloads"
  | "simultaneousP2PDownloads"
  | "webRtcMaxMessageSize"
  | "p2pNotReceivingBytesTimeoutMs"
  | "p2pInactiveLoaderDestroyTimeoutMs"
  | "httpNotReceivingBytesTimeoutMs"
  | "httpErrorRetries"
  | "p2pErrorRetries"
  | "validateP2PSegment"
  | "httpRequestSetup"
  | "isP2PDisabled"
  | "isP2PUploadDisabled";

export type DynamicStreamConfig = Partial<
  Pick<StreamConfig, DynamicStreamProperties>
>;

export type DynamicCoreConfig = Partial<
  Pick<CoreConfig, DynamicStreamProperties>
> &
  Partial<CommonCoreConfig> & {
    mainStream?: DynamicStreamConfig;
    secondaryStream?: DynamicStreamConfig;
  };

/** Kinds of failure of one download attempt, as P2P Media Loader names them. */
export type RequestErrorType =
  | "abort"
  | "bytes-receiving-timeout"
  | "http-error"
  | "http-bytes-mismatch"
  | "http-unexpected-status-code"
  | "http-segment-validation-failed"
  | "peer-response-bytes-length-mismatch"
  | "peer-protocol-violation"
  | "peer-segment-absent"
  | "peer-closed"
  | "p2p-segment-validation-failed";

/** The error carried by `onSegmentError`: an Error with the attempt's kind and when it failed. */
export class RequestError<
  T extends RequestErrorType = RequestErrorType,
> extends Error {
  /** `performance.now()` when the failure happened. */
  readonly timestamp: number;

  constructor(
    readonly type: T,
    message?: string,
    timestamp?: number,
  ) {
    super(message);
    this.name = "RequestError";
    this.timestamp = timestamp ?? performance.now();
  }
}

export type SegmentStartDetails = {
  segment: Segment;
  downloadSource: DownloadSource;
  peerId: string | undefined;
};

export type SegmentErrorDetails = {
  error: RequestError;
  segment: Segment;
  downloadSource: DownloadSource;
  peerId: string | undefined;
  streamType: StreamType;
};

export type SegmentAbortDetails = {
  segment: Segment;
  downloadSource: DownloadSource | undefined;
  peerId: string | undefined;
  streamType: StreamType;
};

export type SegmentLoadDetails = {
  segmentUrl: string;
  bytesLength: number;
  downloadSource: DownloadSource;
  peerId: string | undefined;
  streamType: StreamType;
};

export type PeerDetails = {
  peerId: string;
  streamType: StreamType;
};

export type PeerErrorDetails = {
  peerId: string;
  streamType: StreamType;
  error: Error;
};

export type TrackerErrorDetails = {
  streamType: StreamType;
  error: unknown;
};

export type TrackerWarningDetails = {
  streamType: StreamType;
  warning: unknown;
};

/** Event names and the arguments their listeners receive. */
export type CoreEventMap = {
  onSegmentLoaded: (params: SegmentLoadDetails) => void;
  onSegmentError: (params: SegmentErrorDetails) => void;
  onSegmentAbort: (params: SegmentAbortDetails) => void;
  onSegmentStart: (params: SegmentStartDetails) => void;
  onPeerConnect: (params: PeerDetails) => void;
  onPeerClose: (params: PeerDetails) => void;
  onPeerError: (params: PeerErrorDetails) => void;
  /** Once per HTTP body chunk and once per data message received from a peer. */
  onChunkDownloaded: (
    bytesLength: number,
    downloadSource: DownloadSource,
    peerId?: string,
  ) => void;
  /** Once per data message sent to a peer. */
  onChunkUploaded: (bytesLength: number, peerId: string) => void;
  onTrackerError: (params: TrackerErrorDetails) => void;
  onTrackerWarning: (params: TrackerWarningDetails) => void;
};

/** Counters since the engine was created (not in P2P Media Loader). */
export type EngineStats = {
  httpBytes: number;
  p2pBytes: number;
  uploadedBytes: number;
  peers: number;
};
