// p2pml-rs-hlsjs: P2P Media Loader 2.3's hls.js integration API over the p2p-media-loader-rs
// engine. What p2p-media-loader-hlsjs exports is exported here under the same names; the core
// types it re-uses (from p2p-media-loader-core) are exported too, since there is no separate
// core package to import them from.
export { HlsJsP2PEngine } from "./engine.js";
export type {
  DynamicHlsJsP2PEngineConfig,
  HlsJsP2PEngineConfig,
  PartialHlsJsP2PEngineConfig,
  HlsWithP2PInstance,
  HlsWithP2PConfig,
} from "./engine.js";
export type { HlsWithP2PClass } from "./mixin.js";

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
