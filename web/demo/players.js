// The two players, each with our P2P engine, behind one small interface:
//   start({ video, src, core, modules, onEngine, onError }) → { name, live(), latency(), rendition(), destroy() }
// `core` is P2P Media Loader's core config ({ announceTrackers, rtcConfig, swarmId, … });
// `onEngine(engine)` receives the engine as soon as it exists, to subscribe to its events.
// The code is what a page using p2pml-rs-hlsjs or p2pml-rs-shaka writes: the packages have the
// APIs of p2p-media-loader-hlsjs and p2p-media-loader-shaka 2.3.

/** hls.js with p2pml-rs-hlsjs (its `injectMixin` path). */
export async function startHlsjs({ video, src, core, modules, onEngine, onError }) {
  const [{ default: Hls }, { HlsJsP2PEngine }] = await Promise.all([
    import("hls.js"),
    import(modules.hlsjs.module),
  ]);
  const HlsWithP2P = HlsJsP2PEngine.injectMixin(Hls);
  const hls = new HlsWithP2P({
    p2p: {
      core,
      onHlsJsCreated(instance) {
        onEngine(instance.p2pEngine);
      },
    },
  });
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (data.fatal) onError(`hls.js fatal error: ${data.type} ${data.details}`);
  });
  hls.attachMedia(video);
  hls.loadSource(src);
  const level = () => hls.levels?.[hls.currentLevel];
  return {
    name: `hls.js ${Hls.version}`,
    live: () => level()?.details?.live ?? null,
    latency: () => (level()?.details?.live && Number.isFinite(hls.latency) ? hls.latency : null),
    rendition: () => (level()?.height ? `${level().height}p` : null),
    destroy: () => hls.destroy(),
  };
}

/** Loads a classic script (Shaka Player's compiled build defines `window.shaka`). */
function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.append(script);
  });
}

/** Shaka Player with p2pml-rs-shaka (`registerPlugins`, then one engine bound to the player). */
export async function startShaka({ video, src, core, modules, onEngine, onError }) {
  const [, { ShakaP2PEngine }] = await Promise.all([
    window.shaka ? null : loadScript(modules.shaka.script),
    import(modules.shaka.module),
  ]);
  const shaka = window.shaka;
  shaka.polyfill.installAll();
  ShakaP2PEngine.registerPlugins(shaka);
  const player = new shaka.Player();
  await player.attach(video);
  const engine = new ShakaP2PEngine({ core }, shaka);
  onEngine(engine);
  engine.bindShakaPlayer(player);
  player.addEventListener("error", (event) => {
    const e = event.detail;
    onError(`Shaka error ${e?.code ?? ""}: ${e?.message ?? e}`);
  });
  await player.load(src);
  const active = () => player.getVariantTracks().find((t) => t.active);
  return {
    name: `Shaka Player ${shaka.Player.version}`,
    live: () => player.isLive(),
    // Behind the wall clock: now minus the presentation's start (availabilityStartTime) minus
    // the position. (seekRange().end already has Shaka's presentation delay taken off.)
    latency: () => {
      const start = player.isLive() ? player.getPresentationStartTimeAsDate() : null;
      return start ? Math.max(0, Date.now() / 1000 - start.getTime() / 1000 - video.currentTime) : null;
    },
    rendition: () => (active()?.height ? `${active().height}p` : null),
    destroy: () => {
      engine.destroy();
      return player.destroy();
    },
  };
}
