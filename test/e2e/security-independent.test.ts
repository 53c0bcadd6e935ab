import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getToken, tokenClient } from '../../src/cli/grpc-client.js';
import { loadProto } from '../../src/grpc/proto.js';
import { startServe, startSim, type Spawned } from '../support/processes.js';
import { startRedis, type RedisNode } from '../support/redis-server.js';
import { SimControl } from '../support/sim-control.js';
import { sha256 } from '../support/key-digest.js';

/**
 * Issue 6 "done means", shown by clients that share no code with wxtoken: Debian's
 * python3-grpcio (hand-encoded requests) gets UNAUTHENTICATED without a key, PERMISSION_DENIED
 * for another app (and for one that does not exist: the same answer) and for ForceRefresh
 * without token:refresh; `redis-cli` dumps every key of a store with encryption at rest on and
 * finds no token and no session key in plain text (invariant 8).
 */

const PYTHON = '/usr/bin/python3';
const PROBE = fileURLToPath(new URL('./python/auth_probe.py', import.meta.url));
const APP_A = 'wxe2eindep0000aa';
const APP_B = 'wxe2eindep0000bb';
const SECRET = 'indep-e2e-secret-77d1';
const KEY = {
  reader: 'r-' + randomBytes(16).toString('hex'),
  refresher: 'f-' + randomBytes(16).toString('hex'),
  login: 'l-' + randomBytes(16).toString('hex'),
};

function run(
  file: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(file, args, { timeout: 30_000, maxBuffer: 64 * 2 ** 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    ),
  );
}

let sim: Spawned & { url: string };
let redis: RedisNode;
let server: Spawned & { addr: string };

beforeAll(async () => {
  const probe = await run(PYTHON, ['-c', 'import grpc']);
  if (probe.code !== 0) {
    throw new Error(
      `${PYTHON} cannot import grpc: apt-get install -y python3-grpcio\n${probe.stderr}`,
    );
  }
  sim = await startSim();
  const control = new SimControl(sim.url);
  for (const appId of [APP_A, APP_B]) {
    await control.configureApp({ appId, secret: SECRET, expiresInSeconds: 7200 });
  }
  redis = await startRedis();
  server = await startServe(
    `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
redis:
  urls: ["${redis.url}"]
  encryption: { currentKeyId: k1, keys: [{ id: k1, keyEnv: INDEP_AT_REST_KEY }] }
auth:
  callers:
    - { name: reader-a, keySha256: "${sha256(KEY.reader)}", apps: [${APP_A}], scopes: [token:read] }
    - { name: refresher-a, keySha256: "${sha256(KEY.refresher)}", apps: [${APP_A}], scopes: [token:read, token:refresh] }
    - { name: login-a, keySha256: "${sha256(KEY.login)}", apps: [${APP_A}], scopes: [login, login:session_key] }
apps:
  - { appId: ${APP_A}, mode: classic, secretEnv: INDEP_SECRET, exposeSessionKey: true }
  - { appId: ${APP_B}, mode: classic, secretEnv: INDEP_SECRET }
`,
    { INDEP_SECRET: SECRET, INDEP_AT_REST_KEY: randomBytes(32).toString('base64') },
  );
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await redis?.stop();
  await sim?.stop();
});

describe('an independent gRPC client (python3-grpcio, hand-encoded requests)', () => {
  it('gets the status each caller deserves', async () => {
    const cases = [
      { name: 'no key', method: 'GetToken', fields: { 1: APP_A }, key: null },
      { name: 'wrong key', method: 'GetToken', fields: { 1: APP_A }, key: 'not-a-key' },
      { name: 'own app', method: 'GetToken', fields: { 1: APP_A }, key: KEY.reader },
      { name: 'other app', method: 'GetToken', fields: { 1: APP_B }, key: KEY.reader },
      {
        name: 'no such app',
        method: 'GetToken',
        fields: { 1: 'wxnosuchapp00001' },
        key: KEY.reader,
      },
      {
        name: 'refresh without token:refresh',
        method: 'ForceRefresh',
        fields: { 1: APP_A, 2: 'stale', 3: 'x' },
        key: KEY.reader,
      },
      {
        name: 'refresh with token:refresh',
        method: 'ForceRefresh',
        fields: { 1: APP_A, 2: 'stale', 3: 'x' },
        key: KEY.refresher,
      },
      {
        name: 'operator refresh without admin',
        method: 'ForceRefresh',
        fields: { 1: APP_A, 3: 'x' },
        key: KEY.refresher,
      },
      { name: 'audit without admin', method: 'ListAuditEvents', fields: {}, key: KEY.refresher },
    ];
    const r = await run(PYTHON, [PROBE, server.addr, JSON.stringify(cases)]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      'no key': 'UNAUTHENTICATED',
      'wrong key': 'UNAUTHENTICATED',
      'own app': 'OK',
      'other app': 'PERMISSION_DENIED',
      'no such app': 'PERMISSION_DENIED',
      'refresh without token:refresh': 'PERMISSION_DENIED',
      'refresh with token:refresh': 'OK',
      'operator refresh without admin': 'PERMISSION_DENIED',
      'audit without admin': 'PERMISSION_DENIED',
    });
  });
});

describe('a plain-text dump of Redis with encryption at rest on (redis-cli)', () => {
  it('holds no access token and no session key, though both are stored there', async () => {
    const reader = tokenClient(server.addr, KEY.reader);
    const token = (await getToken(reader, APP_A)).access_token;
    reader.close();
    // A login session, so a session key is stored too (this caller may receive it).
    const code = (
      (await (
        await fetch(`${sim.url}/__sim/apps/${APP_A}/codes`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        })
      ).json()) as { code: string }
    ).code;
    const proto = loadProto();
    const logins = new proto.wxtoken.v1.LoginService(
      server.addr,
      grpc.credentials.createInsecure(),
    );
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${KEY.login}`);
    const session = await new Promise<{ session_key: string; session_handle: string }>(
      (resolve, reject) =>
        logins.Code2Session({ app_id: APP_A, js_code: code }, md, (err, res) =>
          err ? reject(err) : resolve(res as never),
        ),
    );
    logins.close();
    expect(session.session_key.length).toBeGreaterThan(10);

    const cli = (...args: string[]) =>
      run('redis-cli', ['-p', String(redis.port), '--no-raw', ...args]);
    const keys = (await cli('--scan')).stdout
      .split('\n')
      .map((k) => k.replace(/^"|"$/g, ''))
      .filter(Boolean);
    expect(keys.some((k) => k.endsWith(':token'))).toBe(true);
    expect(keys.some((k) => k.includes('session:'))).toBe(true);
    let dump = '';
    for (const key of keys) {
      const type = (await cli('TYPE', key)).stdout.trim();
      const read = { string: ['GET'], hash: ['HGETALL'], stream: ['XRANGE', '-', '+'] }[type] ?? [
        'DUMP',
      ];
      const [cmd, ...rest] = read as [string, ...string[]];
      dump += `${key} ${type}\n${(await cli(cmd, key, ...rest)).stdout}\n`;
    }
    expect(dump).toMatch(/enc:v2:k1:/);
    expect(dump).not.toContain(token);
    expect(dump).not.toContain(session.session_key);
    expect(dump).not.toContain(SECRET);
  });
});
