import { describe, expect, it } from 'vitest';
import type { AppState } from '../../src/refresher/app-status-book.js';
import { listScan } from '../../src/metrics/app-series-selection.js';
import { METRICS_PAGE, WxtokenMetrics } from '../../src/metrics/wxtoken-metrics.js';
import type { AppStatusReport } from '../../src/service/token-service.js';
import type { TicketStatusReport } from '../../src/service/ticket-service.js';
import { FakeClock } from '../support/fake-clock.js';

/**
 * Issue 15 item 5: /metrics stays bounded however many apps there are. metrics.perAppSeries
 * caps the apps with series labelled `app` (those in trouble first, then by app id); the
 * aggregates without `app` count every app in every scrape.
 */

const clock = new FakeClock();
const HOUR = 3_600_000;

function app(n: number, state: AppState = 'healthy', expiresInMs = 2 * HOUR): AppStatusReport {
  const appId = `wxlimit${String(n).padStart(6, '0')}`;
  const now = clock.now();
  return {
    appId,
    mode: 'classic',
    state,
    ...(state === 'warming'
      ? {}
      : {
          token: {
            appId,
            value: `token-${n}`,
            generation: n,
            fetchedAt: now - 60_000,
            expiresAt: now + expiresInMs,
          },
          lastRefreshAt: now - 60_000,
        }),
    fetchesToday: 3,
    forceBudgetRemaining: 50,
    leader: true,
    store: 'embedded',
  } as AppStatusReport;
}

function metrics(
  apps: AppStatusReport[],
  perAppSeries: number,
  tickets: TicketStatusReport[] = [],
): WxtokenMetrics {
  return new WxtokenMetrics(
    {
      apps: () => apps,
      tickets: () => tickets,
      isLeader: () => true,
      storeUp: () => true,
      ready: () => true,
    },
    { perAppSeries, now: () => clock.now() },
  );
}

/** Distinct `app` label values of a family in one scrape. */
function appsOf(text: string, family: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${family}{`)) continue;
    const app = /[{,]app="([^"]+)"/.exec(line)?.[1];
    if (app) out.add(app);
  }
  return out;
}

function value(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

const PER_APP_FAMILIES = [
  'wxtoken_token_expiry_timestamp_seconds',
  'wxtoken_token_generation',
  'wxtoken_force_refresh_budget_remaining',
  'wxtoken_upstream_token_fetches_today',
  'wxtoken_credential_expiry_timestamp_seconds',
  'wxtoken_credential_state',
  'wxtoken_app_state',
  'wxtoken_refreshes_total',
];

describe('metrics.perAppSeries: per-app series for at most N apps, aggregates for all', () => {
  it('N apps: every app has its series; N + 1 apps: N of them (by app id), the aggregates count N + 1', async () => {
    const N = 5;
    const apps = Array.from({ length: N + 1 }, (_, i) => app(i + 1));
    const atLimit = await metrics(apps.slice(0, N), N).registry.metrics();
    for (const family of PER_APP_FAMILIES) expect(appsOf(atLimit, family).size, family).toBe(N);
    expect(value(atLimit, 'wxtoken_metrics_apps_omitted')).toBe(0);

    const m = metrics(apps, N);
    for (const a of apps) {
      m.onRefresh({
        kind: 'access_token',
        appId: a.appId,
        trigger: 'schedule',
        result: 'fetched',
        durationMs: 50,
      });
    }
    const over = await m.registry.metrics();
    const firstN = new Set(apps.slice(0, N).map((a) => a.appId));
    for (const family of PER_APP_FAMILIES) expect(appsOf(over, family), family).toEqual(firstN);
    expect(value(over, 'wxtoken_metrics_apps_omitted')).toBe(1);
    expect(value(over, 'wxtoken_credentials{credential="access_token",state="healthy"}')).toBe(
      N + 1,
    );
    expect(
      value(
        over,
        'wxtoken_credential_refreshes_total{credential="access_token",trigger="schedule",result="fetched"}',
      ),
    ).toBe(N + 1);
    // The per-app counter still counts the shown apps' events (one each).
    expect(
      value(
        over,
        `wxtoken_refreshes_total{app="${apps[0]!.appId}",credential="access_token",trigger="schedule",result="fetched"}`,
      ),
    ).toBe(1);
    const earliest = Math.min(...apps.map((a) => a.token!.expiresAt)) / 1000;
    expect(
      value(
        over,
        'wxtoken_credential_earliest_expiry_timestamp_seconds{credential="access_token"}',
      ),
    ).toBe(earliest);
  });

  it('apps in trouble are shown first: an unavailable, an expiring and a failing app displace healthy ones', async () => {
    const apps = Array.from({ length: 10 }, (_, i) => app(i + 1));
    apps[9] = app(10, 'unavailable', -1000);
    apps[8] = app(9, 'healthy', 60_000); // less than 200 s of life: not refreshed in time
    const m = metrics(apps, 3);
    m.onRefresh({
      kind: 'access_token',
      appId: apps[7]!.appId,
      trigger: 'schedule',
      result: 'error',
      durationMs: 5,
    });
    const text = await m.registry.metrics();
    expect(appsOf(text, 'wxtoken_app_state')).toEqual(
      new Set([apps[9]!.appId, apps[8]!.appId, apps[7]!.appId]),
    );
    expect(value(text, 'wxtoken_credentials{credential="access_token",state="unavailable"}')).toBe(
      1,
    );
    expect(value(text, 'wxtoken_credentials{credential="access_token",state="healthy"}')).toBe(9);

    // A failure is remembered for 15 minutes, then the app ranks like any healthy one.
    await clock.advance(15 * 60_000);
    const later = await m.registry.metrics();
    expect(appsOf(later, 'wxtoken_app_state').has(apps[7]!.appId)).toBe(false);
  });

  it('read page by page (the server: METRICS_PAGE apps a turn of the event loop), the same choice and counts', async () => {
    const apps = Array.from({ length: 2 * METRICS_PAGE + 7 }, (_, i) => app(i + 1));
    // In the second page: it still ranks first.
    const special = METRICS_PAGE + METRICS_PAGE / 2;
    apps[special] = app(special + 1, 'config_error');
    let pages = 0;
    const scan = listScan(apps, []);
    const m = new WxtokenMetrics(
      {
        apps: () => [],
        tickets: () => [],
        appScan: {
          scan: (after, limit, visit) => {
            pages++;
            return scan.scan(after, limit, visit);
          },
          shown: (appId) => scan.shown(appId),
        },
        isLeader: () => true,
        storeUp: () => true,
        ready: () => true,
      },
      { perAppSeries: 3, now: () => clock.now() },
    );
    const text = await m.registry.metrics();
    expect(pages).toBe(3);
    expect(appsOf(text, 'wxtoken_app_state')).toEqual(
      new Set([apps[special]!.appId, apps[0]!.appId, apps[1]!.appId]),
    );
    expect(value(text, 'wxtoken_credentials{credential="access_token",state="healthy"}')).toBe(
      apps.length - 1,
    );
    expect(value(text, 'wxtoken_metrics_apps_omitted')).toBe(apps.length - 3);
  });

  it('builds reports for the shown apps only, even with the whole fleet in trouble', async () => {
    const apps = Array.from({ length: 5000 }, (_, i) => app(i + 1, 'unavailable'));
    const scan = listScan(apps, []);
    const built: string[] = [];
    const m = new WxtokenMetrics(
      {
        apps: () => [],
        tickets: () => [],
        appScan: {
          scan: (after, limit, visit) => scan.scan(after, limit, visit),
          shown: (appId) => (built.push(appId), scan.shown(appId)),
        },
        isLeader: () => true,
        storeUp: () => true,
        ready: () => true,
      },
      { perAppSeries: 10, now: () => clock.now() },
    );
    const text = await m.registry.metrics();
    // Every app ranks first (unavailable): ties go by id, and only the 10 shown were built.
    expect(built).toEqual(apps.slice(0, 10).map((a) => a.appId));
    expect(appsOf(text, 'wxtoken_app_state')).toEqual(new Set(built));
    expect(value(text, 'wxtoken_credentials{credential="access_token",state="unavailable"}')).toBe(
      5000,
    );
  });

  it('perAppSeries 0: no series labelled app at all, the aggregates still there', async () => {
    const apps = Array.from({ length: 4 }, (_, i) => app(i + 1, i === 0 ? 'warming' : 'healthy'));
    const text = await metrics(apps, 0).registry.metrics();
    expect(text).not.toMatch(/[{,]app="/);
    expect(value(text, 'wxtoken_metrics_apps_omitted')).toBe(4);
    expect(value(text, 'wxtoken_credentials{credential="access_token",state="warming"}')).toBe(1);
    expect(value(text, 'wxtoken_force_refresh_budget_remaining_min')).toBe(50);
  });
});

describe('per-app counts: compact, complete, and gone with the app (issue 15 item 5: bounded)', () => {
  const refresh = (m: WxtokenMetrics, appId: string, result: 'fetched' | 'error'): void =>
    m.onRefresh({ kind: 'access_token', appId, trigger: 'schedule', result, durationMs: 50 });
  const series = (text: string, appId: string): string[] =>
    text
      .split('\n')
      .filter((l) => l.startsWith('wxtoken_refreshes_total{') && l.includes(`app="${appId}"`));

  it('label sets met in any order and counts of several sets per app are all exposed', async () => {
    const apps = [app(1), app(2)];
    const m = metrics(apps, 10);
    // App 2 meets 'error' first, app 1 'fetched' first: each app's counts are by shared index.
    refresh(m, apps[1]!.appId, 'error');
    refresh(m, apps[0]!.appId, 'fetched');
    refresh(m, apps[0]!.appId, 'fetched');
    refresh(m, apps[0]!.appId, 'error');
    refresh(m, apps[1]!.appId, 'fetched');
    const text = await m.registry.metrics();
    const counts = (appId: string) =>
      Object.fromEntries(
        series(text, appId).map((l) => [/result="(\w+)"/.exec(l)![1], Number(l.split(' ')[1])]),
      );
    expect(counts(apps[0]!.appId)).toEqual({ fetched: 2, error: 1 });
    expect(counts(apps[1]!.appId)).toEqual({ fetched: 1, error: 1 });
  });

  it('an app that left keeps no counts: 1,000 authorizers come and go, nothing is left', async () => {
    const m = metrics([], 10);
    for (let i = 0; i < 1000; i++) {
      const appId = `wxgone${String(i).padStart(6, '0')}`;
      refresh(m, appId, i % 2 ? 'fetched' : 'error');
      m.onCode2Session(appId, 'upstream');
      m.onGatewayRecovery(appId, 'failed');
    }
    expect(m.perAppCountsKept()).toEqual({ refresh: 1000, recovery: 1000, code2session: 1000 });
    for (let i = 0; i < 1000; i++) m.forgetApp(`wxgone${String(i).padStart(6, '0')}`);
    expect(m.perAppCountsKept()).toEqual({ refresh: 0, recovery: 0, code2session: 0 });
    // An app that comes back starts from zero; the aggregate keeps every event.
    const back = app(7);
    const again = metrics([back], 10);
    refresh(again, back.appId, 'fetched');
    again.forgetApp(back.appId);
    refresh(again, back.appId, 'fetched');
    const text = await again.registry.metrics();
    // Series at 0 are the label sets every shown app carries (refresh zeros).
    expect(
      series(text, back.appId)
        .filter((l) => !l.endsWith(' 0'))
        .map((l) => /trigger="(\w+)",result="(\w+)"\} (\d+)/.exec(l)!.slice(1).join(' ')),
    ).toEqual(['schedule fetched 1']);
    expect(
      value(
        text,
        'wxtoken_credential_refreshes_total{credential="access_token",trigger="schedule",result="fetched"}',
      ),
    ).toBe(2);
  });
});

describe('wxtoken_event_loop_delay_seconds (issue 15 item 5)', () => {
  it('records a stall of the event loop at its length, scrapes included (never reset by one)', async () => {
    const m = new WxtokenMetrics(
      {
        apps: () => [],
        tickets: () => [],
        isLeader: () => true,
        storeUp: () => true,
        ready: () => true,
      },
      { eventLoopDelay: true },
    );
    const over50ms = async (): Promise<number> => {
      const text = await m.registry.metrics();
      const le = (b: string): number =>
        value(text, `wxtoken_event_loop_delay_seconds_bucket{le="${b}"}`) ?? 0;
      return le('+Inf') - le('0.05');
    };
    try {
      await m.registry.metrics(); // a scrape first: what follows it must still be recorded
      const before = await over50ms();
      const t0 = performance.now();
      while (performance.now() - t0 < 120); // a 120 ms stall: lateness of at least ~100 ms
      await new Promise((r) => setTimeout(r, 60));
      expect(await over50ms()).toBeGreaterThan(before);
    } finally {
      m.close();
    }
  });
});
