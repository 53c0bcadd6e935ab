import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoginServiceClient } from '../../src/grpc/generated/wxtoken/v1/LoginService.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { loadProto } from '../../src/grpc/proto.js';
import {
  spawnCli,
  startServe,
  startSim,
  waitForOutput,
  type Spawned,
} from '../support/processes.js';
import { SimControl } from '../support/sim-control.js';
import { failure } from '../support/failure.js';
import { sha256 } from '../support/key-digest.js';

/**
 * Issue 6 from the outside: caller keys (by SHA-256), scopes, per-app authorization that
 * never reveals which apps exist, session_key behind two keys, per-caller rate limits, and
 * the loopback-only default. Real `wxtoken serve` + `wxtoken sim` processes.
 */

const APP_A = 'wxe2eauth00000aa';
const APP_B = 'wxe2eauth00000bb';
const EXPOSED = 'wxe2eauthexposed';
const NO_SUCH_APP = 'wxe2eauthnosuchx';
const SECRET = 'auth-e2e-secret-5b0e';

const CALLERS = {
  'reader-a': { apps: [APP_A], scopes: ['token:read'] },
  'refresher-a': { apps: [APP_A], scopes: ['token:read', 'token:refresh'] },
  'admin-a': { apps: [APP_A], scopes: ['token:read', 'token:refresh', 'admin'] },
  'login-a': { apps: [APP_A, EXPOSED], scopes: ['login'] },
  'login-key': { apps: [APP_A, EXPOSED], scopes: ['login', 'login:session_key'] },
  'login-b': { apps: [APP_B], scopes: ['login'] },
  'burst-1': { apps: [APP_A], scopes: ['token:refresh'] },
  'burst-2': { apps: [APP_A], scopes: ['token:refresh'] },
  'refresh-only': { apps: [APP_A], scopes: ['token:refresh'] },
} as const;
type CallerName = keyof typeof CALLERS;

/** Keys made here, as an operator would; only their digests go into the config. */
const KEYS = Object.fromEntries(
  Object.keys(CALLERS).map((name) => [name, randomBytes(24).toString('base64url')]),
) as Record<CallerName, string>;

let sim: Spawned & { url: string };
let server: Spawned & { addr: string };
let tokens: TokenServiceClient;
let logins: LoginServiceClient;
const spawned: Spawned[] = [];

type Callback = (err: grpc.ServiceError | null, res?: unknown) => void;
type UnaryFn = (req: unknown, md: grpc.Metadata, o: grpc.CallOptions, cb: Callback) => void;

/** One unary call with `authorization: Bearer <key>` (no header when `key` is undefined). */
function rpc<T = Record<string, unknown>>(
  client: TokenServiceClient | LoginServiceClient,
  method: string,
  req: object,
  key: string | undefined,
): Promise<T> {
  const md = new grpc.Metadata();
  if (key !== undefined) md.set('authorization', `Bearer ${key}`);
  const fn = (client as unknown as Record<string, UnaryFn>)[method]!;
  return new Promise((resolve, reject) =>
    fn.call(client, req, md, { deadline: Date.now() + 10_000 }, (err, res) =>
      err ? reject(err) : resolve(res as T),
    ),
  );
}

const as = (caller: CallerName) => KEYS[caller];

async function mintCode(appId: string): Promise<string> {
  const res = await fetch(`${sim.url}/__sim/apps/${appId}/codes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  if (!res.ok) throw new Error(`mint code: HTTP ${res.status}`);
  return ((await res.json()) as { code: string }).code;
}

const callersYaml = Object.entries(CALLERS)
  .map(
    ([name, c]) =>
      `    - { name: ${name}, keySha256: "${sha256(KEYS[name as CallerName])}", ` +
      `apps: [${c.apps.join(', ')}], scopes: [${c.scopes.join(', ')}] }`,
  )
  .join('\n');

beforeAll(async () => {
  sim = await startSim();
  const control = new SimControl(sim.url);
  for (const appId of [APP_A, APP_B, EXPOSED]) {
    await control.configureApp({ appId, secret: SECRET, expiresInSeconds: 7200 });
  }
  server = await startServe(
    `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
limits: { forceRefreshPerMinute: 5 }
auth:
  callers:
${callersYaml}
apps:
  - { appId: ${APP_A}, mode: classic, secretEnv: AUTH_SECRET }
  - { appId: ${APP_B}, mode: classic, secretEnv: AUTH_SECRET }
  - { appId: ${EXPOSED}, mode: classic, secretEnv: AUTH_SECRET, exposeSessionKey: true }
`,
    { AUTH_SECRET: SECRET },
  );
  spawned.push(server);
  const proto = loadProto();
  tokens = new proto.wxtoken.v1.TokenService(server.addr, grpc.credentials.createInsecure());
  logins = new proto.wxtoken.v1.LoginService(server.addr, grpc.credentials.createInsecure());
  // App A warm, so compare-and-refresh answers from memory below.
  await rpc(tokens, 'GetToken', { app_id: APP_A }, as('reader-a'));
});

afterAll(async () => {
  tokens?.close();
  logins?.close();
  for (const s of spawned) await s.stop();
  await sim?.stop();
});

describe('authentication', () => {
  it('GetToken without a key → UNAUTHENTICATED', async () => {
    const err = await failure(rpc(tokens, 'GetToken', { app_id: APP_A }, undefined));
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err.details).toMatch(/authorization: Bearer/);
  });

  it('GetToken with a wrong key (or a configured digest sent as the key) → UNAUTHENTICATED', async () => {
    for (const key of ['not-a-key', sha256(as('reader-a')), `${as('reader-a')}x`]) {
      const err = await failure(rpc(tokens, 'GetToken', { app_id: APP_A }, key));
      expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    }
  });

  it('unauthenticated refusals are logged (at most once per peer per 10 s), never as the anonymous (all-powerful) caller', async () => {
    await failure(rpc(tokens, 'ListApps', {}, 'yet-another-wrong-key'));
    await waitForOutput(
      server,
      /"code":"UNAUTHENTICATED"[^\n]*"peer":"127\.0\.0\.1"[^\n]*"msg":"rpc refused: unauthenticated"/,
    );
    expect(server.output()).not.toMatch(/"caller":"anonymous"/);
  });

  it('a message that is not protobuf: UNAUTHENTICATED without a key, INVALID_ARGUMENT with one (never INTERNAL)', async () => {
    const rawClient = new grpc.Client(server.addr, grpc.credentials.createInsecure());
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    const send = (key?: string) =>
      new Promise<grpc.ServiceError | null>((resolve) => {
        const md = new grpc.Metadata();
        if (key !== undefined) md.set('authorization', `Bearer ${key}`);
        rawClient.makeUnaryRequest(
          '/wxtoken.v1.TokenService/GetToken',
          (b: Buffer) => b,
          (b: Buffer) => b,
          garbage,
          md,
          { deadline: Date.now() + 5_000 },
          (err) => resolve(err),
        );
      });
    expect((await send())?.code).toBe(grpc.status.UNAUTHENTICATED);
    const err = await send(as('reader-a'));
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(/^request: /);
    rawClient.close();
  });

  it('every TokenService and LoginService method refuses an unknown key before looking at the request', async () => {
    const calls: [TokenServiceClient | LoginServiceClient, string, object][] = [
      [tokens, 'ForceRefresh', { app_id: APP_A, stale_token: 'x' }],
      [tokens, 'ListApps', {}],
      [logins, 'Code2Session', { app_id: APP_A, js_code: 'x' }],
      [logins, 'GetSession', { session_handle: 'A'.repeat(32) }],
      [logins, 'CheckSession', { session_handle: 'A'.repeat(32) }],
    ];
    for (const [client, method, req] of calls) {
      expect((await failure(rpc(client, method, req, 'wrong'))).code, method).toBe(
        grpc.status.UNAUTHENTICATED,
      );
    }
  });
});

describe('per-app authorization never reveals which apps exist', () => {
  it('a caller limited to app A: A works, B and a non-existent app get the same PERMISSION_DENIED', async () => {
    const token = await rpc<{ app_id: string; access_token: string }>(
      tokens,
      'GetToken',
      { app_id: APP_A },
      as('reader-a'),
    );
    expect(token.app_id).toBe(APP_A);
    expect(token.access_token).not.toBe('');

    const other = await failure(rpc(tokens, 'GetToken', { app_id: APP_B }, as('reader-a')));
    const missing = await failure(rpc(tokens, 'GetToken', { app_id: NO_SUCH_APP }, as('reader-a')));
    expect(other.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(missing.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(other.details.replace(APP_B, '<app>')).toBe(
      missing.details.replace(NO_SUCH_APP, '<app>'),
    );
    expect([...Object.keys(other.metadata.getMap())].sort()).toEqual(
      [...Object.keys(missing.metadata.getMap())].sort(),
    );
  });

  it('ListApps for an admin limited to app A lists only A', async () => {
    const r = await rpc<{ apps: { app_id: string }[] }>(tokens, 'ListApps', {}, as('admin-a'));
    expect(r.apps.map((a) => a.app_id)).toEqual([APP_A]);
  });

  it('ListApps without admin → PERMISSION_DENIED', async () => {
    expect((await failure(rpc(tokens, 'ListApps', {}, as('refresher-a')))).code).toBe(
      grpc.status.PERMISSION_DENIED,
    );
  });
});

describe('scopes', () => {
  it('a token:read-only caller cannot ForceRefresh', async () => {
    const err = await failure(
      rpc(tokens, 'ForceRefresh', { app_id: APP_A, stale_token: 'x', reason: '' }, as('reader-a')),
    );
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toMatch(/token:refresh/);
  });

  it('operator refresh (empty stale_token): without admin PERMISSION_DENIED, with admin OK', async () => {
    const req = { app_id: APP_A, stale_token: '', reason: 'auth e2e: operator refresh' };
    const denied = await failure(rpc(tokens, 'ForceRefresh', req, as('refresher-a')));
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(denied.details).toMatch(/admin/);

    const before = await rpc<{ generation: string }>(
      tokens,
      'GetToken',
      { app_id: APP_A },
      as('admin-a'),
    );
    const r = await rpc<{ refreshed: boolean; token: { app_id: string; generation: string } }>(
      tokens,
      'ForceRefresh',
      req,
      as('admin-a'),
    );
    expect(r.refreshed).toBe(true);
    expect(r.token.app_id).toBe(APP_A);
    expect(BigInt(r.token.generation)).toBeGreaterThan(BigInt(before.generation));
    // Audited with the caller's name (never its key).
    await waitForOutput(
      server,
      /"audit":\{[^}\n]*"caller":"admin-a"[^}\n]*"action":"operator_refresh"[^}\n]*"result":"OK"/,
    );
  });

  it('a caller with token:refresh may compare-and-refresh with a stale token', async () => {
    const r = await rpc<{ refreshed: boolean }>(
      tokens,
      'ForceRefresh',
      { app_id: APP_A, stale_token: 'a-token-that-is-not-current', reason: '' },
      as('refresher-a'),
    );
    expect(r.refreshed).toBe(false);
  });

  it('ForceRefresh returns the token only to a caller that may read it (token:read); token:refresh alone gets the outcome without it', async () => {
    type Reply = { refreshed: boolean; token: { access_token: string; generation: string } };
    const req = { app_id: APP_A, stale_token: 'a-token-that-is-not-current', reason: '' };
    const reader = await rpc<Reply>(tokens, 'ForceRefresh', req, as('refresher-a'));
    const refresher = await rpc<Reply>(tokens, 'ForceRefresh', req, as('refresh-only'));
    expect(reader.token.access_token).not.toBe('');
    expect(refresher.token.access_token).toBe('');
    expect(refresher.token.generation).toBe(reader.token.generation);
    expect(refresher.refreshed).toBe(false);
  });

  it('Code2Session without login → PERMISSION_DENIED', async () => {
    const err = await failure(
      rpc(logins, 'Code2Session', { app_id: APP_A, js_code: await mintCode(APP_A) }, as('admin-a')),
    );
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toMatch(/login/);
  });

  it('session_key only for a caller with login:session_key AND an app with exposeSessionKey', async () => {
    const exchange = async (caller: CallerName, appId: string) =>
      rpc<{ session_key: string; session_handle: string }>(
        logins,
        'Code2Session',
        { app_id: appId, js_code: await mintCode(appId) },
        as(caller),
      );
    expect((await exchange('login-key', EXPOSED)).session_key).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect((await exchange('login-a', EXPOSED)).session_key).toBe(''); // caller lacks the scope
    expect((await exchange('login-key', APP_A)).session_key).toBe(''); // app does not expose
    expect((await exchange('login-a', APP_A)).session_key).toBe('');
  });

  it('a session of app B used by a caller limited to app A looks like no session (NOT_FOUND)', async () => {
    const b = await rpc<{ session_handle: string }>(
      logins,
      'Code2Session',
      { app_id: APP_B, js_code: await mintCode(APP_B) },
      as('login-b'),
    );
    // Its owner sees it.
    expect(
      await rpc(logins, 'GetSession', { session_handle: b.session_handle }, as('login-b')),
    ).toMatchObject({ app_id: APP_B });

    const unknown = await failure(
      rpc(logins, 'GetSession', { session_handle: 'Z'.repeat(32) }, as('login-a')),
    );
    expect(unknown.code).toBe(grpc.status.NOT_FOUND);
    const handle = { session_handle: b.session_handle };
    for (const [method, req] of [
      ['GetSession', handle],
      ['CheckSession', handle],
      ['ResetSessionKey', handle],
      ['DecryptUserData', { ...handle, encrypted_data: 'AAAA', iv: 'AAAAAAAAAAAAAAAAAAAAAA==' }],
    ] as const) {
      const err = await failure(rpc(logins, method, req, as('login-a')));
      expect(err.code, method).toBe(grpc.status.NOT_FOUND);
      expect(err.details, method).toBe(unknown.details);
    }
  });
});

describe('per-caller rate limit (limits.forceRefreshPerMinute: 5)', () => {
  it('the 6th ForceRefresh of one caller in a burst → RESOURCE_EXHAUSTED with retry-after-ms; another caller is unaffected', async () => {
    const req = { app_id: APP_A, stale_token: 'not-the-current-token', reason: '' };
    const burst = await Promise.allSettled(
      Array.from({ length: 5 }, () => rpc(tokens, 'ForceRefresh', req, as('burst-1'))),
    );
    expect(burst.map((r) => r.status)).toEqual(Array(5).fill('fulfilled'));

    const sixth = await failure(rpc(tokens, 'ForceRefresh', req, as('burst-1')));
    expect(sixth.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(sixth.details).toMatch(/caller burst-1 exceeded its ForceRefresh rate limit/);
    const retryAfter = Number(sixth.metadata.get('retry-after-ms')[0]);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(12_000); // 5 a minute: one every 12 s

    // The refusal is logged against the caller that was refused.
    await waitForOutput(
      server,
      /"method":"ForceRefresh"[^\n]*"code":"RESOURCE_EXHAUSTED"[^\n]*"caller":"burst-1"/,
    );

    const other = await rpc<{ refreshed: boolean }>(tokens, 'ForceRefresh', req, as('burst-2'));
    expect(other.refreshed).toBe(false);
    // GetToken (not a limited method) is unaffected for everyone.
    await rpc(tokens, 'GetToken', { app_id: APP_A }, as('reader-a'));
  });
});

describe('secrets stay in', () => {
  it('no caller key ever appears in the server log', () => {
    const out = server.output();
    expect(out).toContain('"caller":"admin-a"');
    for (const [name, key] of Object.entries(KEYS)) {
      expect(out, name).not.toContain(key);
    }
    expect(out).not.toMatch(/Bearer (?!<key>)/); // only the hint "send authorization: Bearer <key>"
    expect(out).not.toContain(SECRET);
  });
});

describe('safe default: no auth → loopback only', () => {
  const writeConfig = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'wxtoken-auth-e2e-'));
    const path = join(dir, 'open.yaml');
    writeFileSync(
      path,
      `
grpc: { listen: "0.0.0.0:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
apps:
  - { appId: ${APP_A}, mode: classic, secretEnv: AUTH_SECRET }
`,
    );
    return path;
  };

  it('serve on 0.0.0.0 without callers exits 2 naming the risk; with --insecure it starts and says so', async () => {
    const path = writeConfig();
    const refused = spawnCli(['serve', '--config', path], { AUTH_SECRET: SECRET });
    spawned.push(refused);
    const code = await new Promise<number | null>((resolve) =>
      refused.proc.exitCode !== null
        ? resolve(refused.proc.exitCode)
        : refused.proc.once('exit', (c) => resolve(c)),
    );
    expect(code).toBe(2);
    expect(refused.output()).toMatch(/0\.0\.0\.0:0 is not a loopback address/);
    expect(refused.output()).toMatch(/auth\.callers is empty/);
    expect(refused.output()).toMatch(/--insecure/);
    expect(refused.output()).not.toMatch(/wxtoken serving/);

    const open = spawnCli(['serve', '--config', path, '--insecure'], { AUTH_SECRET: SECRET });
    spawned.push(open);
    await waitForOutput(open, /"msg":"wxtoken serving"/);
    expect(open.output()).toMatch(/--insecure: serving 0\.0\.0\.0:0 with NO caller authentication/);
    expect(await open.stop()).toBe(0);
  });
});
