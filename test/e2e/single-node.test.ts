import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forceRefresh, getToken, listApps, tokenClient } from '../../src/cli/grpc-client.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { startServe, startSim, type Spawned } from '../support/processes.js';
import { SimControl } from '../support/sim-control.js';

const CLASSIC = 'wxe2eclassic0001';
const STABLE = 'wxe2estable00001';
const HERD = 'wxe2eherd0000001';
const FAULTY = 'wxe2efaulty00001';
const SECRET = 'e2e-secret-never-printed-7d1f';
const HERD_SETTINGS = { appId: HERD, secret: SECRET, expiresInSeconds: 7200 };

let sim: Spawned & { url: string };
let server: Spawned & { addr: string };
let control: SimControl;
let client: TokenServiceClient;
/** Every token any test received, to look for in the logs at the end. */
const everServed = new Set<string>();

beforeAll(async () => {
  sim = await startSim();
  control = new SimControl(sim.url);
  // Short lifetimes so many rotations run in seconds (design.md: durations accept fractions).
  await control.configureApp({
    appId: CLASSIC,
    secret: SECRET,
    expiresInSeconds: 4,
    overlapSeconds: 1.5,
  });
  await control.configureApp({
    appId: STABLE,
    secret: SECRET,
    expiresInSeconds: 4,
    overlapSeconds: 1.5,
    stableWindowSeconds: 1.5,
  });
  await control.configureApp(HERD_SETTINGS);
  await control.configureApp({
    appId: FAULTY,
    secret: SECRET,
    expiresInSeconds: 6,
    overlapSeconds: 2,
  });
  server = await startServe(
    `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
refresh: { aheadSeconds: 1.2, stableWindowSeconds: 1.5, retryMinMs: 100, retryMaxMs: 1000, forceMinIntervalMs: 1000 }
apps:
  - { appId: ${CLASSIC}, mode: classic, secretEnv: E2E_SECRET }
  - { appId: ${STABLE}, mode: stable, secretEnv: E2E_SECRET }
  - { appId: ${HERD}, mode: classic, secretEnv: E2E_SECRET }
  - { appId: ${FAULTY}, mode: classic, secretEnv: E2E_SECRET }
`,
    { E2E_SECRET: SECRET },
  );
  client = tokenClient(server.addr);
});

afterAll(async () => {
  client?.close();
  await server?.stop();
  await sim?.stop();
});

describe('wxtoken serve against wxtoken sim, over real sockets', () => {
  it('invariants 3 + 4: across many rotations every served token is valid at WeChat; one fetch per rotation', async () => {
    const started = Date.now();
    const before = {
      classic: await control.counters(CLASSIC),
      stable: await control.counters(STABLE),
    };
    const served = { [CLASSIC]: new Set<string>(), [STABLE]: new Set<string>() };
    let calls = 0;
    const invalid: string[] = [];
    const runFor = 20_000;
    const worker = async (appId: typeof CLASSIC | typeof STABLE): Promise<void> => {
      while (Date.now() - started < runFor) {
        const t = await getToken(client, appId);
        const verdict = await control.check(t.access_token);
        calls++;
        served[appId].add(t.access_token);
        everServed.add(t.access_token);
        if (!verdict.valid)
          invalid.push(`${appId} errcode ${verdict.errcode} at ${Date.now() - started} ms`);
      }
    };
    await Promise.all([worker(CLASSIC), worker(CLASSIC), worker(STABLE), worker(STABLE)]);
    const elapsedS = (Date.now() - started) / 1000;
    const after = {
      classic: await control.counters(CLASSIC),
      stable: await control.counters(STABLE),
    };
    expect(invalid).toEqual([]);
    expect(calls).toBeGreaterThan(500);

    // Classic: a 4 s token refreshed 1.2-1.44 s early → one rotation per 2.56-2.8 s.
    const classicFetches = after.classic.tokenCalls - before.classic.tokenCalls;
    expect(after.classic.tokenIssued - before.classic.tokenIssued).toBe(classicFetches); // no failed or wasted calls
    expect(classicFetches).toBeGreaterThanOrEqual(Math.floor(elapsedS / 2.8));
    expect(classicFetches).toBeLessThanOrEqual(Math.ceil(elapsedS / 2.56) + 1);
    // Every token fetched was served: no fetch was thrown away.
    expect(served[CLASSIC].size).toBeGreaterThanOrEqual(classicFetches);

    // Stable: a new token per rotation, and no force_refresh spent by the schedule.
    const stableRotations = after.stable.stableIssued - before.stable.stableIssued;
    expect(stableRotations).toBeGreaterThanOrEqual(Math.floor(elapsedS / 4) - 1);
    expect(after.stable.stableForceIssued - before.stable.stableForceIssued).toBe(0);
    console.log(
      `rotation e2e: ${calls} GetToken+check in ${elapsedS.toFixed(1)} s, classic fetches ${classicFetches} ` +
        `(distinct served ${served[CLASSIC].size}), stable rotations ${stableRotations} ` +
        `(normal-mode calls ${after.stable.stableCalls - before.stable.stableCalls}), invalid ${invalid.length}`,
    );
  }, 60_000);

  it('invariants 3 + 4: upstream faults (-1, 45011, HTML, 502, malformed) are retried while the current token is served', async () => {
    const first = await getToken(client, FAULTY);
    const before = await control.counters(FAULTY);
    for (const kind of ['system_error', 'minute_quota', 'html', 'http_502', 'malformed']) {
      await control.fault(FAULTY, { kind, count: 1, endpoints: ['token'] });
    }
    let errors = 0;
    const invalid: string[] = [];
    const seen = new Set<string>([first.access_token]);
    const until = Date.now() + 9_000;
    while (Date.now() < until) {
      const t = await getToken(client, FAULTY).catch(() => undefined);
      if (!t) {
        errors++;
        continue;
      }
      seen.add(t.access_token);
      everServed.add(t.access_token);
      if (!(await control.check(t.access_token)).valid) invalid.push(t.access_token.slice(0, 6));
    }
    const after = await control.counters(FAULTY);
    const faultsAnswered =
      Object.values(after.faults).reduce((a, b) => a + b, 0) -
      Object.values(before.faults).reduce((a, b) => a + b, 0);
    expect(faultsAnswered).toBe(5);
    expect(invalid).toEqual([]);
    expect(errors).toBe(0);
    expect(seen.size).toBeGreaterThanOrEqual(2); // rotated despite the faults
    const status = (await listApps(client)).apps.find((a) => a.app_id === FAULTY)!;
    expect(status.state).toBe('APP_STATE_HEALTHY');
  }, 30_000);

  it('grpc.health.v1 reports SERVING for the replica and for an app with a live token (design: standard health)', async () => {
    const Health = grpc.makeGenericClientConstructor(healthService, 'grpc.health.v1.Health');
    const health = new Health(
      server.addr,
      grpc.credentials.createInsecure(),
    ) as unknown as grpc.Client & {
      check(
        req: { service: string },
        cb: (err: grpc.ServiceError | null, res: { status: string }) => void,
      ): void;
    };
    for (const service of ['', 'wxtoken.v1.TokenService', `wxtoken.v1.TokenService/${FAULTY}`]) {
      const res = await new Promise<{ status: string }>((resolve, reject) =>
        health.check({ service }, (err, r) => (err ? reject(err) : resolve(r))),
      );
      expect(res.status).toBe('SERVING');
    }
    health.close();
  });

  /**
   * Runs a herd while WeChat answers HERD's calls 500 ms late. The herd tests' bounds are for
   * reports that arrive while the first check (or fetch) is in flight; answered in a
   * millisecond, a herd spread out by a loaded machine outlasts it, and each later group
   * correctly earns its own check (or sees the new token with refreshed=false).
   */
  const asOneHerd = async <T>(herd: () => Promise<T>): Promise<T> => {
    await control.configureApp({ ...HERD_SETTINGS, latencyMs: 500 });
    try {
      return await herd();
    } finally {
      await control.configureApp(HERD_SETTINGS);
    }
  };

  it('invariant 6: 200 concurrent ForceRefresh with a token WeChat invalidated cost one check and one fetch', async () => {
    const stale = (await getToken(client, HERD)).access_token;
    await control.rotate(HERD, true); // another system fetched: our token is dead at once
    expect((await control.check(stale)).valid).toBe(false);
    const before = await control.counters(HERD);
    const replies = await asOneHerd(() =>
      Promise.all(
        Array.from({ length: 200 }, () =>
          forceRefresh(client, { app_id: HERD, stale_token: stale, reason: 'e2e herd' }),
        ),
      ),
    );
    const after = await control.counters(HERD);
    expect(after.checkCalls - before.checkCalls).toBe(1);
    expect(after.tokenCalls - before.tokenCalls).toBe(1);
    const fresh = replies[0]!.token!.access_token;
    everServed.add(stale).add(fresh);
    expect(fresh).not.toBe(stale);
    for (const r of replies) {
      expect(r.refreshed).toBe(true);
      expect(r.token!.access_token).toBe(fresh);
    }
    expect((await control.check(fresh)).valid).toBe(true);
    expect((await getToken(client, HERD)).access_token).toBe(fresh);
  });

  it('invariant 6: the same herd with a token WeChat still accepts costs at most two checks and no fetch', async () => {
    await new Promise((r) => setTimeout(r, 1100)); // past forceMinIntervalMs of the previous test
    const current = (await getToken(client, HERD)).access_token;
    const before = await control.counters(HERD);
    const replies = await asOneHerd(() =>
      Promise.all(
        Array.from({ length: 200 }, () =>
          forceRefresh(client, { app_id: HERD, stale_token: current, reason: 'e2e herd' }),
        ),
      ),
    );
    const after = await control.counters(HERD);
    // Reports that arrive while the first check is in flight wait for a second one (a verdict
    // answers only reports that arrived before its check was sent).
    expect(after.checkCalls - before.checkCalls).toBeGreaterThanOrEqual(1);
    expect(after.checkCalls - before.checkCalls).toBeLessThanOrEqual(2);
    expect(after.tokenCalls - before.tokenCalls).toBe(0);
    for (const r of replies) {
      expect(r.refreshed).toBe(false);
      expect(r.token!.access_token).toBe(current);
    }
  });

  it('invariant 9: bad requests get precise statuses naming the field, and the process keeps serving', async () => {
    const cases: [string, () => Promise<unknown>, grpc.status, RegExp][] = [
      [
        'empty app_id',
        () => getToken(client, ''),
        grpc.status.INVALID_ARGUMENT,
        /app_id: must not be empty/,
      ],
      [
        'unknown app',
        () => getToken(client, 'wxnotconfigured1'),
        grpc.status.NOT_FOUND,
        /wxnotconfigured1/,
      ],
      [
        'app_id with spaces',
        () => getToken(client, 'wx bad'),
        grpc.status.INVALID_ARGUMENT,
        /app_id/,
      ],
      [
        'oversized app_id',
        () => getToken(client, 'a'.repeat(65)),
        grpc.status.INVALID_ARGUMENT,
        /app_id: longer/,
      ],
      [
        'oversized stale_token',
        () => forceRefresh(client, { app_id: HERD, stale_token: 'x'.repeat(5000), reason: 'r' }),
        grpc.status.INVALID_ARGUMENT,
        /stale_token/,
      ],
      [
        'operator refresh without a reason',
        () => forceRefresh(client, { app_id: HERD, stale_token: '', reason: ' ' }),
        grpc.status.INVALID_ARGUMENT,
        /reason/,
      ],
      [
        'request over the size limit',
        () => getToken(client, 'a'.repeat(200_000)),
        grpc.status.RESOURCE_EXHAUSTED,
        /./,
      ],
    ];
    for (const [name, run, code, message] of cases) {
      const err = (await run().then(
        () => {
          throw new Error(`${name}: expected an error`);
        },
        (e: grpc.ServiceError) => e,
      )) as grpc.ServiceError;
      expect(err.code, name).toBe(code);
      expect(err.details, name).toMatch(message);
    }
    expect((await getToken(client, HERD)).access_token).toMatch(/^\d\d_/);
  });

  it('ListApps shows status, never a token or a secret', async () => {
    const r = await listApps(client);
    expect(r.apps.map((a) => a.app_id).sort()).toEqual([CLASSIC, FAULTY, HERD, STABLE].sort());
    for (const a of r.apps) {
      expect(['APP_STATE_HEALTHY', 'APP_STATE_DEGRADED']).toContain(a.state);
      expect(Number(a.generation)).toBeGreaterThan(0);
      expect(a.leader).toBe(true);
    }
    const text = JSON.stringify(r);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain((await getToken(client, HERD)).access_token);
  });

  it('WatchToken streams the current token, then each new one', async () => {
    const stream = client.WatchToken({ app_id: CLASSIC });
    const seen: string[] = [];
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (t: { access_token: string }) => {
        seen.push(t.access_token);
        if (seen.length === 2) resolve();
      });
      stream.on('error', (e: grpc.ServiceError) => {
        if (e.code !== grpc.status.CANCELLED) reject(e);
      });
    });
    stream.cancel();
    expect(seen[0]).not.toBe(seen[1]);
    expect((await control.check(seen[1]!)).valid).toBe(true);
  });

  it('invariant 8: neither the secret nor any served token appears in the server output', () => {
    expect(server.output()).not.toContain(SECRET);
    for (const token of everServed) expect(server.output()).not.toContain(token);
    expect(everServed.size).toBeGreaterThan(10);
    expect(server.output()).toContain('"msg":"refresh"');
  });
});
