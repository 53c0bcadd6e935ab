import type { AppDirectory } from '../apps/app-directory.js';
import { createComponentCore } from '../component-core.js';
import type { Config } from '../config/config.js';
import type { WxtokenMetrics } from '../metrics/wxtoken-metrics.js';
import type { Backend, CredentialBackend } from '../redis/redis-backend.js';
import type { CredentialEngine } from '../refresher/credential-engine.js';
import type { RefreshEvent } from '../refresher/credential-refresher.js';
import { scheduleDayTurn } from '../refresher/day-turn.js';
import type { Clock, Random } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { TicketType } from '../shared/tickets.js';
import { createTicketCore, ticketTypes } from '../ticket-core.js';
import { createTokenCore, DEFAULT_MAX_CONCURRENT_FETCHES } from '../token-core.js';
import { StoreReconciler } from '../token/store-reconciler.js';
import type { ComponentClient } from '../wechat/component-api.js';
import type { WeChatClient } from '../wechat/wechat-client.js';
import { RefreshLog } from './refresh-log.js';

export interface CredentialsDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  readonly wechat: WeChatClient;
  /** The component endpoints (third-party platforms). */
  readonly componentClient: ComponentClient;
  /** Every app served: configured ones and the platforms' authorizers. */
  readonly directory: AppDirectory;
  readonly backend: Backend;
  readonly metrics: WxtokenMetrics;
  readonly isLeader: () => boolean;
}

export type Credentials = Awaited<ReturnType<typeof openCredentials>>;

/** How long a starting replica waits for its pub/sub subscriptions before warming anyway. */
const WARM_SUBSCRIBE_MS = 2_000;

/**
 * Every credential this replica serves: the access_token engine (with forced refresh) and
 * one engine per configured ticket type. Each engine's cache follows its store (pub/sub, plus
 * a reconciler that re-reads and, on the leader, repairs), and the leader runs every engine's
 * refresh-ahead schedule.
 */
export async function openCredentials(d: CredentialsDeps) {
  const { config, clock, log, backend, metrics } = d;
  const timeoutMs = config.wechat.timeoutMs;
  const logTo = (level: 'info' | 'warn' | 'error', obj: object, msg: string): void =>
    log[level](obj, msg);
  const refreshLog = new RefreshLog(log, (appId) => d.directory.get(appId)?.component, clock);
  const onRefresh = (e: RefreshEvent): void => {
    refreshLog.record(e);
    metrics.onRefresh(e);
  };
  // What the store looks like to callers: 'down' until a reconcile pass reads every record.
  const storeHealth = (): string =>
    backend.kind === 'redis'
      ? tokenSync.reconciler.storeReachable
        ? backend.store.health()
        : 'down'
      : backend.kind;

  const storeLayout = () => ({ topology: backend.topology, primary: backend.primary() ?? '' });

  const componentIds = new Set(config.components.map((c) => c.componentAppId));
  const componentBackend = await backend.credential('component_token', (id) =>
    componentIds.has(id),
  );
  const components = createComponentCore({
    clock,
    random: d.random,
    components: config.components,
    directory: d.directory,
    client: d.componentClient,
    store: backend.components,
    tokenStore: componentBackend.store,
    locks: componentBackend.locks,
    refresh: config.refresh,
    maxConcurrentFetches: DEFAULT_MAX_CONCURRENT_FETCHES,
    lockTtlMs: timeoutMs * 2 + 5_000,
    maxWaitMs: timeoutMs + 1_000,
    storeHealth,
    onRefresh,
    log: logTo,
  });
  const tokens = createTokenCore({
    clock,
    random: d.random,
    apps: d.directory,
    wechat: d.wechat,
    // An authorizer's fetch may recover the component token first: two calls at worst.
    ...(config.components.length ? { authorizers: components.authorizerFetch } : {}),
    store: backend.store,
    locks: backend.locks,
    refresh: config.refresh,
    ...(backend.forceBudget ? { forceBudget: backend.forceBudget } : {}),
    lockTtlMs: timeoutMs * 4 + 5_000,
    maxWaitMs: timeoutMs * 2 + 1_000,
    isLeader: d.isLeader,
    storeHealth,
    storeLayout,
    onRefresh,
    log: logTo,
  });
  const componentService = components.attach(tokens.engine);
  const types = ticketTypes(config);
  const ticketBackends = new Map<TicketType, CredentialBackend>();
  for (const type of types) {
    const holds = (id: string): boolean => d.directory.get(id)?.tickets.includes(type) ?? false;
    ticketBackends.set(type, await backend.credential(`ticket:${type}`, holds));
  }
  const tickets = createTicketCore({
    clock,
    random: d.random,
    apps: d.directory,
    types,
    wechat: d.wechat,
    tokens,
    backend: (type) => ticketBackends.get(type)!,
    refresh: config.refresh,
    maxConcurrentFetches: DEFAULT_MAX_CONCURRENT_FETCHES,
    // getticket, then at worst a token check, a token fetch and getticket again.
    lockTtlMs: timeoutMs * 4 + 5_000,
    maxWaitMs: timeoutMs * 2 + 1_000,
    storeHealth,
    onRefresh,
    log: logTo,
  });

  const sync = (engine: CredentialEngine) => {
    const unsubscribe = engine.store.subscribe((record) => {
      if (engine.cache.offer(record) && engine.kind.name === 'access_token') {
        metrics.onTokenApplied(record, clock.now());
      }
    });
    const reconciler = new StoreReconciler({
      clock,
      apps: engine.apps,
      store: engine.store,
      cache: engine.cache,
      repair: (app) => engine.refresher.repair(app),
      holdsUnstored: (appId) => engine.refresher.holdsUnstored(appId),
      stableFallback: (app) => engine.refresher.fallback(app),
      stableFallbackMs: (config.refresh.stableWindowSeconds * 1000) / 2,
      isLeader: d.isLeader,
      intervalMs: config.redis.reconcileIntervalMs,
      recordsPerSecond: config.redis.reconcileRecordsPerSecond,
      log: logTo,
    });
    // After a store outage the leader leaves a live token alone long enough for a fetch that
    // lost its lock in the outage to finish (wechat.timeoutMs) and for its fetcher's next
    // reconcile pass to write it back (redis.reconcileIntervalMs).
    const graceMs = timeoutMs + config.redis.reconcileIntervalMs;
    engine.scheduler.setFetchHold({
      until: () => reconciler.fetchHoldUntil(graceMs),
      fetchMs: timeoutMs,
    });
    return { engine, reconciler, unsubscribe };
  };
  const tokenSync = sync(tokens.engine);
  const syncs = [
    tokenSync,
    ...[...tickets.engines.values()].map(sync),
    ...(config.components.length ? [sync(components.engine)] : []),
  ];

  return {
    tokens,
    tickets,
    components: { ...components, service: componentService },
    /** Readiness: the access_token cache holds what the store held (embedded: always). */
    get warmed(): boolean {
      return backend.kind === 'embedded' || tokenSync.reconciler.warmed;
    },
    storeHealth,
    storeLayout,
    /**
     * One pass over every record of every kind. A store that is down at start does not stop
     * the replica (a pod rescheduled during a Redis outage must not crash-loop): it starts not
     * ready and the reconcilers keep retrying with a backoff.
     */
    async warm(): Promise<void> {
      if (backend.kind !== 'redis') return;
      // Subscribed first, then read: a write in between reaches this replica either way.
      await Promise.all(syncs.map((s) => s.engine.store.subscribed?.(WARM_SUBSCRIBE_MS)));
      // Authorizers first: their token records are then read with everyone else's.
      await components.registry.sync().catch((err: unknown) => {
        log.warn({ err }, 'authorizer list not readable at start; retrying');
      });
      await Promise.all(syncs.map((s) => s.reconciler.reconcileOnce()));
      if (!tokenSync.reconciler.warmed) {
        log.warn('token store not reachable at start: not ready; retrying');
      }
    },
    /** The leader's work: every engine's refresh-ahead schedule, until `signal` aborts. */
    lead(signal: AbortSignal): Promise<void> {
      return Promise.all(syncs.map((s) => s.engine.scheduler.run(signal))).then(() => undefined);
    },
    /** Every replica's work: reconciling each cache with the store, until `signal` aborts. */
    async reconcile(signal: AbortSignal): Promise<void> {
      if (backend.kind !== 'redis') return;
      await Promise.all([
        ...syncs.map((s) => s.reconciler.run(signal)),
        ...(config.components.length
          ? [components.follow(signal, config.redis.reconcileIntervalMs)]
          : []),
      ]);
    },
    /** At 00:00 Beijing time daily quotas return: apps stopped by 45009 may fetch again. */
    startDayTurn(): { stop(): void } {
      return scheduleDayTurn(() => {
        log.info('Beijing day turned: daily quotas restored');
        for (const { engine } of syncs) {
          // Only the apps 45009 stopped: re-planning every one of 100,000 authorizers (a
          // heap update each) in one synchronous pass would hold the event loop.
          for (const appId of engine.status.clearQuotaFailures()) engine.scheduler.wake(appId);
        }
      });
    },
    /** Stops following the stores and closes them (the access_token store last: it owns the connections). */
    async close(): Promise<void> {
      refreshLog.close();
      for (const s of syncs) s.unsubscribe();
      for (const s of syncs.slice(1)) await s.engine.store.close();
      await backend.store.close();
    },
  };
}
