// HlsJsP2PEngine.injectMixin: a subclass of the page's hls.js class that creates its own
// engine from the `p2p` part of its config and binds it to itself.
import type {
  HlsJsP2PEngine,
  HlsWithP2PConfig,
  HlsWithP2PInstance,
  PartialHlsJsP2PEngineConfig,
} from "./engine.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any constructor will do
type AnyConstructor = new (...args: any[]) => any;

type P2POptions = PartialHlsJsP2PEngineConfig & {
  onHlsJsCreated?: (hls: unknown) => void;
};

/**
 * The class keeps the statics of the class it extends (Hls.Events, Hls.isSupported(), …), at
 * run time by inheritance and in its type.
 */
export type HlsWithP2PClass<HlsClass extends AnyConstructor> = (new (
  config?: HlsWithP2PConfig<HlsClass>,
) => HlsWithP2PInstance<InstanceType<HlsClass>>) &
  Omit<HlsClass, "prototype">;

export function injectMixin<HlsClass extends AnyConstructor>(
  HlsBase: HlsClass,
  createEngine: (config: PartialHlsJsP2PEngineConfig | undefined) => HlsJsP2PEngine,
): HlsWithP2PClass<HlsClass> {
  class HlsWithP2P extends HlsBase {
    readonly #p2pEngine: HlsJsP2PEngine;

    get p2pEngine(): HlsJsP2PEngine {
      return this.#p2pEngine;
    }

    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a mixin's constructor
    constructor(...args: any[]) {
      const given = args[0] as ({ p2p?: P2POptions } & Record<string, unknown>) | undefined;
      const { p2p, ...hlsConfig } = given ?? {};
      const engine = createEngine(p2p);
      super({ ...hlsConfig, ...engine.getConfigForHlsJs() });
      engine.bindHls(this);
      this.#p2pEngine = engine;
      p2p?.onHlsJsCreated?.(this);
    }
  }
  return HlsWithP2P as unknown as HlsWithP2PClass<HlsClass>;
}
