import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoginServiceClient } from '../../src/grpc/generated/wxtoken/v1/LoginService.js';
import { loadProto } from '../../src/grpc/proto.js';
import { createRedisClient, waitReady } from '../../src/redis/redis-clients.js';
import { type Spawned, startServe, startSimWithApp } from '../support/processes.js';
import { startRedis, type RedisNode } from '../support/redis-server.js';
import { sha256 } from '../support/key-digest.js';

/**
 * Issue 11 §4 from the outside (invariant 8): a login code exchanged by caller A cannot be
 * replayed by caller B to obtain A's user's session, and Redis key names hold no session handle.
 */
const APP = 'wxe2ebinding0001';
const SECRET = 'binding-e2e-secret-42';
const KEY_A = randomBytes(24).toString('base64url');
const KEY_B = randomBytes(24).toString('base64url');
let sim: Spawned & { url: string };
let redis: RedisNode;
let server: Spawned & { addr: string };
let client: LoginServiceClient;

function code2Session(jsCode: string, key: string): Promise<{ session_handle: string }> {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${key}`);
  return new Promise((resolve, reject) =>
    client.Code2Session(
      { app_id: APP, js_code: jsCode },
      md,
      { deadline: Date.now() + 10_000 },
      (err, res) => (err ? reject(err) : resolve(res as { session_handle: string })),
    ),
  );
}

beforeAll(async () => {
  sim = await startSimWithApp(APP, SECRET);
  redis = await startRedis();
  server = await startServe(
    `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
redis: { urls: ["${redis.url}"] }
auth:
  callers:
    - { name: shop-a, keySha256: "${sha256(KEY_A)}", apps: [${APP}], scopes: [login] }
    - { name: shop-b, keySha256: "${sha256(KEY_B)}", apps: [${APP}], scopes: [login] }
apps: [{ appId: ${APP}, mode: classic, secretEnv: BIND_SECRET }]
`,
    { BIND_SECRET: SECRET },
  );
  const proto = loadProto();
  client = new proto.wxtoken.v1.LoginService(server.addr, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await server?.stop();
  await redis?.stop();
  await sim?.stop();
});

describe('Code2Session bound to its caller (issue 11 §4, invariant 8)', () => {
  it("caller B replaying caller A's code gets 40163, A's retry gets its own session; KEYS lists no handle", async () => {
    const minted = (await (
      await fetch(`${sim.url}/__sim/apps/${APP}/codes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      })
    ).json()) as { code: string };
    const a = await code2Session(minted.code, KEY_A);
    const stolen = await code2Session(minted.code, KEY_B).then(
      (r) => r,
      (e: grpc.ServiceError) => e,
    );
    expect(stolen).toBeInstanceOf(Error);
    expect((stolen as grpc.ServiceError).metadata.get('wechat-errcode')).toEqual(['40163']);
    expect((await code2Session(minted.code, KEY_A)).session_handle).toBe(a.session_handle);

    const dump = createRedisClient(redis.url, { commandTimeoutMs: 1_000, connectionName: 'dump' });
    await waitReady(dump, 5_000);
    const names = (await dump.keys('*')).join('\n');
    await dump.quit();
    expect(names).not.toContain(a.session_handle);
    expect(names).toContain(sha256(a.session_handle));
  });
});
