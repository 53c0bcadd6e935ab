import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forceRefresh, tokenClient } from '../../src/cli/grpc-client.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import type { AppFacts } from '../../src/service/token-service.js';
import { startInProcess, type InProcess } from '../support/in-process.js';

/**
 * Issue 15 item 5: a scrape reads every app through TokenService.scanApps, which fills one
 * reused object per app instead of building a report. What it hands over must be exactly what
 * ListApps reports (invariant 7: status never disagrees with what GetToken would answer), for
 * every state the fleet here holds: healthy, a forced refresh spent, a ticket, an app WeChat
 * refuses (config_error).
 */
const SECRET = 'status-scan-secret-51';
const HEALTHY = ['wxscan000000001', 'wxscan000000002', 'wxscan000000003'];
const TICKETED = 'wxscan000000004';
const REFUSED = 'wxscan000000005'; // not known to the simulator: 40013 invalid appid
const ALL = [...HEALTHY, TICKETED, REFUSED];

let h: InProcess;
let client: TokenServiceClient;

beforeAll(async () => {
  h = await startInProcess(
    `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "SIM_URL", timeoutMs: 2000 }
refresh: { forceMinIntervalMs: 1 }
apps:
${[...ALL]
  .reverse()
  .map(
    (id) =>
      `  - { appId: ${id}, mode: classic, secretEnv: APP_SECRET${id === TICKETED ? ', tickets: [jsapi]' : ''} }`,
  )
  .join('\n')}
`,
    { APP_SECRET: SECRET },
    async (control) => {
      for (const appId of [...HEALTHY, TICKETED]) {
        await control.configureApp({ appId, secret: SECRET, expiresInSeconds: 7200 });
      }
    },
  );
  client = tokenClient(h.addr);
  // Settled: every app past warming, the ticket fetched.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const states = h.server.service.listAppsPage({ limit: 100 }).apps.map((a) => a.state);
    const ticketed = h.server.service.report(TICKETED);
    if (!states.includes('warming') && ticketed?.state === 'healthy') break;
    if (Date.now() > deadline) throw new Error(`apps still warming: ${states.join(' ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await forceRefresh(client, {
    app_id: HEALTHY[1]!,
    reason: 'status-scan test: spend one forced refresh',
  });
}, 60_000);

afterAll(async () => {
  client?.close();
  await h?.stop();
});

/** The fields a scrape reads, copied out of the reused object. */
const copy = (a: AppFacts) => ({
  appId: a.appId,
  state: a.state,
  expiresAt: a.token?.expiresAt,
  fetchesToday: a.fetchesToday,
  forceBudgetRemaining: a.forceBudgetRemaining,
});

describe('TokenService.scanApps (issue 15 item 5: a scrape builds no report per app)', () => {
  it('hands over, app by app in ListApps order, exactly what ListApps reports', () => {
    const scanned: ReturnType<typeof copy>[] = [];
    const objects = new Set<AppFacts>();
    const page = h.server.service.scanApps(undefined, 100, (a) => {
      objects.add(a);
      scanned.push(copy(a));
    });
    expect(page).toEqual({ last: REFUSED, more: false });
    const reports = h.server.service.listAppsPage({ limit: 100 }).apps;
    expect(scanned).toEqual(reports.map(copy));
    expect(scanned.map((a) => a.appId)).toEqual(ALL);
    // The states the fixture promises, so the comparison above covers them.
    const byId = new Map(scanned.map((a) => [a.appId, a]));
    expect(byId.get(REFUSED)!.state).toBe('config_error');
    expect(byId.get(HEALTHY[0]!)!.state).toBe('healthy');
    expect(byId.get(HEALTHY[1]!)!.forceBudgetRemaining).toBe(
      byId.get(HEALTHY[0]!)!.forceBudgetRemaining - 1,
    );
    expect(objects.size).toBe(1); // one object refilled, not one per app
  });

  it('pages: `limit` apps after `after`, the last one and whether more follow', () => {
    const seen: string[] = [];
    let after: string | undefined;
    const pages: { last: string | undefined; more: boolean }[] = [];
    do {
      const page = h.server.service.scanApps(after, 2, (a) => seen.push(a.appId));
      pages.push(page);
      after = page.last;
      if (!page.more) break;
    } while (after !== undefined);
    expect(seen).toEqual(ALL);
    expect(pages).toEqual([
      { last: ALL[1], more: true },
      { last: ALL[3], more: true },
      { last: ALL[4], more: false },
    ]);
    expect(h.server.service.scanApps(REFUSED, 2, () => undefined)).toEqual({
      last: undefined,
      more: false,
    });
  });

  it('report(appId) is the ListApps row; undefined for an app not served', () => {
    const row = h.server.service.listAppsPage({ after: HEALTHY[0]!, limit: 1 }).apps[0]!;
    expect(h.server.service.report(HEALTHY[1]!)).toEqual(row);
    expect(h.server.service.report('wxnotserved000001')).toBeUndefined();
  });
});
