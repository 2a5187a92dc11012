// Code written for p2p-media-loader-shaka 2.3 must type-check against this package with only
// the import changed. `npx tsc -p packages/shaka/test/types` (build.mjs runs it).
import type shaka from "shaka-player/dist/shaka-player.compiled.d.ts";
import {
  RequestError,
  ShakaP2PEngine,
  type CoreEventMap,
  type DownloadSource,
  type DynamicShakaP2PEngineConfig,
  type PartialShakaEngineConfig,
  type ShakaP2PEngineConfig,
} from "../../src/index.js";

declare const shakaNamespace: typeof shaka;

// Plugins once, with the namespace or from window.
ShakaP2PEngine.registerPlugins(shakaNamespace);
ShakaP2PEngine.registerPlugins();

const config: PartialShakaEngineConfig = {
  core: {
    announceTrackers: ["wss://tracker.example"],
    rtcConfig: { iceServers: [] },
    swarmId: "swarm",
    mainStream: { highDemandTimeWindow: 20 },
    secondaryStream: { isP2PDisabled: true },
  },
};
const engine = new ShakaP2PEngine(config, shakaNamespace);
void new ShakaP2PEngine();
void new ShakaP2PEngine({ core: { simultaneousHttpDownloads: 3 } });

const player = new shakaNamespace.Player();
engine.bindShakaPlayer(player);
void player.load("https://example.com/manifest.mpd");

// Configuration and events.
const inForce: ShakaP2PEngineConfig = engine.getConfig();
const windowSeconds: number = inForce.core.mainStream.highDemandTimeWindow;
const limit: number | undefined = inForce.core.segmentMemoryStorageLimit;
void [windowSeconds, limit];
const dynamic: DynamicShakaP2PEngineConfig = {
  core: { httpDownloadTimeWindow: 60, mainStream: { isP2PUploadDisabled: true } },
};
engine.applyDynamicConfig(dynamic);

engine.addEventListener("onChunkDownloaded", (bytes: number, source: DownloadSource, peerId?: string) => {
  void [bytes, source, peerId];
});
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
engine.destroy();
ShakaP2PEngine.unregisterPlugins(shakaNamespace);

// @ts-expect-error: an unknown event name is refused.
engine.addEventListener("onSomethingElse", () => {});
// @ts-expect-error: a listener with the wrong arguments is refused.
engine.addEventListener("onChunkUploaded", (details: { peerId: string }) => void details);
// @ts-expect-error: options are type-checked.
new ShakaP2PEngine({ core: { highDemandTimeWindow: "15" } });
// @ts-expect-error: bindShakaPlayer takes a Shaka player.
engine.bindShakaPlayer({});
