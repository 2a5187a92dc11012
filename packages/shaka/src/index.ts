// p2pml-rs-shaka: P2P Media Loader 2.3's Shaka Player integration API over the
// p2p-media-loader-rs engine. What p2p-media-loader-shaka exports is exported here under the
// same names; the core types it re-uses (from p2p-media-loader-core) are exported too, since
// there is no separate core package to import them from.
export { ShakaP2PEngine } from "./engine.js";
export type {
  DynamicShakaP2PEngineConfig,
  PartialShakaEngineConfig,
  ShakaP2PEngineConfig,
} from "./engine.js";
export type { Shaka } from "./shaka-types.js";

export { RequestError } from "./types.js";
export type {
  ByteRange,
  CommonCoreConfig,
  CoreConfig,
  CoreEventMap,
  DefinedCoreConfig,
  DownloadSource,
  DynamicCoreConfig,
  DynamicStreamConfig,
  DynamicStreamProperties,
  EngineStats,
  PeerDetails,
  PeerErrorDetails,
  RequestErrorType,
  Segment,
  SegmentAbortDetails,
  SegmentErrorDetails,
  SegmentLoadDetails,
  SegmentStartDetails,
  StreamConfig,
  StreamType,
  TrackerErrorDetails,
  TrackerWarningDetails,
} from "./types.js";

export { isWasmLoaded, wasmReady } from "./wasm-loader.js";
