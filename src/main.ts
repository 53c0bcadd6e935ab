import { AppDirectory } from './apps/app-directory.js';
import type { Config } from './config/config.js';
import { LeaderElector } from './leader/leader-elector.js';
import { LoginService } from './login/login-service.js';
import { startMetricsServer } from './metrics/metrics-server.js';
import { WxtokenMetrics } from './metrics/wxtoken-metrics.js';
import { registerComponentMetrics } from './metrics/component-metrics.js';
import { openBackend } from './server/backend.js';
import { openCredentials } from './server/credentials.js';
import { createCallPolicy } from './server/call-policy.js';
import { createGateway } from './server/gateway.js';
import { createGrpcApi } from './server/grpc-api.js';
import { startReadiness } from './server/readiness.js';
import type { TokenService } from './service/token-service.js';
import { systemClock, type Clock, type Random } from './shared/clock.js';
import { createLogger, type Logger } from './shared/logger.js';
import { ComponentApi, type ComponentClient } from './wechat/component-api.js';
import { HttpWeChatClient } from './wechat/http-wechat-client.js';
import type { WeChatClient } from './wechat/wechat-client.js';

export interface RunningServer {
  readonly grpcPort: number;
  /** The gateway's port, when gateway.listen is set. */
  readonly gatewayPort?: number;
  /** The /metrics port, when metrics.listen is set (`wxtoken dev` prints it). */
  readonly metricsPort?: number;
  readonly service: TokenService;
  readonly log: Logger;
  /** Ordered shutdown: stop taking calls, stop leader work, release the lease, close the store. */
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly clock?: Clock;
  readonly random?: Random;
  readonly log?: Logger;
  readonly wechat?: WeChatClient;
  readonly componentClient?: ComponentClient;
}

/**
 * The composition root (style.md point 15): the parts are built in src/server/ (backend,
 * credentials, gRPC API, readiness); this is their order of start and of stop.
 */
export async function startServer(
  config: Config,
  options: StartOptions = {},
): Promise<RunningServer> {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? createLogger(config.log);
  let ready = false;
  // Gauges are read at scrape time, from parts built below (a scrape never comes earlier).
  const metrics = new WxtokenMetrics(
    {
      apps: () => credentials.tokens.service.listApps(),
      tickets: () => credentials.tickets.service.listTickets(),
      appScan: {
        scan: (after, limit, visit) =>
          credentials.tokens.service.scanApps(after, limit, (app) => {
            credentials.tickets.service.scanTickets(app.appId, visit.ticket);
            visit.app(app);
          }),
        shown: (appId) => {
          const app = credentials.tokens.service.report(appId);
          return app && { app, tickets: credentials.tickets.service.ticketsOf(appId) };
        },
      },
      isLeader: () => elector.isLeader(),
      storeUp: () => credentials.storeHealth() !== 'down',
      storeLayout: () => credentials.storeLayout(),
      ready: () => ready,
    },
    { perAppSeries: config.metrics.perAppSeries, now: () => clock.now(), eventLoopDelay: true },
  );
  const http = new HttpWeChatClient({
    baseUrl: config.wechat.baseUrl,
    timeoutMs: config.wechat.timeoutMs,
    clock,
    observer: { onResponse: (e) => metrics.onUpstream(e) },
  });
  const wechat = options.wechat ?? http;
  // Configured apps, and the third-party platforms' authorizers as they join and leave.
  const directory = new AppDirectory(config.apps);
  directory.subscribe({ removed: (app) => metrics.forgetApp(app.appId) });
  const backend = await openBackend(
    config,
    clock,
    log,
    (reason, source) => metrics.onUntrustedRecord(source, reason),
    (appId) => directory.has(appId),
  );
  const credentials = await openCredentials({
    config,
    clock,
    random: options.random ?? Math.random,
    log,
    wechat,
    componentClient: options.componentClient ?? new ComponentApi((c, v) => http.call(c, v)),
    directory,
    backend,
    metrics,
    isLeader: () => elector.isLeader(),
  });
  if (config.components.length) {
    registerComponentMetrics(metrics.registry, {
      components: () => credentials.components.metricsView(),
    });
  }
  const elector = new LeaderElector({
    lease: backend.lease,
    clock,
    ttlMs: config.lease.ttlMs,
    renewIntervalMs: config.lease.renewIntervalMs,
    onStartedLeading: (signal) => {
      metrics.onLeadershipChange();
      log.info({ leader: true }, 'became leader; running the refresh schedule');
      return credentials.lead(signal);
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
  const tokens = credentials.tokens.service;

  // 1. Warm the caches from the store (a cluster's replicas start with the current values).
  await credentials.warm();

  // 2. Serve at once: GetToken waits for the first fetch of a warming app.
  const login = new LoginService({
    clock,
    apps: directory,
    login: config.login,
    wechat,
    sessions: backend.sessions,
    locks: backend.locks,
    accessToken: async (appId) => (await tokens.getToken(appId)).value,
    recoverToken: async (appId, rejected) =>
      (await tokens.forceRefresh(appId, rejected, 'a login-service call was refused the token'))
        .token.value,
    onExchange: (appId, result) => metrics.onCode2Session(appId, result),
    authorizerCode2Session: credentials.components.code2Session,
  });
  const metricsServer = config.metrics.listen
    ? await startMetricsServer(config.metrics.listen, metrics.registry)
    : undefined;
  const policy = createCallPolicy({
    config,
    clock,
    log,
    metrics,
    auditLog: backend.audit,
    componentOf: (appId) => directory.get(appId)?.component,
  });
  const api = { tokens, tickets: credentials.tickets.service, login };
  const grpcServer = createGrpcApi({
    config,
    log,
    metrics,
    policy,
    auditLog: backend.audit,
    ...(config.components.length ? { components: credentials.components.service } : {}),
    ...api,
  });
  const grpcPort = await grpcServer.start();
  const gateway = createGateway({
    config,
    clock,
    log,
    metrics,
    policy,
    tokenCache: credentials.tokens.cache,
    apps: directory,
    ...(config.components.length
      ? {
          components: {
            events: credentials.components.events,
            service: credentials.components.service,
            cache: credentials.components.engine.cache,
          },
        }
      : {}),
    ...api,
  });
  const gatewayPort = await gateway?.start();
  const readiness = startReadiness({
    clock,
    grpc: grpcServer,
    appIds: config.apps.map((a) => a.appId),
    cache: credentials.tokens.cache,
    hasLiveToken: (appId) => tokens.peek(appId) !== undefined,
    isReady: () => credentials.warmed,
    onReady: (now) => (ready = now),
  });

  // 3. Lead when the lease is ours (the embedded one always is) and refresh ahead; every
  //    replica reconciles its caches with the store.
  const leadership = new AbortController();
  const electorDone = elector.run(leadership.signal);
  const reconciling = credentials.reconcile(leadership.signal);
  const dayTurn = credentials.startDayTurn();
  log.info(
    {
      grpc: grpcPort,
      gateway: gatewayPort ?? null,
      metrics: metricsServer?.port ?? null,
      apps: listedApps(config.apps),
      store: backend.kind,
    },
    'wxtoken serving',
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      log.info('shutting down');
      readiness.stop();
      await Promise.all([grpcServer.stop(), gateway?.stop()]);
      dayTurn.stop();
      leadership.abort(new Error('shutting down'));
      await electorDone; // leader work stopped, lease released
      await reconciling;
      await credentials.close();
      await metricsServer?.close();
      metrics.close();
      log.info('stopped');
    })());

  return {
    grpcPort,
    ...(gatewayPort !== undefined ? { gatewayPort } : {}),
    ...(metricsServer ? { metricsPort: metricsServer.port } : {}),
    service: tokens,
    log,
    stop,
  };
}

/** The apps of the "serving" line: all of a small config; a count and the first few of a large one (one 3 MB line at 100,000 apps). */
function listedApps(apps: Config['apps']): string[] {
  const named = apps.slice(0, 20).map((a) => `${a.appId} (${a.mode})`);
  return apps.length > named.length ? [...named, `... ${apps.length} apps in all`] : named;
}
