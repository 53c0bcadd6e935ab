import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RefreshEvent } from '../refresher/credential-refresher.js';
import type { TokenRecord } from '../token/token.js';
import type { AppFacts, AppStatusReport } from '../service/token-service.js';
import type { TicketFacts, TicketStatusReport } from '../service/ticket-service.js';
import type { AppStatusView } from '../refresher/app-status-book.js';
import { TICKET_KIND_NAMES } from '../refresher/ticket-kind.js';
import type { UpstreamEvent } from '../wechat/http-wechat-client.js';
import { errcodeLabel } from '../wechat/wechat-error.js';
import { CallMetricsBuffer } from './call-metrics-buffer.js';
import { sampleEventLoopDelay } from './event-loop-delay.js';
import { PerAppCounts } from './per-app-counts.js';
import {
  ATTENTION,
  CREDENTIAL_STATES,
  AppSeriesSelection,
  listScan,
  type AppScan,
  type AppSeriesSnapshot,
} from './app-series-selection.js';

/** Default metrics that promtool rejects (gauges named like counters), per stack-notes.md. */
const PROMTOOL_REJECTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

const STATES = CREDENTIAL_STATES;

/** metrics.perAppSeries when none is given (the config default). */
export const DEFAULT_PER_APP_SERIES = 100;

export interface MetricsOptions {
  /** Apps with per-app series in one scrape (metrics.perAppSeries). Default 100. */
  readonly perAppSeries?: number;
  /** Wall time (ms): expiry and recent failures when choosing the apps shown. */
  readonly now?: () => number;
  /** Sample the event loop's delay into wxtoken_event_loop_delay_seconds (the server: true). */
  readonly eventLoopDelay?: boolean;
}

export interface MetricsSources {
  /**
   * Per-app status, read once per scrape. Only metrics.perAppSeries of them become per-app
   * series (app-series-selection.ts); every one counts in the aggregates.
   */
  readonly apps: () => readonly AppStatusReport[];
  /** Per-app, per-type ticket status (types from config only: bounded labels). */
  readonly tickets: () => readonly TicketStatusReport[];
  /**
   * The server's apps page by page, used instead of `apps` and `tickets`: a scrape then reads
   * METRICS_PAGE apps at a time and lets the event loop run between pages, so 100,000 apps
   * never hold it for the whole pass, and builds reports only for the apps it shows (issue 15
   * item 5).
   */
  readonly appScan?: AppScan;
  readonly isLeader: () => boolean;
  readonly storeUp: () => boolean;
  /** The store's topology and the node that is primary now ('' when unknown or many). */
  readonly storeLayout?: () => { topology: string; primary: string };
  readonly ready: () => boolean;
}

/**
 * Apps read per turn of the event loop while a scrape reads `appScan`. A page of 2,000 took
 * ~10 ms on a quiet leader but 20-25 ms in a refresh wave (CPU profile of the 100,000-authorizer
 * benchmark), on top of the wave's own work in the same turn: 1,000 keeps a page's share small.
 */
export const METRICS_PAGE = 1000;

/**
 * Every wxtoken metric, on the service's own registry (never prom-client's global one).
 * Domain code reports through the small `on*` methods; gauges that mirror state are read
 * at scrape time from `sources`, so they cannot drift from what ListApps says.
 */
export class WxtokenMetrics {
  readonly registry = new Registry();
  readonly #refreshCounts = new PerAppCounts(['credential', 'trigger', 'result'] as const);
  readonly #refreshTotals: Counter<'credential' | 'trigger' | 'result'>;
  readonly #recoveryCounts = new PerAppCounts(['result'] as const);
  readonly #recoveryTotals: Counter<'result'>;
  readonly #code2sessionCounts = new PerAppCounts(['result'] as const);
  readonly #code2sessionTotals: Counter<'result'>;
  /** Apps with a failure event and when: they rank first for per-app series for a while. */
  readonly #troubleAt = new Map<string, number>();
  readonly #now: () => number;
  readonly #stopLoopSampler: () => void = () => undefined;
  /** The apps of the scrape under way: read by its first collect, shared by the others. */
  #snapshot: Promise<AppSeriesSnapshot> | undefined;
  readonly #upstreamDuration: Histogram<'endpoint' | 'result'>;
  readonly #upstreamErrors: Counter<'endpoint' | 'errcode' | 'kind'>;
  readonly #leadershipChanges: Counter;
  readonly #leaseFailures: Counter;
  readonly #propagation: Histogram;
  readonly #grpcRequests: Counter<'method' | 'code'>;
  readonly #grpcDuration: Histogram<'method'>;
  readonly #auditEvents: Counter<'action' | 'result'>;
  readonly #auditWriteFailures: Counter;
  readonly #unauthenticated: Counter<'method'>;
  readonly #untrustedRecords: Counter<'source' | 'reason'>;
  readonly #gatewayRequests: Counter<'route' | 'result'>;
  /** Gateway requests by route and result since the last scrape (label values are bounded). */
  readonly #gatewayPending = new Map<string, Map<string, number>>();
  readonly #gatewayForwardDuration: Histogram<'result'>;
  /** Finished calls on their way into #grpcRequests and #grpcDuration (flushed on collect). */
  readonly #calls = new CallMetricsBuffer({
    count: (method, code, calls) => this.#grpcRequests.inc({ method, code }, calls),
    observe: (method, seconds) => this.#grpcDuration.observe({ method }, seconds),
  });

  constructor(sources: MetricsSources, options: MetricsOptions = {}) {
    const registers = [this.registry];
    const limit = options.perAppSeries ?? DEFAULT_PER_APP_SERIES;
    this.#now = options.now ?? Date.now;
    // prom-client calls every collect of one scrape before awaiting any: the first one starts
    // reading the apps, the others await the same read.
    const snapshot = (): Promise<AppSeriesSnapshot> =>
      (this.#snapshot ??= this.#readApps(sources, limit).finally(() => {
        this.#snapshot = undefined;
      }));
    collectDefaultMetrics({ register: this.registry });
    for (const name of PROMTOOL_REJECTS) this.registry.removeSingleMetric(name);

    const perApp = (
      name: string,
      help: string,
      value: (a: AppStatusReport) => number | undefined,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['app'],
        registers,
        async collect() {
          const { apps } = await snapshot();
          this.reset();
          for (const a of apps) {
            const v = value(a);
            if (v !== undefined) this.set({ app: a.appId }, v);
          }
        },
      });
    perApp(
      'wxtoken_token_expiry_timestamp_seconds',
      'Expiry of the current token (unix seconds).',
      (a) => (a.token ? a.token.expiresAt / 1000 : undefined),
    );
    perApp(
      'wxtoken_token_generation',
      'Generation of the current token.',
      (a) => a.token?.generation,
    );
    perApp(
      'wxtoken_token_last_refresh_timestamp_seconds',
      'When the current token was fetched (unix seconds).',
      (a) => (a.lastRefreshAt !== undefined ? a.lastRefreshAt / 1000 : undefined),
    );
    perApp(
      'wxtoken_force_refresh_budget_remaining',
      'Forced refreshes still allowed today.',
      (a) => a.forceBudgetRemaining,
    );
    perApp(
      'wxtoken_upstream_token_fetches_today',
      'Token fetches by this replica since 00:00 Asia/Shanghai (WeChat quota: 2000/day classic).',
      (a) => a.fetchesToday,
    );
    // Every credential (the access_token and each ticket) in one family, labelled by kind:
    // one dashboard row and one alert rule cover them all.
    const credentials = async (): Promise<
      { app: string; credential: string; view: AppStatusView }[]
    > => {
      const { apps, tickets } = await snapshot();
      return [
        ...apps.map((a) => ({ app: a.appId, credential: 'access_token', view: a })),
        ...tickets.map((t) => ({
          app: t.appId,
          credential: TICKET_KIND_NAMES[t.type],
          view: t,
        })),
      ];
    };
    const perCredential = (
      name: string,
      help: string,
      value: (v: AppStatusView) => number | undefined,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['app', 'credential'],
        registers,
        async collect() {
          const all = await credentials();
          this.reset();
          for (const c of all) {
            const v = value(c.view);
            if (v !== undefined) this.set({ app: c.app, credential: c.credential }, v);
          }
        },
      });
    perCredential(
      'wxtoken_credential_expiry_timestamp_seconds',
      'Expiry of the current credential (access_token or ticket; unix seconds).',
      (v) => (v.token ? v.token.expiresAt / 1000 : undefined),
    );
    perCredential(
      'wxtoken_credential_generation',
      'Generation of the current credential.',
      (v) => v.token?.generation,
    );
    perCredential(
      'wxtoken_credential_fetches_today',
      'Upstream fetches of the credential by this replica since 00:00 Asia/Shanghai.',
      (v) => v.fetchesToday,
    );
    new Gauge({
      name: 'wxtoken_credential_state',
      help: '1 for the credential state in effect, 0 for the others.',
      labelNames: ['app', 'credential', 'state'],
      registers,
      async collect() {
        const all = await credentials();
        this.reset();
        for (const c of all) {
          for (const state of STATES) {
            this.set(
              { app: c.app, credential: c.credential, state },
              c.view.state === state ? 1 : 0,
            );
          }
        }
      },
    });
    new Gauge({
      name: 'wxtoken_app_state',
      help: '1 for the app state in effect, 0 for the others.',
      labelNames: ['app', 'state'],
      registers,
      async collect() {
        const { apps } = await snapshot();
        this.reset();
        for (const a of apps) {
          for (const state of STATES) this.set({ app: a.appId, state }, a.state === state ? 1 : 0);
        }
      },
    });
    // Aggregates over every app, present whatever metrics.perAppSeries: the fleet alerts
    // (deploy/prometheus/alerts.yml, group wxtoken.fleet) rely on them.
    new Gauge({
      name: 'wxtoken_credentials',
      help: 'Credentials of all apps by kind (access_token or ticket) and state.',
      labelNames: ['credential', 'state'],
      registers,
      async collect() {
        const { kinds } = await snapshot();
        this.reset();
        for (const [credential, k] of kinds) {
          for (const state of STATES) this.set({ credential, state }, k.states[state]);
        }
      },
    });
    new Gauge({
      name: 'wxtoken_credential_earliest_expiry_timestamp_seconds',
      help: 'Earliest expiry among the current credentials of all apps, by kind (unix seconds).',
      labelNames: ['credential'],
      registers,
      async collect() {
        const { kinds } = await snapshot();
        this.reset();
        for (const [credential, k] of kinds) {
          if (k.earliestExpiry !== undefined) this.set({ credential }, k.earliestExpiry / 1000);
        }
      },
    });
    new Gauge({
      name: 'wxtoken_credential_fetches_today_max',
      help: 'Most upstream fetches of one app by this replica since 00:00 Asia/Shanghai, by kind.',
      labelNames: ['credential'],
      registers,
      async collect() {
        const { kinds } = await snapshot();
        this.reset();
        for (const [credential, k] of kinds) this.set({ credential }, k.maxFetchesToday);
      },
    });
    new Gauge({
      name: 'wxtoken_force_refresh_budget_remaining_min',
      help: 'Fewest forced refreshes any app still has today.',
      registers,
      async collect() {
        const min = (await snapshot()).forceBudgetMin;
        this.reset();
        if (min !== undefined) this.set(min);
      },
    });
    new Gauge({
      name: 'wxtoken_metrics_apps_omitted',
      help: 'Apps left without per-app series in this scrape (metrics.perAppSeries); the aggregates count them.',
      registers,
      async collect() {
        this.set((await snapshot()).omitted);
      },
    });
    const loopDelay = new Histogram({
      name: 'wxtoken_event_loop_delay_seconds',
      help: 'How late a timer armed every 20 ms fired: time the event loop could run nothing else.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    if (options.eventLoopDelay) this.#stopLoopSampler = sampleEventLoopDelay(loopDelay);
    const flag = (name: string, help: string, read: () => boolean) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read() ? 1 : 0);
        },
      });
    flag(
      'wxtoken_leader',
      '1 when this replica leads (runs the refresh schedule).',
      sources.isLeader,
    );
    flag('wxtoken_store_up', '1 when the store has quorum (or is embedded).', sources.storeUp);
    // Issue 16: which topology, and which node is primary. A change of primary seen at a
    // scrape is counted (a Sentinel promotion, or a restart of a single node on another
    // address); the label holds one address at a time, so its values stay bounded.
    let lastPrimary = '';
    new Gauge({
      name: 'wxtoken_store_info',
      help: 'Always 1: the store topology (embedded, standalone, quorum, sentinel, cluster) and the primary node now ("" while unknown or for many masters).',
      labelNames: ['topology', 'primary'],
      registers,
      collect() {
        this.reset();
        const layout = sources.storeLayout?.() ?? { topology: 'embedded', primary: '' };
        if (layout.primary !== '' && lastPrimary !== '' && layout.primary !== lastPrimary) {
          primaryChanges.inc();
        }
        if (layout.primary !== '') lastPrimary = layout.primary;
        this.set({ topology: layout.topology, primary: layout.primary }, 1);
      },
    });
    // Registered after the info gauge, whose collect counts a change: exported in the same scrape.
    const primaryChanges = new Counter({
      name: 'wxtoken_store_primary_changes_total',
      help: 'Changes of the Redis primary seen by this replica (a Sentinel promotion).',
      registers,
    });
    flag('wxtoken_ready', '1 when gRPC readiness (health service "") is SERVING.', sources.ready);

    this.#gatewayRequests = new Counter({
      name: 'wxtoken_gateway_requests_total',
      help: 'HTTP gateway requests by route kind and result (ok, errcode_N, forwarded, ...).',
      labelNames: ['route', 'result'],
      registers,
      collect: () => this.#flushGatewayRequests(),
    });
    this.#gatewayForwardDuration = new Histogram({
      name: 'wxtoken_gateway_pass_through_duration_seconds',
      help: 'Forwarded WeChat calls through the gateway, recovery included.',
      labelNames: ['result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    const shownApps = async (): Promise<ReadonlySet<string>> => (await snapshot()).shown;
    const recoveryCounts = this.#recoveryCounts;
    new Counter({
      name: 'wxtoken_gateway_recoveries_total',
      help: 'Forwarded calls WeChat refused the token of: refreshed and repeated (recovered) or not (apps with per-app series only).',
      labelNames: ['app', 'result'],
      registers,
      async collect() {
        recoveryCounts.expose(this, await shownApps());
      },
    });
    this.#recoveryTotals = new Counter({
      name: 'wxtoken_gateway_recovery_results_total',
      help: 'Forwarded calls WeChat refused the token of, all apps: recovered or not.',
      labelNames: ['result'],
      registers,
    });
    const refreshCounts = this.#refreshCounts;
    // Every shown app carries these at 0, so increase() sees its first error or fetch.
    const refreshZeros = ['schedule', 'force'].flatMap((trigger) =>
      ['fetched', 'error'].map((result) => ({ credential: 'access_token', trigger, result })),
    );
    new Counter({
      name: 'wxtoken_refreshes_total',
      help: 'Refresh attempts by credential kind, trigger and result (apps with per-app series only).',
      labelNames: ['app', 'credential', 'trigger', 'result'],
      registers,
      async collect() {
        refreshCounts.expose(this, await shownApps(), refreshZeros);
      },
    });
    this.#refreshTotals = new Counter({
      name: 'wxtoken_credential_refreshes_total',
      help: 'Refresh attempts of all apps by credential kind, trigger and result.',
      labelNames: ['credential', 'trigger', 'result'],
      registers,
    });
    for (const labels of refreshZeros) this.#refreshTotals.inc(labels, 0);
    this.#upstreamDuration = new Histogram({
      name: 'wxtoken_upstream_request_duration_seconds',
      help: 'WeChat API request duration.',
      labelNames: ['endpoint', 'result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#upstreamErrors = new Counter({
      name: 'wxtoken_upstream_errors_total',
      help: 'WeChat API errors by endpoint, errcode ("none" for transport errors, "other" for unknown ones) and kind.',
      labelNames: ['endpoint', 'errcode', 'kind'],
      registers,
    });
    this.#leadershipChanges = new Counter({
      name: 'wxtoken_leadership_changes_total',
      help: 'Times this replica started or stopped leading.',
      registers,
    });
    this.#leaseFailures = new Counter({
      name: 'wxtoken_lease_extension_failures_total',
      help: 'Leader lease extensions that failed (leadership ended).',
      registers,
    });
    this.#propagation = new Histogram({
      name: 'wxtoken_propagation_lag_seconds',
      help: "Time from a token's fetch to its arrival in this replica's cache.",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.#grpcRequests = new Counter({
      name: 'wxtoken_grpc_requests_total',
      help: 'gRPC calls by method and status code.',
      labelNames: ['method', 'code'],
      registers,
      collect: () => this.#calls.flush(),
    });
    this.#grpcDuration = new Histogram({
      name: 'wxtoken_grpc_request_duration_seconds',
      help: 'gRPC unary call duration.',
      labelNames: ['method'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5],
      registers,
      collect: () => this.#calls.flush(),
    });
    const code2sessionCounts = this.#code2sessionCounts;
    new Counter({
      name: 'wxtoken_code2session_total',
      help: 'Code2Session exchanges: upstream call, answered from a duplicate, or error (apps with per-app series only).',
      labelNames: ['app', 'result'],
      registers,
      async collect() {
        code2sessionCounts.expose(this, await shownApps());
      },
    });
    this.#code2sessionTotals = new Counter({
      name: 'wxtoken_code2session_results_total',
      help: 'Code2Session exchanges of all apps: upstream call, answered from a duplicate, or error.',
      labelNames: ['result'],
      registers,
    });
    this.#auditEvents = new Counter({
      name: 'wxtoken_audit_events_total',
      help: 'Audited calls (ForceRefresh and admin methods) by action and gRPC result code.',
      labelNames: ['action', 'result'],
      registers,
    });
    this.#unauthenticated = new Counter({
      name: 'wxtoken_unauthenticated_calls_total',
      help: 'Calls refused before a caller was authenticated (kept out of the audit trail), by method.',
      labelNames: ['method'],
      registers,
    });
    this.#auditWriteFailures = new Counter({
      name: 'wxtoken_audit_write_failures_total',
      help: 'Audit events that could not be stored in the audit stream (they are still in the log).',
      registers,
    });
    this.#auditWriteFailures.inc(0);
    this.#untrustedRecords = new Counter({
      name: 'wxtoken_store_untrusted_records_total',
      help: 'Token records read from Redis or announced on its pub/sub that were dropped as untrusted (unknown app, impossible generation or lifetime, malformed token), by source (read or message) and reason.',
      labelNames: ['source', 'reason'],
      registers,
    });
  }

  /** Stops the event-loop sampler (server shutdown). */
  close(): void {
    this.#stopLoopSampler();
  }

  onRefresh(e: RefreshEvent): void {
    const labels = { credential: e.kind, trigger: e.trigger, result: e.result };
    this.#refreshCounts.add(e.appId, labels);
    this.#refreshTotals.inc(labels);
    if (e.result === 'error') this.#troubleAt.set(e.appId, this.#now());
  }

  onUpstream(e: UpstreamEvent): void {
    const ok = e.errcode === 0;
    this.#upstreamDuration.observe(
      { endpoint: e.endpoint, result: ok ? 'ok' : 'error' },
      e.durationMs / 1000,
    );
    if (!ok) {
      this.#upstreamErrors.inc({
        endpoint: e.endpoint,
        errcode: errcodeLabel(e.errcode),
        kind: e.kind ?? 'unknown',
      });
    }
  }

  /** Every finished unary call (the hot path): buffered, in the metrics by the next scrape. */
  onCallEnd(method: string, code: string, durationMs: number): void {
    this.#calls.add(method, code, durationMs / 1000);
  }

  onLeadershipChange(): void {
    this.#leadershipChanges.inc();
  }

  onLeaseExtensionFailed(): void {
    this.#leaseFailures.inc();
  }

  /** Every gateway request (the hot path): counted here, in the metric by the next scrape. */
  onGatewayRequest(route: string, result: string): void {
    let results = this.#gatewayPending.get(route);
    if (!results) this.#gatewayPending.set(route, (results = new Map()));
    results.set(result, (results.get(result) ?? 0) + 1);
  }

  #flushGatewayRequests(): void {
    for (const [route, results] of this.#gatewayPending) {
      for (const [result, n] of results) this.#gatewayRequests.inc({ route, result }, n);
      results.clear();
    }
  }

  onGatewayForwarded(result: string, durationMs: number): void {
    this.#gatewayForwardDuration.observe({ result }, durationMs / 1000);
  }

  onGatewayRecovery(appId: string, result: string): void {
    this.#recoveryCounts.add(appId, { result });
    this.#recoveryTotals.inc({ result });
    if (result === 'failed') this.#troubleAt.set(appId, this.#now());
  }

  /** An app left (an authorizer that unauthorized): its per-app counts and trouble go too. */
  forgetApp(appId: string): void {
    this.#refreshCounts.forget(appId);
    this.#recoveryCounts.forget(appId);
    this.#code2sessionCounts.forget(appId);
    this.#troubleAt.delete(appId);
  }

  /** Apps with per-app counts kept, in each family (bounded by the apps that exist). */
  perAppCountsKept(): { refresh: number; recovery: number; code2session: number } {
    return {
      refresh: this.#refreshCounts.size,
      recovery: this.#recoveryCounts.size,
      code2session: this.#code2sessionCounts.size,
    };
  }

  onTokenApplied(token: TokenRecord, now: number): void {
    this.#propagation.observe(Math.max(0, now - token.fetchedAt) / 1000);
  }

  onCode2Session(appId: string, result: 'upstream' | 'dedup' | 'error'): void {
    this.#code2sessionCounts.add(appId, { result });
    this.#code2sessionTotals.inc({ result });
    if (result === 'error') this.#troubleAt.set(appId, this.#now());
  }

  /** Every app's status, chosen and counted (app-series-selection.ts), page by page. */
  async #readApps(sources: MetricsSources, limit: number): Promise<AppSeriesSnapshot> {
    const now = this.#now();
    this.#forgetOldTrouble(now);
    const scan = sources.appScan ?? listScan(sources.apps(), sources.tickets());
    const selection = new AppSeriesSelection({
      ticketKind: (type) => TICKET_KIND_NAMES[type],
      troubleAt: this.#troubleAt,
      limit,
      now,
      shown: (appId) => scan.shown(appId),
    });
    const visit = {
      ticket: (t: TicketFacts) => selection.addTicket(t),
      app: (a: AppFacts) => selection.addApp(a),
    };
    let after: string | undefined;
    for (;;) {
      const page = scan.scan(after, METRICS_PAGE, visit);
      after = page.last;
      if (!page.more || after === undefined) return selection.result();
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Failures older than the selection remembers no longer rank an app first. */
  #forgetOldTrouble(now: number): void {
    for (const [app, at] of this.#troubleAt) {
      if (now - at >= ATTENTION.troubleMemoryMs) this.#troubleAt.delete(app);
    }
  }

  onAudit(action: string, result: string): void {
    this.#auditEvents.inc({ action, result });
  }

  onUnauthenticated(method: string): void {
    this.#unauthenticated.inc({ method });
  }

  onAuditWriteFailed(): void {
    this.#auditWriteFailures.inc();
  }

  onUntrustedRecord(source: 'read' | 'message', reason: string): void {
    this.#untrustedRecords.inc({ source, reason });
  }
}
