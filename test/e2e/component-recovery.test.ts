import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  componentClient,
  getComponentToken,
  listAuthorizers,
  recoverAuthorizers,
} from '../../src/cli/component-client.js';
import { forceRefresh, getToken, tokenClient } from '../../src/cli/grpc-client.js';
import type { ComponentServiceClient } from '../../src/grpc/generated/wxtoken/v1/ComponentService.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { createRedisClient, waitReady } from '../../src/redis/redis-clients.js';
import { ComponentSim, newTestComponent } from '../support/component-sim.js';
import { freePort } from '../support/free-port.js';
import { assertBuilt, startServe, startSim, type Spawned } from '../support/processes.js';
import { startRedis, type RedisNode } from '../support/redis-server.js';
import { SimControl } from '../support/sim-control.js';
import { waitFor } from '../support/until.js';

/**
 * Issue 15 "done means": the whole third-party flow through the simulator, on two replicas
 * sharing one Redis: verify-ticket push -> component token -> authorization events ->
 * authorizer tokens served by GetToken (both replicas) and the gateway -> Redis flushed (what
 * a restart without persistence does) -> RecoverAuthorizers -> served and refreshed again.
 * Zero invalid tokens served, zero customer re-authorizations (no `authorized` push after the
 * flush), zero 61023 (a refresh token that WeChat no longer accepts).
 */
const COMPONENT = newTestComponent('wxcomponentrecov1');
const ID = COMPONENT.componentAppId;
const AUTHORIZERS = 3;

let redis: RedisNode;
let sim: Spawned & { url: string };
let a: Spawned & { addr: string };
let b: Spawned & { addr: string };
let c: (Spawned & { addr: string }) | undefined;
let replicaConfig: (gatewayPort: number) => string;
let replicaEnv: Record<string, string>;
let gatewayA: string;
let control: SimControl;
let platform: ComponentSim;
let admin: Redis;
const clients: { close(): void }[] = [];

beforeAll(async () => {
  assertBuilt();
  redis = await startRedis();
  sim = await startSim();
  control = new SimControl(sim.url);
  const env = {
    COMP_SECRET: COMPONENT.secret,
    COMP_TOKEN: COMPONENT.messageToken,
    COMP_AES: COMPONENT.encodingAesKey,
  };
  const config = (gatewayPort: number) => `
grpc: { listen: "127.0.0.1:0" }
gateway: { listen: "127.0.0.1:${gatewayPort}" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
redis:
  urls: ["${redis.url}"]
  reconcileIntervalMs: 200
  encryption: { currentKeyId: k1, keys: [{ id: k1, keyEnv: AT_REST }] }
lease: { ttlMs: 3000 }
refresh: { forceMinIntervalMs: 1, retryMinMs: 100, retryMaxMs: 500 }
components:
  - { componentAppId: ${ID}, secretEnv: COMP_SECRET, messageTokenEnv: COMP_TOKEN, encodingAesKeyEnv: COMP_AES }
`;
  const atRest = randomBytes(32).toString('base64');
  const portA = await freePort();
  replicaConfig = config;
  replicaEnv = { ...env, AT_REST: atRest };
  a = await startServe(config(portA), replicaEnv);
  b = await startServe(config(await freePort()), replicaEnv);
  gatewayA = `http://127.0.0.1:${portA}`;
  platform = new ComponentSim(control, COMPONENT);
  await platform.configure(`${gatewayA}/wechat/component/${ID}/events`);
  admin = createRedisClient(redis.url, { commandTimeoutMs: 2_000, connectionName: 'test-admin' });
  await waitReady(admin, 5_000);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await admin?.quit();
  await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
  await sim?.stop();
  await redis?.stop();
});

function tokens(addr: string): TokenServiceClient {
  const c = tokenClient(addr);
  clients.push(c);
  return c;
}

function components(addr: string): ComponentServiceClient {
  const c = componentClient(addr);
  clients.push(c);
  return c;
}

describe('third-party platform across a lost store (issue 15)', () => {
  it('push -> token -> authorizations -> served on both replicas -> FLUSHALL -> RecoverAuthorizers -> served and refreshed again -> rolling restart', async () => {
    const [ta, tb] = [tokens(a.addr), tokens(b.addr)];
    const cb = components(b.addr);

    expect(await platform.pushVerifyTicket()).toMatchObject({ status: 200, body: 'success' });
    // The push reached replica A; whichever replica leads fetches the component token.
    await waitFor(
      'component token on B',
      () => getComponentToken(cb, ID, 2_000).catch(() => undefined),
      15_000,
    );

    const ids: string[] = [];
    for (let i = 0; i < AUTHORIZERS; i++) {
      const { appId, push } = await platform.authorize();
      expect(push).toMatchObject({ status: 200, body: 'success' });
      ids.push(appId);
    }
    // Replica B learns of them from the store, without any event of its own.
    for (const id of ids) {
      await waitFor(`${id} on B`, () => getToken(tb, id, 2_000).catch(() => undefined), 15_000);
    }

    // Load on both replicas from here to the end: every answer is recorded, and each token is
    // checked with WeChat when first seen (a rotation leaves the previous one its overlap, so
    // a token checked right after it was served is judged as the caller would find it).
    const served = new Set<string>();
    const checks: Promise<{ valid: boolean }>[] = [];
    const errors: string[] = [];
    let loading = true;
    const load = (async () => {
      while (loading) {
        for (const id of ids) {
          for (const c of [ta, tb]) {
            await getToken(c, id, 2_000).then(
              (t) => {
                if (served.has(t.access_token)) return;
                served.add(t.access_token);
                checks.push(control.check(t.access_token));
              },
              (err: grpc.ServiceError) => errors.push(`${id}: ${err.code} ${err.details}`),
            );
          }
        }
      }
    })();

    // The store loses everything: token records, locks, verify ticket, authorizers, refresh tokens.
    await admin.flushall();
    // Replicas keep serving from memory; the leader writes its tokens back (repair).
    await waitFor(
      'token records repaired',
      async () => ((await admin.keys('*:token')).length >= AUTHORIZERS ? true : undefined),
      15_000,
    );
    const pushesBefore = (await platform.counters()) as unknown as { pushes: number };

    expect(await recoverAuthorizers(cb, ID)).toBe(AUTHORIZERS);
    // The verify ticket went with the store too: WeChat's next push (every 10 min) restores it.
    expect(await platform.pushVerifyTicket()).toMatchObject({ status: 200, body: 'success' });

    // Every authorizer refreshes with the recovered refresh token, on either replica.
    for (const [i, id] of ids.entries()) {
      const c = i % 2 === 0 ? ta : tb;
      const r = await forceRefresh(c, { app_id: id, stale_token: '', reason: 'after recovery' });
      expect(r.token?.access_token).toBeTruthy();
      // ...and again: the refresh token stored by the first refresh works too.
      const again = await forceRefresh(c, { app_id: id, stale_token: '', reason: 'again' });
      expect(again.token?.access_token).not.toBe(r.token?.access_token);
    }
    for (const id of ids) {
      await waitFor(
        `${id} new token on both`,
        async () => {
          const [x, y] = await Promise.all([getToken(ta, id), getToken(tb, id)]);
          return x.access_token === y.access_token ? true : undefined;
        },
        10_000,
      );
    }
    loading = false;
    await load;

    const listed = await listAuthorizers(cb, ID, { pageSize: 100 });
    expect(listed.authorizers.map((x) => x.authorizer_app_id).sort()).toEqual([...ids].sort());

    // Zero invalid tokens: every distinct token served was one WeChat issued and accepted.
    const verdicts = await Promise.all(checks);
    const invalid = verdicts.filter((v) => !v.valid);
    expect({ served: served.size, invalid: invalid.length, errors }).toEqual({
      served: served.size,
      invalid: 0,
      errors: [],
    });
    expect(served.size).toBeGreaterThanOrEqual(AUTHORIZERS * 2);
    const counters = await platform.counters();
    expect(counters.errors['61023'] ?? 0).toBe(0);
    // No customer action: the only pushes after the flush are the verify ticket.
    expect((counters as unknown as { pushes: number }).pushes).toBe(pushesBefore.pushes + 1);

    // A rolling restart: A goes (it may be the leader), C starts from the store alone and
    // serves every authorizer; refresh tokens survive the leader change.
    await a.stop();
    c = await startServe(replicaConfig(await freePort()), replicaEnv);
    const tc = tokens(c.addr);
    for (const id of ids) {
      const t = await waitFor(
        `${id} on C`,
        () => getToken(tc, id, 2_000).catch(() => undefined),
        15_000,
      );
      expect((await control.check(t.access_token)).valid).toBe(true);
      const r = await forceRefresh(tc, { app_id: id, stale_token: '', reason: 'after restart' });
      expect((await control.check(r.token!.access_token)).valid).toBe(true);
    }
    expect((await platform.counters()).errors['61023'] ?? 0).toBe(0);
  });
});
