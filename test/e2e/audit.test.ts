import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forceRefresh, getToken, listApps, tokenClient } from '../../src/cli/grpc-client.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { failure } from '../support/failure.js';
import { runCli, startServe, startSim, type Spawned } from '../support/processes.js';
import { startRedis, type RedisNode } from '../support/redis-server.js';
import { SimControl } from '../support/sim-control.js';
import { sha256 } from '../support/key-digest.js';

/**
 * Issue 6 point 4 from the outside: every ForceRefresh and admin call, refused ones included,
 * lands in the audit trail with caller, app, reason, result and time; two replicas on one
 * Redis share the trail (capped stream); `wxtoken audit` shows it, only to admins, and only
 * for the apps they may use. The embedded store keeps its own trail in memory.
 */

const APP_A = 'wxe2eaudit0000aa';
const APP_B = 'wxe2eaudit0000bb';
const SECRET = 'audit-e2e-secret-91c2';
const CALLERS = {
  'ops-all': { apps: ['"*"'], scopes: ['token:read', 'token:refresh', 'admin'] },
  'ops-a': { apps: [APP_A], scopes: ['token:read', 'token:refresh', 'admin'] },
  'svc-a': { apps: [APP_A], scopes: ['token:read', 'token:refresh'] },
} as const;
type Name = keyof typeof CALLERS;
const KEYS = Object.fromEntries(
  Object.keys(CALLERS).map((n) => [n, randomBytes(24).toString('base64url')]),
) as Record<Name, string>;

let sim: Spawned & { url: string };
let redis: RedisNode;
const replicas: (Spawned & { addr: string })[] = [];

function config(redisUrl?: string): string {
  return `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
${redisUrl ? `redis: { urls: ["${redisUrl}"], keyPrefix: "audit-e2e:" }\nlease: { ttlMs: 2000, renewIntervalMs: 500 }` : ''}
audit: { maxEvents: 500 }
auth:
  callers:
${Object.entries(CALLERS)
  .map(
    ([n, c]) =>
      `    - { name: ${n}, keySha256: "${sha256(KEYS[n as Name])}", apps: [${c.apps.join(', ')}], scopes: [${c.scopes.join(', ')}] }`,
  )
  .join('\n')}
apps:
  - { appId: ${APP_A}, mode: classic, secretEnv: AUDIT_SECRET }
  - { appId: ${APP_B}, mode: classic, secretEnv: AUDIT_SECRET }
`;
}

interface Row {
  at: string;
  caller: string;
  app: string;
  action: string;
  result: string;
  reason: string;
  detail: string;
  replica: string;
}

/** `wxtoken audit --json` as an operator would run it; resolves with exit code and output. */
async function auditCli(
  addr: string,
  key: string,
  ...args: string[]
): Promise<{ code: number | null; out: string; events: Row[] }> {
  const { code, out } = await runCli(['audit', '--addr', addr, '--json', ...args], {
    WXTOKEN_KEY: key,
  });
  const json = out.split('\n').find((l) => l.startsWith('{'));
  const parsed = json ? (JSON.parse(json) as { events?: Row[] }) : {};
  return { code, out, events: parsed.events ?? [] };
}

function client(i: number, who: Name): TokenServiceClient {
  return tokenClient(replicas[i]!.addr, KEYS[who]);
}

beforeAll(async () => {
  sim = await startSim();
  const control = new SimControl(sim.url);
  for (const appId of [APP_A, APP_B]) {
    await control.configureApp({ appId, secret: SECRET, expiresInSeconds: 7200 });
  }
  redis = await startRedis();
  for (let i = 0; i < 2; i++) {
    replicas.push(await startServe(config(redis.url), { AUDIT_SECRET: SECRET }));
  }
  const c = client(0, 'ops-all');
  await getToken(c, APP_A);
  await getToken(c, APP_B);
  c.close();
});

afterAll(async () => {
  for (const r of replicas) await r.stop();
  await redis?.stop();
  await sim?.stop();
});

describe('audit trail shared by two replicas on Redis', () => {
  const reason = `rotate after incident ${randomBytes(3).toString('hex')}`;

  it('an operator refresh on replica 0 is listed by `wxtoken audit` on replica 1', async () => {
    const c = client(0, 'ops-all');
    const r = await forceRefresh(c, { app_id: APP_A, stale_token: '', reason });
    c.close();
    expect(r.refreshed).toBe(true);
    const { code, events } = await auditCli(replicas[1]!.addr, KEYS['ops-all'], '--app', APP_A);
    expect(code).toBe(0);
    const e = events.find((x) => x.reason === reason);
    expect(e).toMatchObject({
      caller: 'ops-all',
      app: APP_A,
      action: 'operator_refresh',
      result: 'OK',
      detail: `refreshed, generation ${r.token!.generation}`,
    });
    expect(Math.abs(Date.parse(e!.at) - Date.now())).toBeLessThan(60_000);
    expect(e!.replica).toMatch(new RegExp(`:${replicas[0]!.proc.pid}$`));
  });

  it('a compare-and-refresh and refused calls are recorded with their caller and status', async () => {
    const svc = client(1, 'svc-a');
    const current = await getToken(svc, APP_A);
    const fr = await forceRefresh(svc, {
      app_id: APP_A,
      stale_token: `${current.access_token}-not-current`,
      reason: 'saw 40001',
    });
    expect(fr.refreshed).toBe(false);
    // svc-a has no admin: an operator refresh and ListApps are refused, and audited.
    const noAdmin = await failure(
      forceRefresh(svc, { app_id: APP_A, stale_token: '', reason: 'sneaky' }),
    );
    expect(noAdmin.code).toBe(grpc.status.PERMISSION_DENIED);
    expect((await failure(listApps(svc))).code).toBe(grpc.status.PERMISSION_DENIED);
    svc.close();
    // No key at all, 150 times with attacker-chosen app ids and reasons (issue 11): refused,
    // counted, and kept out of the capped trail, so no real event is displaced.
    const anon = tokenClient(replicas[0]!.addr);
    expect((await failure(listApps(anon))).code).toBe(grpc.status.UNAUTHENTICATED);
    const flood = await Promise.allSettled(
      Array.from({ length: 150 }, (_, i) =>
        forceRefresh(anon, { app_id: `wxflood${i}`, stale_token: '', reason: 'flood' }),
      ),
    );
    expect(flood.every((r) => r.status === 'rejected')).toBe(true);
    anon.close();

    const { events } = await auditCli(replicas[0]!.addr, KEYS['ops-all'], '--limit', '100');
    const find = (m: Partial<Row>): Row | undefined =>
      events.find((e) => Object.entries(m).every(([k, v]) => e[k as keyof Row] === v));
    const cas = find({ caller: 'svc-a', action: 'force_refresh', reason: 'saw 40001' });
    expect(cas?.result).toBe('OK');
    expect(cas?.detail).toMatch(/^stale token [0-9a-f]{8}; unchanged, generation \d+$/);
    expect(find({ caller: 'svc-a', action: 'operator_refresh', reason: 'sneaky' })?.result).toBe(
      'PERMISSION_DENIED',
    );
    expect(find({ caller: 'svc-a', action: 'list_apps' })?.result).toBe('PERMISSION_DENIED');
    expect(find({ caller: 'unauthenticated' })).toBeUndefined();
    expect(events.some((e) => e.reason === 'flood')).toBe(false);
    // Invariant 8: no token value in the trail.
    expect(JSON.stringify(events)).not.toContain(current.access_token);
  });

  it('an admin of app A sees only app A events; asking for app B is PERMISSION_DENIED', async () => {
    const c = client(0, 'ops-all');
    await forceRefresh(c, { app_id: APP_B, stale_token: '', reason: 'b only' });
    c.close();
    const all = await auditCli(replicas[0]!.addr, KEYS['ops-all'], '--limit', '200');
    expect(all.events.some((e) => e.app === APP_B && e.reason === 'b only')).toBe(true);

    const mine = await auditCli(replicas[0]!.addr, KEYS['ops-a'], '--limit', '200');
    expect(mine.code).toBe(0);
    expect(mine.events.length).toBeGreaterThan(0);
    expect(mine.events.every((e) => e.app === APP_A)).toBe(true);

    const other = await auditCli(replicas[0]!.addr, KEYS['ops-a'], '--app', APP_B);
    expect(other.code).toBe(1);
    expect(other.out).toMatch(/"code":"PERMISSION_DENIED"/);
  });

  it('without the admin scope `wxtoken audit` is refused (and that call is audited too)', async () => {
    const r = await auditCli(replicas[1]!.addr, KEYS['svc-a']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/"code":"PERMISSION_DENIED"/);
    const { events } = await auditCli(replicas[1]!.addr, KEYS['ops-all'], '--limit', '20');
    expect(
      events.find((e) => e.caller === 'svc-a' && e.action === 'list_audit_events')?.result,
    ).toBe('PERMISSION_DENIED');
  });

  it('the stream stays capped at audit.maxEvents', async () => {
    const c = client(0, 'ops-all');
    // ListApps calls are cheap admin calls: 600 of them overflow a 500-event trail.
    await Promise.all(Array.from({ length: 600 }, () => listApps(c)));
    c.close();
    const { events } = await auditCli(replicas[0]!.addr, KEYS['ops-all'], '--limit', '1000');
    expect(events.length).toBe(500);
  });

  it('bad --limit is a usage error naming the flag', async () => {
    const r = await auditCli(replicas[0]!.addr, KEYS['ops-all'], '--limit', '0');
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/--limit/);
  });
});

describe('audit trail on the embedded store', () => {
  it('lists this process’s operator refreshes', async () => {
    const server = await startServe(config(), { AUDIT_SECRET: SECRET });
    try {
      const c = tokenClient(server.addr, KEYS['ops-all']);
      await getToken(c, APP_B);
      await forceRefresh(c, { app_id: APP_B, stale_token: '', reason: 'embedded check' });
      c.close();
      const { code, events } = await auditCli(server.addr, KEYS['ops-all'], '--app', APP_B);
      expect(code).toBe(0);
      expect(events[0]).toMatchObject({
        caller: 'ops-all',
        action: 'operator_refresh',
        reason: 'embedded check',
        result: 'OK',
      });
    } finally {
      await server.stop();
    }
  });
});
