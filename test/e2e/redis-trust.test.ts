import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forceRefresh, getToken, tokenClient } from '../../src/cli/grpc-client.js';
import { createRedisClient, waitReady } from '../../src/redis/redis-clients.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { startServe, startSim, waitForOutput, type Spawned } from '../support/processes.js';
import { startRedis, type RedisNode } from '../support/redis-server.js';
import { SimControl } from '../support/sim-control.js';
import { until } from '../support/until.js';

/**
 * Issue 11 §4 "Redis is not trusted blindly", from the outside: a real `wxtoken serve` with
 * encryption at rest on, a real redis-server, and an attacker who can write to that Redis.
 */
const APP_A = 'wxe2etrust00000a';
const APP_B = 'wxe2etrust00000b';
const SECRET = 'trust-e2e-secret-1234';
const keys = new RedisKeys('wxtoken:');
let sim: Spawned & { url: string };
let redis: RedisNode;
let server: Spawned & { addr: string };
let attacker: Redis;
let metricsUrl: string;
let client: ReturnType<typeof tokenClient>;

/** Sum of wxtoken_store_untrusted_records_total over sources for one reason. */
const untrusted = async (reason: string): Promise<number> => {
  const text = await (await fetch(metricsUrl)).text();
  const series = new RegExp(
    `^wxtoken_store_untrusted_records_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)$`,
    'gm',
  );
  return [...text.matchAll(series)].reduce((sum, m) => sum + Number(m[1]), 0);
};

beforeAll(async () => {
  sim = await startSim();
  const control = new SimControl(sim.url);
  for (const appId of [APP_A, APP_B]) {
    await control.configureApp({ appId, secret: SECRET, expiresInSeconds: 7200 });
  }
  redis = await startRedis();
  server = await startServe(
    `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "127.0.0.1:0" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
redis:
  urls: ["${redis.url}"]
  reconcileIntervalMs: 200
  encryption: { currentKeyId: k1, keys: [{ id: k1, keyEnv: TRUST_AT_REST_KEY }] }
apps:
  - { appId: ${APP_A}, mode: classic, secretEnv: TRUST_SECRET }
  - { appId: ${APP_B}, mode: classic, secretEnv: TRUST_SECRET }
`,
    { TRUST_SECRET: SECRET, TRUST_AT_REST_KEY: randomBytes(32).toString('base64') },
  );
  const m = await waitForOutput(server, /"metrics":(\d+)/);
  metricsUrl = `http://127.0.0.1:${m[1]}/metrics`;
  attacker = createRedisClient(redis.url, { commandTimeoutMs: 1_000, connectionName: 'attacker' });
  await waitReady(attacker, 5_000);
  client = tokenClient(server.addr);
});

afterAll(async () => {
  client?.close();
  await attacker?.quit();
  await server?.stop();
  await redis?.stop();
  await sim?.stop();
});

describe('wxtoken serve with a hostile Redis writer (issue 11 §4; invariants 2, 3)', () => {
  it('a PUBLISHed plaintext forged token is not served, and is counted', async () => {
    const real = await getToken(client, APP_A);
    const now = Date.now();
    const forged = {
      appId: APP_A,
      accessToken: 'FORGED_BY_PUBLISH_0123456789',
      generation: Number(real.generation) + 50,
      expiresAt: now + 7_000_000,
      fetchedAt: now,
    };
    await attacker.publish(keys.events(), JSON.stringify(forged));
    // Either outcome settles the probe: served (the bug) or dropped and counted (the fix).
    await until('the forged message is handled', async () => {
      const t = await getToken(client, APP_A);
      return t.access_token === forged.accessToken || (await untrusted('bad_seal')) >= 1;
    });
    expect((await getToken(client, APP_A)).access_token).toBe(real.access_token);
  });

  it("app B's sealed token copied into app A's record is refused; A keeps its own token", async () => {
    const a = await getToken(client, APP_A);
    const b = await getToken(client, APP_B);
    const sealedB = await attacker.hget(keys.record(APP_B), 'token');
    const before = await untrusted('bad_seal');
    await attacker.hset(keys.record(APP_A), {
      token: sealedB!,
      generation: String(Number(a.generation) + 100),
    });
    await until('the copied record is handled', async () => {
      const t = await getToken(client, APP_A);
      return t.access_token === b.access_token || (await untrusted('bad_seal')) > before;
    });
    expect((await getToken(client, APP_A)).access_token).toBe(a.access_token);
    // The leader repairs the record: A's own token is stored again (a fenced write).
    await until('record repaired', async () => {
      const g = await attacker.hget(keys.record(APP_A), 'generation');
      return g === a.generation;
    });
  });

  it('a record set to generation 2^53 does not freeze the app: a refresh still writes', async () => {
    const a = await getToken(client, APP_A);
    await attacker.hset(keys.record(APP_A), { generation: String(2 ** 53) });
    await until('the poisoned generation is handled', async () => {
      const t = await getToken(client, APP_A);
      return t.generation === String(2 ** 53) || (await untrusted('bad_generation')) >= 1;
    });
    const r = await forceRefresh(client, { app_id: APP_A, stale_token: '', reason: 'e2e trust' });
    expect(r.refreshed).toBe(true);
    expect(r.token?.access_token).not.toBe(a.access_token);
    expect(Number(r.token?.generation)).toBeLessThan(2 ** 52);
    expect((await getToken(client, APP_A)).access_token).toBe(r.token?.access_token);
  });
});
