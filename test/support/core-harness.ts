import { fixedApps, type AppDirectory } from '../../src/apps/app-directory.js';
import type { AppConfig, AppMode, Config } from '../../src/config/config.js';
import type { RefreshEvent } from '../../src/refresher/credential-refresher.js';
import { Secret } from '../../src/shared/secret.js';
import { MemoryTokenStore } from '../../src/token/memory-token-store.js';
import { createTokenCore } from '../../src/token-core.js';
import { FakeClock } from './fake-clock.js';
import { ScriptedWeChat } from './scripted-wechat.js';

export const APP_ID = 'wxunit0000000001';

/** The refresh policy of the unit harnesses (the config defaults, spelled out). */
export const UNIT_REFRESH: Config['refresh'] = {
  aheadSeconds: 300,
  stableWindowSeconds: 300,
  jitterRatio: 0.2,
  retryMinMs: 1000,
  retryMaxMs: 60_000,
  configErrorRetryMs: 600_000,
  forceMinIntervalMs: 10_000,
  forceDailyBudget: 50,
};

export interface CoreOptions {
  mode?: AppMode;
  aheadSeconds?: number;
  forceMinIntervalMs?: number;
  forceDailyBudget?: number;
  /** Serve the app from this directory (added at run time, so it can leave) instead of a fixed set. */
  directory?: AppDirectory;
}

/** The token core wired by the same factory as main.ts, on a fake clock and a scripted WeChat. */
export function coreHarness(o: CoreOptions = {}) {
  const clock = new FakeClock();
  const wechat = new ScriptedWeChat(clock);
  const app: AppConfig = {
    appId: APP_ID,
    mode: o.mode ?? 'classic',
    secret: new Secret('unit-secret'),
    secretSource: 'inline',
    tickets: [],
  };
  const store = new MemoryTokenStore(clock);
  const events: RefreshEvent[] = [];
  const core = createTokenCore({
    clock,
    random: () => 0.5,
    apps: o.directory ? (o.directory.add(app), o.directory) : fixedApps([app]),
    wechat,
    store,
    locks: store,
    refresh: {
      ...UNIT_REFRESH,
      ...(o.aheadSeconds !== undefined ? { aheadSeconds: o.aheadSeconds } : {}),
      ...(o.forceMinIntervalMs !== undefined ? { forceMinIntervalMs: o.forceMinIntervalMs } : {}),
      ...(o.forceDailyBudget !== undefined ? { forceDailyBudget: o.forceDailyBudget } : {}),
    },
    lockTtlMs: 15_000,
    maxWaitMs: 5_000,
    isLeader: () => true,
    onRefresh: (e) => events.push(e),
  });
  store.subscribe((t) => core.cache.offer(t));
  return { clock, wechat, app, store, events, ...core };
}
