import type { AppSet } from '../apps/app-directory.js';
import type { Config } from '../config/config.js';
import type { Clock, Random } from '../shared/clock.js';
import { TokenCache } from '../token/token-cache.js';
import type { RefreshLocks, TokenStore } from '../token/token-store.js';
import { AppStatusBook } from './app-status-book.js';
import type { CredentialKind } from './credential-kind.js';
import { CredentialRefresher, type RefreshEvent } from './credential-refresher.js';
import { RefreshScheduler } from './refresh-scheduler.js';

export interface CredentialEngineDeps {
  readonly kind: CredentialKind;
  readonly clock: Clock;
  readonly random: Random;
  /** The apps that hold a credential of this kind (it may change at run time). */
  readonly apps: AppSet;
  /** This kind's records and refresh locks (each kind has its own keys). */
  readonly store: TokenStore;
  readonly locks: RefreshLocks;
  readonly refresh: Config['refresh'];
  /** Scheduled upstream fetches of this kind in flight at once, across all apps. */
  readonly maxConcurrentFetches: number;
  /** Refresh lock TTL: must outlast the kind's longest fetch. */
  readonly lockTtlMs: number;
  readonly onRefresh?: (event: RefreshEvent) => void;
  readonly log?: (level: 'info' | 'warn' | 'error', obj: object, msg: string) => void;
}

export type CredentialEngine = ReturnType<typeof createCredentialEngine>;

/**
 * The engine for one credential kind: this replica's cache of it, its status, the refresher
 * (single flight, lock, store re-read, fetch, fenced write, propagation) and the leader's
 * refresh-ahead schedule. Every kind runs the same parts; only `kind` differs, so every
 * invariant that holds for access tokens holds for tickets the same way.
 */
export function createCredentialEngine(d: CredentialEngineDeps) {
  const cache = new TokenCache(d.clock);
  // A departed app (an unauthorized authorizer) is never served again from this replica.
  d.apps.subscribe({ removed: (app) => cache.drop(app.appId) });
  const status = new AppStatusBook(d.apps);
  const refresher = new CredentialRefresher({
    kind: d.kind,
    clock: d.clock,
    store: d.store,
    locks: d.locks,
    cache,
    status,
    lockTtlMs: d.lockTtlMs,
    ...(d.onRefresh ? { onRefresh: d.onRefresh } : {}),
    ...(d.log ? { log: d.log } : {}),
  });
  const scheduler = new RefreshScheduler({
    clock: d.clock,
    random: d.random,
    apps: d.apps,
    cache,
    refresher,
    status,
    policy: d.refresh,
    maxConcurrentFetches: d.maxConcurrentFetches,
    ...(d.log ? { log: d.log } : {}),
  });
  return { kind: d.kind, apps: d.apps, store: d.store, cache, status, refresher, scheduler };
}
