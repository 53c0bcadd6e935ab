import type { AppConfig, AppMode } from '../../src/config/config.js';
import { AppStatusBook } from '../../src/refresher/app-status-book.js';
import { ForceBudget } from '../../src/refresher/force-budget.js';
import { ForceRefresher } from '../../src/refresher/force-refresher.js';
import { RefreshScheduler } from '../../src/refresher/refresh-scheduler.js';
import { TokenRefresher, type RefreshEvent } from '../../src/refresher/token-refresher.js';
import { Secret } from '../../src/shared/secret.js';
import { MemoryTokenStore } from '../../src/token/memory-token-store.js';
import { TokenCache } from '../../src/token/token-cache.js';
import { TokenService } from '../../src/token/token-service.js';
import { FakeClock } from './fake-clock.js';
import { ScriptedWeChat } from './scripted-wechat.js';

export const APP_ID = 'wxunit0000000001';

export interface CoreOptions {
  mode?: AppMode;
  aheadSeconds?: number;
  forceMinIntervalMs?: number;
  forceDailyBudget?: number;
}

/** The token core wired as main.ts wires it, on a fake clock and a scripted WeChat. */
export function coreHarness(o: CoreOptions = {}) {
  const clock = new FakeClock();
  const wechat = new ScriptedWeChat(clock);
  const app: AppConfig = {
    appId: APP_ID,
    mode: o.mode ?? 'classic',
    secret: new Secret('unit-secret'),
    secretSource: 'inline',
  };
  const apps = [app];
  const store = new MemoryTokenStore(clock);
  const cache = new TokenCache();
  store.subscribe((t) => cache.offer(t));
  const status = new AppStatusBook(apps);
  const budget = new ForceBudget({
    forceMinIntervalMs: o.forceMinIntervalMs ?? 10_000,
    forceDailyBudget: o.forceDailyBudget ?? 50,
  });
  const events: RefreshEvent[] = [];
  const refresher = new TokenRefresher({
    clock,
    wechat,
    store,
    locks: store,
    cache,
    status,
    lockTtlMs: 15_000,
    onRefresh: (e) => events.push(e),
  });
  const policy = {
    aheadSeconds: o.aheadSeconds ?? 300,
    stableWindowSeconds: 300,
    jitterRatio: 0.2,
    retryMinMs: 1000,
    retryMaxMs: 60_000,
    configErrorRetryMs: 600_000,
  };
  const scheduler = new RefreshScheduler({
    clock,
    random: () => 0.5,
    apps,
    cache,
    refresher,
    status,
    policy,
  });
  const forcer = new ForceRefresher({ clock, wechat, cache, refresher, status, budget });
  const service = new TokenService({
    clock,
    apps,
    cache,
    status,
    forcer,
    budget,
    isRefreshing: (id) => refresher.isRefreshing(id),
    onRefreshFailed: (listener) =>
      refresher.subscribe((e) => {
        if (e.result === 'error') listener(e.appId);
      }),
    isLeader: () => true,
    maxWaitMs: 5_000,
  });
  return {
    clock,
    wechat,
    app,
    store,
    cache,
    status,
    budget,
    refresher,
    scheduler,
    forcer,
    service,
    events,
  };
}
