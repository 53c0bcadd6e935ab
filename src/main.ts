import * as grpc from '@grpc/grpc-js';
import type { Config } from './config/config.js';
import { startMetricsServer } from './metrics/metrics-server.js';
import { Authorizer } from './auth/authorizer.js';
import { createCallGuard, SESSION_CALLS } from './auth/call-guard.js';
import { CallerRateLimiter } from './auth/caller-rate-limiter.js';
import { WxtokenMetrics } from './metrics/wxtoken-metrics.js';
import type { AppStatusReport } from './service/token-service.js';
import { GrpcServer } from './grpc/grpc-server.js';
import { LeaderElector } from './leader/leader-elector.js';
import { MemoryLease } from './leader/memory-lease.js';
import { scheduleDayTurn } from './refresher/day-turn.js';
import type { RefreshEvent } from './refresher/credential-refresher.js';
import { createTokenCore, type TokenCore } from './token-core.js';
import { createRedisBackend, type Backend } from './redis/redis-backend.js';
import { StoreReconciler } from './token/store-reconciler.js';
import { LoginService } from './login/login-service.js';
import { MemorySessionStore } from './login/memory-session-store.js';
import { MemoryAuditLog } from './audit/memory-audit-log.js';
import { createRpcAuditor } from './grpc/rpc-audit.js';
import { UnauthenticatedRefusals } from './grpc/unauthenticated-refusals.js';
import { systemClock, type Clock, type Random } from './shared/clock.js';
import { createLogger, type Logger } from './shared/logger.js';
import { MemoryTokenStore } from './token/memory-token-store.js';
import { HttpWeChatClient } from './wechat/http-wechat-client.js';
import type { WeChatClient } from './wechat/wechat-client.js';
import { operatorHint } from './wechat/wechat-error.js';

export interface RunningServer {
  readonly grpcPort: number;
  readonly service: TokenCore['service'];
  readonly log: Logger;
  /** Ordered shutdown: stop taking calls, stop leader work, release the lease, close the store. */
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly clock?: Clock;
  readonly random?: Random;
  readonly log?: Logger;
  readonly wechat?: WeChatClient;
}

/** The composition root: the only place that wires the parts together (style.md point 15). */
export async function startServer(
  config: Config,
  options: StartOptions = {},
): Promise<RunningServer> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const log = options.log ?? createLogger(config.log);
  const apps = config.apps;

  // Metrics read state at scrape time through these late-bound sources.
  let ready = false;
  let sources = { apps: (): AppStatusReport[] => [], isLeader: () => false, storeUp: () => true };
  const metrics = new WxtokenMetrics({
    apps: () => sources.apps(),
    isLeader: () => sources.isLeader(),
    storeUp: () => sources.storeUp(),
    ready: () => ready,
  });
  metrics.initApps(apps.map((a) => a.appId));
  const wechat =
    options.wechat ??
    new HttpWeChatClient({
      baseUrl: config.wechat.baseUrl,
      timeoutMs: config.wechat.timeoutMs,
      clock,
      observer: { onResponse: (e) => metrics.onUpstream(e) },
    });
  // Embedded mode (no redis.urls): in-memory store, locks and lease behind the cluster's ports.
  const backend: Backend = config.redis.urls.length
    ? await createRedisBackend(config, clock, log, (reason, source) =>
        metrics.onUntrustedRecord(source, reason),
      )
    : embeddedBackend(clock, config.audit.maxEvents);
  const { store, locks, lease } = backend;
  // The elector is created below; leadership is read through this late-bound function.
  let isLeader = (): boolean => false;
  let storeHealth = (): string => backend.kind;
  const { cache, status, scheduler, service, refresher } = createTokenCore({
    clock,
    random,
    apps,
    wechat,
    store,
    locks,
    refresh: config.refresh,
    ...(backend.forceBudget ? { forceBudget: backend.forceBudget } : {}),
    lockTtlMs: config.wechat.timeoutMs * 2 + 5_000,
    maxWaitMs: config.wechat.timeoutMs + 1_000,
    isLeader: () => isLeader(),
    storeHealth: () => storeHealth(),
    onRefresh: (e) => {
      logRefresh(log, e);
      metrics.onRefresh(e);
    },
    log: (level, obj, msg) => log[level](obj, msg),
  });
  const elector = new LeaderElector({
    lease,
    clock,
    ttlMs: config.lease.ttlMs,
    renewIntervalMs: config.lease.renewIntervalMs,
    onStartedLeading: (signal) => {
      metrics.onLeadershipChange();
      log.info({ leader: true }, 'became leader; running the refresh schedule');
      return scheduler.run(signal);
    },
    onStoppedLeading: () => {
      metrics.onLeadershipChange();
      log.warn({ leader: false }, 'stopped leading');
    },
    onExtensionFailed: () => {
      metrics.onLeaseExtensionFailed();
      log.warn('leader lease could not be extended in time; stepping down');
    },
    onError: (err) => log.error({ err }, 'leader lease error'),
  });
  isLeader = () => elector.isLeader();

  // 1. Warm the cache from the store (a cluster's replicas start with the current tokens).
  //    A store that is down at start does not stop the replica (a pod rescheduled during a
  //    Redis outage must not crash-loop): it starts not ready, answers UNAVAILABLE saying
  //    why, and the reconciler keeps retrying with a backoff until one pass reads every app.
  const unsubscribeStore = store.subscribe((token) => {
    if (cache.offer(token)) metrics.onTokenApplied(token, clock.now());
  });
  const reconciler = new StoreReconciler({
    clock,
    apps,
    store,
    cache,
    repair: (app) => refresher.repair(app),
    stableFallback: (app) => refresher.fallback(app),
    stableFallbackMs: (config.refresh.stableWindowSeconds * 1000) / 2,
    isLeader: () => elector.isLeader(),
    intervalMs: config.redis.reconcileIntervalMs,
    log: (level, obj, msg) => log[level](obj, msg),
  });
  // Decided: only what a retry cannot fix stops the start. Redis refusing our credentials or
  // certificate is told apart in createRedisBackend (ConfigError, exit 2); a node that is down,
  // slow or without quorum is an outage that ends, so the replica starts and waits for it.
  if (backend.kind === 'redis') {
    await reconciler.reconcileOnce();
    storeHealth = () => (reconciler.storeReachable ? store.health() : 'down');
    if (!reconciler.warmed) log.warn('token store not reachable at start: not ready; retrying');
  }

  // 2. Serve at once: GetToken waits for the first fetch of a warming app.
  const login = new LoginService({
    clock,
    apps,
    login: config.login,
    wechat,
    sessions: backend.sessions,
    locks,
    accessToken: async (appId) => (await service.getToken(appId)).value,
    onExchange: (appId, result) => metrics.onCode2Session(appId, result),
  });
  sources = {
    apps: () => service.listApps(),
    isLeader: () => isLeader(),
    storeUp: () => storeHealth() !== 'down',
  };
  const metricsServer = config.metrics.listen
    ? await startMetricsServer(config.metrics.listen, metrics.registry)
    : undefined;
  const authorizer = new Authorizer(config.auth.callers);
  const { limits } = config;
  const sessionCalls = {
    perSecond: limits.sessionCallsPerSecond,
    burst: limits.sessionCallsPerSecond,
  };
  const limiter = new CallerRateLimiter(clock, {
    ForceRefresh: {
      perSecond: limits.forceRefreshPerMinute / 60,
      burst: limits.forceRefreshPerMinute,
    },
    Code2Session: { perSecond: limits.code2SessionPerSecond, burst: limits.code2SessionPerSecond },
    CheckSession: sessionCalls,
    ResetSessionKey: sessionCalls,
  });
  const perSession = {
    perSecond: limits.perSessionPerMinute / 60,
    burst: limits.perSessionPerMinute,
  };
  const handleLimiter = new CallerRateLimiter(
    clock,
    { [SESSION_CALLS]: perSession },
    100_000,
    'session',
  );
  const grpcServer = new GrpcServer(service, login, {
    ...(config.tls ? { tls: config.tls } : {}),
    guard: createCallGuard(authorizer, limiter, handleLimiter),
    auditLog: backend.audit,
    audit: createRpcAuditor({
      log,
      clock,
      auditLog: backend.audit,
      onRecorded: (e) => metrics.onAudit(e.action, e.result),
      onWriteFailed: () => metrics.onAuditWriteFailed(),
      unauthenticated: new UnauthenticatedRefusals({
        log,
        now: () => performance.now(),
        onRefused: (method) => metrics.onUnauthenticated(method),
      }),
    }),
    canUseApp: (caller, appId) => authorizer.canUseApp(caller, appId),
    observer: {
      onCallEnd: (method, code, ms) => metrics.onCallEnd(method, grpc.status[code], ms),
    },
    listen: config.grpc.listen,
    maxRequestBytes: config.grpc.maxRequestBytes,
    limits: config.grpc,
    log,
  });
  const grpcPort = await grpcServer.start();
  // Readiness ("") = this replica can serve: gRPC is up and the cache is warm (one full read
  // of the store; embedded needs none). It never depends on one app's token: an app without
  // one is NOT_SERVING under its own name, an alert and a ListApps state, not an outage.
  const updateApp = (appId: string): void =>
    grpcServer.setAppServing(appId, service.peek(appId) ? 'SERVING' : 'NOT_SERVING');
  const updateHealth = (): void => {
    ready = backend.kind === 'embedded' || reconciler.warmed;
    grpcServer.setServing(ready ? 'SERVING' : 'NOT_SERVING');
    // O(apps) once a second: a token that expires without any event turns its app NOT_SERVING.
    for (const app of apps) updateApp(app.appId);
  };
  // Set before the port is announced, so the first probe and scrape see the real state.
  updateHealth();
  const unsubscribeHealth = apps.map((a) => cache.subscribe(a.appId, () => updateApp(a.appId)));
  const healthTimer = setInterval(updateHealth, 1_000);
  healthTimer.unref();

  // 3. Lead when the lease is ours (the embedded one always is) and refresh ahead; every
  //    replica reconciles its cache with the store.
  const leadership = new AbortController();
  const electorDone = elector.run(leadership.signal);
  const reconciling = backend.kind === 'redis' ? reconciler.run(leadership.signal) : undefined;
  const dayTurn = scheduleDayTurn(() => {
    log.info('Beijing day turned: daily quotas restored');
    status.clearQuotaFailures();
    scheduler.wake();
  });

  log.info(
    {
      grpc: grpcPort,
      metrics: metricsServer?.port ?? null,
      apps: apps.map((a) => `${a.appId} (${a.mode})`),
      store: backend.kind,
    },
    'wxtoken serving',
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      log.info('shutting down');
      clearInterval(healthTimer);
      for (const u of unsubscribeHealth) u();
      await grpcServer.stop();
      dayTurn.stop();
      leadership.abort(new Error('shutting down'));
      await electorDone; // leader work stopped, lease released
      await reconciling;
      unsubscribeStore();
      await store.close();
      await metricsServer?.close();
      log.info('stopped');
    })());

  return { grpcPort, service, log, stop };
}

function embeddedBackend(clock: Clock, maxAuditEvents: number): Backend {
  const store = new MemoryTokenStore(clock);
  return {
    kind: 'embedded',
    store,
    locks: store,
    lease: new MemoryLease(clock),
    sessions: new MemorySessionStore(clock),
    audit: new MemoryAuditLog(maxAuditEvents),
  };
}

function logRefresh(log: Logger, e: RefreshEvent): void {
  const line = {
    appId: e.appId,
    trigger: e.trigger,
    result: e.result,
    generation: e.generation,
    durationMs: Math.round(e.durationMs),
    ...(e.error
      ? {
          errcode: e.error.errcode,
          errmsg: e.error.errmsg,
          kind: e.error.kind,
          hint: operatorHint(e.error),
        }
      : {}),
  };
  if (e.result === 'error' || e.result === 'fenced') log.warn(line, 'refresh failed');
  else log.info(line, 'refresh');
}
