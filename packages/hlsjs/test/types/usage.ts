// Code written for p2p-media-loader-hlsjs 2.3 must type-check against this package with only
// the import changed. `npx tsc -p packages/hlsjs/test/types` (build.mjs runs it).
import Hls from "hls.js";
import {
  HlsJsP2PEngine,
  RequestError,
  type CoreEventMap,
  type DownloadSource,
  type HlsJsP2PEngineConfig,
  type HlsWithP2PConfig,
  type HlsWithP2PInstance,
  type PartialHlsJsP2PEngineConfig,
} from "../../src/index.js";

// injectMixin, with hls.js options next to `p2p`.
const HlsWithP2P = HlsJsP2PEngine.injectMixin(Hls);
const config: HlsWithP2PConfig<typeof Hls> = {
  maxBufferHole: 0.5,
  p2p: {
    core: {
      announceTrackers: ["wss://tracker.example"],
      rtcConfig: { iceServers: [] },
      swarmId: "swarm",
      mainStream: { highDemandTimeWindow: 20 },
      secondaryStream: { isP2PDisabled: true },
    },
    onHlsJsCreated(hls) {
      const engine: HlsJsP2PEngine = hls.p2pEngine;
      engine.addEventListener("onChunkDownloaded", (bytes: number, source: DownloadSource, peerId?: string) => {
        void [bytes, source, peerId];
      });
      hls.on(Hls.Events.LEVEL_UPDATED, () => {});
    },
  },
};
const hls: HlsWithP2PInstance<Hls> = new HlsWithP2P(config);
hls.attachMedia(document.createElement("video"));
hls.loadSource("https://example.com/master.m3u8");
// Statics of Hls survive the mixin.
const supported: boolean = HlsWithP2P.isSupported();
const eventName: string = HlsWithP2P.Events.MANIFEST_LOADED;
void [supported, eventName];
// Plain construction without p2p, and without any config.
void new HlsWithP2P();
void new HlsWithP2P({ startLevel: 0 });

// The manual path.
const partial: PartialHlsJsP2PEngineConfig = { core: { simultaneousHttpDownloads: 3 } };
const engine = new HlsJsP2PEngine(partial);
const manual = new Hls({ ...engine.getConfigForHlsJs() });
engine.bindHls(manual);
engine.bindHls(() => manual);

// Configuration and events.
const inForce: HlsJsP2PEngineConfig = engine.getConfig();
const windowSeconds: number = inForce.core.mainStream.highDemandTimeWindow;
const limit: number | undefined = inForce.core.segmentMemoryStorageLimit;
void [windowSeconds, limit];
engine.applyDynamicConfig({ core: { httpDownloadTimeWindow: 60, mainStream: { isP2PUploadDisabled: true } } });

const onError: CoreEventMap["onSegmentError"] = ({ error, segment, downloadSource, peerId, streamType }) => {
  const isRequestError: boolean = error instanceof RequestError;
  const kind: string = error.type;
  const when: number = error.timestamp;
  const id: number = segment.externalId;
  void [isRequestError, kind, when, id, downloadSource, peerId, streamType];
};
engine.addEventListener("onSegmentError", onError);
engine.removeEventListener("onSegmentError", onError);
engine.addEventListener("onPeerConnect", ({ peerId, streamType }) => void [peerId, streamType]);
engine.addEventListener("onSegmentLoaded", (d) => void [d.segmentUrl, d.bytesLength, d.downloadSource, d.peerId, d.streamType]);
engine.addEventListener("onChunkUploaded", (bytes, peerId) => void [bytes, peerId]);
engine.addEventListener("onTrackerError", ({ streamType, error }) => void [streamType, error]);
engine.destroy();

// @ts-expect-error: an unknown event name is refused.
engine.addEventListener("onSomethingElse", () => {});
// @ts-expect-error: a listener with the wrong arguments is refused.
engine.addEventListener("onChunkUploaded", (details: { peerId: string }) => void details);
// @ts-expect-error: options are type-checked.
new HlsJsP2PEngine({ core: { highDemandTimeWindow: "15" } });

// P2P Media Loader's fLoader class exposes its engine.
const fromLoader: HlsJsP2PEngine = engine.getConfigForHlsJs().fLoader.getEngine();
void fromLoader;
