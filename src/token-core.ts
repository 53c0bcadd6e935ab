import type { AppSet } from './apps/app-directory.js';
import type { Config } from './config/config.js';
import { accessTokenKind, type AuthorizerTokenFetch } from './refresher/access-token-kind.js';
import { createCredentialEngine } from './refresher/credential-engine.js';
import { ForceBudget, type ForceBudgetPort } from './refresher/force-budget.js';
import { ForceRefresher } from './refresher/force-refresher.js';
import type { RefreshEvent } from './refresher/credential-refresher.js';
import type { Clock, Random } from './shared/clock.js';
import type { RefreshLocks, TokenStore } from './token/token-store.js';
import { TokenService, type StoreLayout } from './service/token-service.js';
import type { WeChatClient } from './wechat/wechat-client.js';

export interface TokenCoreDeps {
  readonly clock: Clock;
  readonly random: Random;
  /** Configured apps and, at run time, third-party authorizers. */
  readonly apps: AppSet;
  readonly wechat: WeChatClient;
  /** How an authorizer's token is fetched (through its component); absent: no components. */
  readonly authorizers?: AuthorizerTokenFetch;
  readonly store: TokenStore;
  readonly locks: RefreshLocks;
  readonly refresh: Config['refresh'];
  /** The forced-fetch budget; default: this process's own, in memory. */
  readonly forceBudget?: ForceBudgetPort;
  /**
   * Scheduled upstream fetches in flight at once, across all apps (default 64). Meant to
   * come from a config key `refresh.maxConcurrentFetches` once config has one.
   */
  readonly maxConcurrentFetches?: number;
  /** Refresh lock TTL: must outlast one upstream call. */
  readonly lockTtlMs: number;
  /** Upper bound on how long GetToken waits for an app's first token. */
  readonly maxWaitMs: number;
  readonly isLeader: () => boolean;
  readonly storeHealth?: () => string;
  readonly storeLayout?: () => StoreLayout;
  readonly onRefresh?: (event: RefreshEvent) => void;
  readonly log?: (level: 'info' | 'warn' | 'error', obj: object, msg: string) => void;
}

export type TokenCore = ReturnType<typeof createTokenCore>;

/**
 * 64 requests in flight: about 1,300 fetches/s at WeChat's usual 50 ms, so 10,000 apps start
 * in ~8 s over 64 reused connections, and a scheduled wave (10,000 apps over a 60 s jitter
 * window is 170/s) never waits for a slot. Unbounded, a 10,000-app startup opened 10,000
 * connections at once and took ~50 s (benchmark "scale").
 */
export const DEFAULT_MAX_CONCURRENT_FETCHES = 64;

/**
 * The token domain wired together: cache, status, budget, refresher, scheduler, forced
 * refresh and the service the handlers call. main.ts gives it real ports (store, lease,
 * WeChat, clock); unit tests give it a fake clock and a scripted WeChat, so both run the
 * same wiring.
 */
export function createTokenCore(d: TokenCoreDeps) {
  const engine = createCredentialEngine({
    kind: accessTokenKind(d.wechat, d.authorizers),
    clock: d.clock,
    random: d.random,
    apps: d.apps,
    store: d.store,
    locks: d.locks,
    refresh: d.refresh,
    maxConcurrentFetches: d.maxConcurrentFetches ?? DEFAULT_MAX_CONCURRENT_FETCHES,
    lockTtlMs: d.lockTtlMs,
    ...(d.onRefresh ? { onRefresh: d.onRefresh } : {}),
    ...(d.log ? { log: d.log } : {}),
  });
  const { cache, status, refresher, scheduler } = engine;
  const budget = d.forceBudget ?? new ForceBudget(d.refresh, d.clock);
  d.apps.subscribe({ removed: (app) => budget.forget(app.appId) });
  const forcer = new ForceRefresher({
    clock: d.clock,
    cache,
    refresher,
    status,
    wechat: d.wechat,
    budget,
    store: d.store,
    ...(d.log ? { log: d.log } : {}),
  });
  const service = new TokenService({
    clock: d.clock,
    apps: d.apps,
    cache,
    status,
    forcer,
    budget,
    isRefreshing: (appId) => refresher.isRefreshing(appId),
    onRefreshFailed: (listener) =>
      refresher.subscribe((e) => {
        if (e.result === 'error') listener(e.appId);
      }),
    isLeader: d.isLeader,
    ...(d.storeHealth ? { storeHealth: d.storeHealth } : {}),
    ...(d.storeLayout ? { storeLayout: d.storeLayout } : {}),
    maxWaitMs: d.maxWaitMs,
  });
  return { engine, cache, status, budget, refresher, scheduler, forcer, service };
}
