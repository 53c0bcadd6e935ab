import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forceRefresh, getToken, tokenClient } from '../../src/cli/grpc-client.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { fingerprint } from '../../src/shared/secret.js';
import { loginClient } from '../support/login-client.js';
import { startServe, startSim, type Spawned } from '../support/processes.js';
import { SimControl } from '../support/sim-control.js';

/**
 * Invariant 8 over a whole scenario: one `wxtoken serve` at log level debug (its most verbose
 * output) goes through warm-up, the GetToken hot path, rotations, a ForceRefresh herd, an
 * operator refresh, the whole login flow and a misconfigured app; then its captured stdout +
 * stderr must hold no AppSecret, access token, js_code, session_key, session_handle or
 * decrypted user data. The scan also checks that the lines on-call needs are there, so an
 * empty or truncated output cannot pass.
 */

const ROTATING = 'wxscanrotate0001'; // classic, 4 s tokens: several scheduled refreshes
const STABLE = 'wxscanstable0001'; // stable, 4 s tokens
const HERD = 'wxscanherd000001'; // ForceRefresh herd + operator refresh
const LOGIN = 'wxscanlogin00001'; // exposeSessionKey: the test learns the session keys
const BAD = 'wxscanbadsecret1'; // wxtoken has the wrong secret: a configuration error

const run = randomBytes(4).toString('hex');
const SECRETS = {
  [ROTATING]: `scan-rotating-secret-${run}`,
  [STABLE]: `scan-stable-secret-${run}`,
  [HERD]: `scan-herd-secret-${run}`,
  [LOGIN]: `scan-login-secret-${run}`,
  [BAD]: `scan-bad-real-secret-${run}`,
};
/** What wxtoken is configured with for BAD (inline, so the inline-secret warning runs too). */
const BAD_CONFIGURED = `scan-bad-wrong-secret-${run}`;
const OPERATOR_REASON = `log-scan operator drill ${run}`;
const HERD_REASON = `log-scan herd ${run}`;
const PII = {
  nickName: `Scan${run}`,
  phoneNumber: `1380000${run.slice(0, 4).replace(/\D/g, '7')}`,
};

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the built CLI to completion with stdout and stderr apart. */
function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin', 'wxtoken.js'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const errorOf = (p: Promise<unknown>): Promise<grpc.ServiceError> =>
  p.then(
    () => {
      throw new Error('expected an error');
    },
    (e: grpc.ServiceError) => e,
  );

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let sim: Spawned & { url: string };
let server: Spawned & { addr: string };
let control: SimControl;
let tokens: TokenServiceClient;
const watches: grpc.ClientReadableStream<unknown>[] = [];
let herdStale = '';

/** Everything that must never reach the log, by kind. */
const secrets = {
  appSecret: new Set<string>([...Object.values(SECRETS), BAD_CONFIGURED]),
  accessToken: new Set<string>(),
  jsCode: new Set<string>(),
  sessionKey: new Set<string>(),
  sessionHandle: new Set<string>(),
  userData: new Set<string>([PII.nickName, PII.phoneNumber]),
};

async function mintCode(appId: string): Promise<{ code: string; openid: string }> {
  const res = await fetch(`${sim.url}/__sim/apps/${appId}/codes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({}),
  });
  if (!res.ok) throw new Error(`mint code: HTTP ${res.status} ${await res.text()}`);
  const minted = (await res.json()) as { code: string; openid: string };
  secrets.jsCode.add(minted.code);
  return minted;
}

async function served(appId: string): Promise<string> {
  const t = (await getToken(tokens, appId)).access_token;
  secrets.accessToken.add(t);
  return t;
}

beforeAll(async () => {
  sim = await startSim();
  control = new SimControl(sim.url);
  for (const appId of [ROTATING, STABLE] as const) {
    await control.configureApp({
      appId,
      secret: SECRETS[appId],
      expiresInSeconds: 4,
      overlapSeconds: 1.5,
      stableWindowSeconds: 1.5,
    });
  }
  for (const appId of [HERD, LOGIN, BAD] as const) {
    await control.configureApp({ appId, secret: SECRETS[appId], expiresInSeconds: 7200 });
  }
  const dir = mkdtempSync(join(tmpdir(), 'wxtoken-log-scan-'));
  const secretFile = join(dir, 'login.secret');
  writeFileSync(secretFile, `${SECRETS[LOGIN]}\n`);
  server = await startServe(
    `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
log: { level: debug }
refresh: { aheadSeconds: 1.2, stableWindowSeconds: 1.5, retryMinMs: 100, retryMaxMs: 1000, configErrorRetryMs: 1000, forceMinIntervalMs: 500 }
apps:
  - { appId: ${ROTATING}, mode: classic, secretEnv: SCAN_ROTATING_SECRET }
  - { appId: ${STABLE}, mode: stable, secretEnv: SCAN_STABLE_SECRET }
  - { appId: ${HERD}, mode: classic, secretEnv: SCAN_HERD_SECRET }
  - { appId: ${LOGIN}, mode: classic, secretFile: "${secretFile}", exposeSessionKey: true }
  - { appId: ${BAD}, mode: classic, secret: "${BAD_CONFIGURED}" }
`,
    {
      WXTOKEN_LOG_LEVEL: 'debug',
      SCAN_ROTATING_SECRET: SECRETS[ROTATING],
      SCAN_STABLE_SECRET: SECRETS[STABLE],
      SCAN_HERD_SECRET: SECRETS[HERD],
    },
  );
  tokens = tokenClient(server.addr);
  // Every token the server ever holds is pushed on these streams: "seen", not only "served".
  for (const appId of [ROTATING, STABLE, HERD, LOGIN]) {
    const w = tokens.WatchToken({ app_id: appId });
    w.on('data', (t: { access_token: string }) => secrets.accessToken.add(t.access_token));
    w.on('error', () => undefined); // cancelled at the end
    watches.push(w);
  }
});

afterAll(async () => {
  for (const w of watches) w.cancel();
  tokens?.close();
  await server?.stop();
  await sim?.stop();
});

describe('log scan: a whole scenario at debug level leaks no secret', () => {
  it('runs the scenario', async () => {
    // 1. Warm-up, then the hot path many times over.
    for (const appId of [ROTATING, STABLE, HERD, LOGIN]) {
      expect((await control.check(await served(appId))).valid).toBe(true);
    }
    await Promise.all(
      Array.from({ length: 200 }, (_, i) => served([ROTATING, STABLE, HERD, LOGIN][i % 4]!)),
    );

    // 2. Rotations: 4 s tokens refreshed 1.2 s early, watched for a few lifetimes.
    const rotated = { [ROTATING]: new Set<string>(), [STABLE]: new Set<string>() };
    const until = Date.now() + 7_000;
    while (Date.now() < until) {
      rotated[ROTATING].add(await served(ROTATING));
      rotated[STABLE].add(await served(STABLE));
      await sleep(50);
    }
    expect(rotated[ROTATING].size).toBeGreaterThanOrEqual(2);
    expect(rotated[STABLE].size).toBeGreaterThanOrEqual(2);

    // 3. A ForceRefresh herd with a token another system invalidated.
    const stale = await served(HERD);
    herdStale = stale;
    secrets.accessToken.add((await control.rotate(HERD, true)).access_token);
    expect((await control.check(stale)).valid).toBe(false);
    const herd = await Promise.all(
      Array.from({ length: 50 }, () =>
        forceRefresh(tokens, { app_id: HERD, stale_token: stale, reason: HERD_REASON }),
      ),
    );
    for (const r of herd) secrets.accessToken.add(r.token!.access_token);
    expect(herd.every((r) => r.refreshed)).toBe(true);

    // 4. An operator refresh through the on-call CLI (past forceMinIntervalMs), and a `get`.
    await sleep(700);
    const refresh = await runCli([
      'refresh',
      HERD,
      '--reason',
      OPERATOR_REASON,
      '--addr',
      server.addr,
      '--json',
    ]);
    expect(refresh.code, refresh.stderr).toBe(0);
    expect(JSON.parse(refresh.stdout)).toMatchObject({ appId: HERD, refreshed: true });
    const got = await runCli(['get', HERD, '--addr', server.addr, '--json']);
    expect(got.code, got.stderr).toBe(0);
    const current = (JSON.parse(got.stdout) as { accessToken: string }).accessToken;
    secrets.accessToken.add(current);
    expect((await control.check(current)).valid).toBe(true);

    // 5. Login: Code2Session (and a replay), GetSession, DecryptUserData, CheckSession,
    //    ResetSessionKey, and the failures around them.
    const login = loginClient(server.addr);
    try {
      const { code, openid } = await mintCode(LOGIN);
      const s = await login.code2Session({ app_id: LOGIN, js_code: code });
      secrets.sessionKey.add(s.session_key);
      secrets.sessionHandle.add(s.session_handle);
      expect(s.session_key).toMatch(/^[A-Za-z0-9+/]{22}==$/);
      expect(await login.code2Session({ app_id: LOGIN, js_code: code })).toEqual(s); // dedup
      expect(await login.getSession({ session_handle: s.session_handle })).toMatchObject({
        app_id: LOGIN,
        openid,
      });
      const enc = (await fetch(`${sim.url}/__sim/apps/${LOGIN}/users/${openid}/encrypt`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ data: PII }),
      }).then((x) => x.json())) as { encryptedData: string; iv: string };
      const plain = await login.decryptUserData({
        session_handle: s.session_handle,
        encrypted_data: enc.encryptedData,
        iv: enc.iv,
      });
      expect(JSON.parse(plain.json)).toMatchObject(PII);
      expect((await login.checkSession({ session_handle: s.session_handle })).valid).toBe(true);
      await login.resetSessionKey({ session_handle: s.session_handle });
      expect((await login.checkSession({ session_handle: s.session_handle })).valid).toBe(true);
      // The old ciphertext no longer fits the reset key: INVALID_ARGUMENT.
      const staleData = await errorOf(
        login.decryptUserData({
          session_handle: s.session_handle,
          encrypted_data: enc.encryptedData,
          iv: enc.iv,
        }),
      );
      expect(staleData.code).toBe(grpc.status.INVALID_ARGUMENT);

      // A second user, to have more than one key and handle in play.
      const second = await login.code2Session({
        app_id: LOGIN,
        js_code: (await mintCode(LOGIN)).code,
      });
      secrets.sessionKey.add(second.session_key);
      secrets.sessionHandle.add(second.session_handle);

      // Bad input: a code WeChat rejects, a handle nobody issued.
      const invalidCode = `scan-invalid-code-${run}`;
      secrets.jsCode.add(invalidCode);
      const bad = await errorOf(login.code2Session({ app_id: LOGIN, js_code: invalidCode }));
      expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
      const unknownHandle = `ScanUnknownHandle${run}`.padEnd(32, 'Q');
      secrets.sessionHandle.add(unknownHandle);
      expect((await errorOf(login.getSession({ session_handle: unknownHandle }))).code).toBe(
        grpc.status.NOT_FOUND,
      );

      // 6. The misconfigured app: token and login both refused, and said why.
      const badToken = await errorOf(getToken(tokens, BAD, 5_000));
      expect([grpc.status.FAILED_PRECONDITION, grpc.status.UNAVAILABLE]).toContain(badToken.code);
      expect(badToken.metadata.get('wechat-errcode')).toEqual(['40125']);
      const badLogin = await errorOf(
        login.code2Session({ app_id: BAD, js_code: (await mintCode(BAD)).code }),
      );
      expect(badLogin.code).toBe(grpc.status.FAILED_PRECONDITION);
    } finally {
      login.close();
    }

    // 7. A stale-token ForceRefresh with a token that is no longer current: no fetch.
    const old = await forceRefresh(tokens, { app_id: HERD, stale_token: stale, reason: 'late' });
    expect(old.refreshed).toBe(false);
    secrets.accessToken.add(old.token!.access_token);

    const status = await runCli(['status', '--addr', server.addr, '--json']);
    expect(status.code, status.stderr).toBe(0);
  }, 60_000);

  it('collected every token and session key WeChat (the simulator) issued', async () => {
    const calls = (
      await Promise.all([ROTATING, STABLE, HERD, LOGIN, BAD].map((a) => control.calls(a)))
    ).flat() as { endpoint: string; tokenFingerprint?: string; sessionKeyFingerprint?: string }[];
    const known = new Set([...secrets.accessToken].map(fingerprint));
    const issued = calls
      .filter((c) => c.endpoint === 'token' || c.endpoint === 'stable_token')
      .map((c) => c.tokenFingerprint)
      .filter((f): f is string => f !== undefined);
    expect(issued.length).toBeGreaterThanOrEqual(6);
    expect(issued.filter((f) => !known.has(f))).toEqual([]);
    // Keys from jscode2session are known through exposeSessionKey; the one resetusersessionkey
    // issued never leaves wxtoken, so the pattern scan below stands in for it.
    const keys = new Set([...secrets.sessionKey].map(fingerprint));
    const exchanged = calls
      .filter((c) => c.endpoint === 'jscode2session' && c.sessionKeyFingerprint)
      .map((c) => c.sessionKeyFingerprint!);
    expect(exchanged.length).toBe(2);
    expect(exchanged.filter((f) => !keys.has(f))).toEqual([]);
  });

  it('after shutdown, the output holds none of them, by value or by shape', async () => {
    for (const w of watches) w.cancel();
    expect(await server.stop()).toBe(0);
    const out = server.output();
    expect(secrets.accessToken.size).toBeGreaterThanOrEqual(8);
    expect(secrets.jsCode.size).toBe(4);
    expect(secrets.sessionKey.size).toBe(2);
    expect(secrets.sessionHandle.size).toBe(3);

    const leaks = new Set<string>();
    for (const [kind, values] of Object.entries(secrets)) {
      for (const v of values) {
        expect(v.length, `${kind} too short to scan for`).toBeGreaterThanOrEqual(8);
        if (out.includes(v)) leaks.add(`${kind} in: ${masked(lineWith(out, v))}`);
      }
    }
    // By shape: anything that looks like an access token or a session_key, known to the test
    // or not (the key ResetSessionKey stored never left wxtoken).
    for (const [kind, shape] of Object.entries(SHAPES)) {
      for (const m of out.matchAll(shape)) leaks.add(`${kind} in: ${masked(lineWith(out, m[0]))}`);
    }
    expect([...leaks].slice(0, 20), `${leaks.size} leaking line(s)`).toEqual([]);
  });

  it('the lines on-call needs are there (the scan is not vacuous)', () => {
    const lines = server
      .output()
      .split('\n')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
    const some = (what: string, match: Record<string, unknown>): void => {
      const found = lines.some((l) => Object.entries(match).every(([k, v]) => l[k] === v));
      expect(found, `${what}: no line with ${JSON.stringify(match)}`).toBe(true);
    };
    expect(lines.length).toBeGreaterThan(250);
    some('serving', { msg: 'wxtoken serving' });
    some('leadership', { msg: 'became leader; running the refresh schedule' });
    for (const appId of [ROTATING, STABLE, HERD, LOGIN]) {
      some(`startup refresh ${appId}`, { msg: 'refresh', appId, trigger: 'startup' });
    }
    some('scheduled rotation', { msg: 'refresh', appId: ROTATING, trigger: 'schedule' });
    some('scheduled stable rotation', { msg: 'refresh', appId: STABLE, trigger: 'schedule' });
    some('the herd fetch', { msg: 'refresh', appId: HERD, trigger: 'force' });
    // Audit lines nest the event: { msg: 'audit', audit: { appId, action, reason, ... } }.
    const someAudit = (what: string, match: Record<string, unknown>, detail?: RegExp): void => {
      const found = lines.some((l) => {
        const e = l.audit as Record<string, unknown> | undefined;
        if (l.msg !== 'audit' || !e) return false;
        const same = Object.entries(match).every(([k, v]) => e[k] === v);
        return same && (!detail || detail.test(String(e.detail)));
      });
      expect(found, `${what}: no audit line with ${JSON.stringify(match)} ${detail}`).toBe(true);
    };
    someAudit(
      'the herd',
      { appId: HERD, action: 'force_refresh', reason: HERD_REASON, result: 'OK' },
      /refreshed/,
    );
    someAudit(
      'the herd, stale token logged as its fingerprint',
      { appId: HERD, action: 'force_refresh' },
      new RegExp(`^stale token ${fingerprint(herdStale)}; `),
    );
    some('the operator audit line', {
      msg: 'operator forced a token refresh',
      appId: HERD,
      reason: OPERATOR_REASON,
      audit: true,
    });
    someAudit(
      'the operator refresh, audited with its reason',
      { appId: HERD, action: 'operator_refresh', reason: OPERATOR_REASON, result: 'OK' },
      /^refreshed, generation \d+$/,
    );
    some('code2session', { msg: 'code2session', appId: LOGIN });
    some('the config error', { msg: 'refresh failed', appId: BAD, errcode: 40125 });
    some('GetToken of the misconfigured app', { msg: 'rpc failed', method: 'GetToken' });
    some('Code2Session with a bad code', {
      msg: 'rpc failed',
      method: 'Code2Session',
      code: 'INVALID_ARGUMENT',
    });
    some('Code2Session of the misconfigured app', {
      msg: 'rpc failed',
      method: 'Code2Session',
      code: 'FAILED_PRECONDITION',
    });
    some('GetSession of an unknown handle', {
      msg: 'rpc failed',
      method: 'GetSession',
      code: 'NOT_FOUND',
    });
    some('DecryptUserData with a stale key', {
      msg: 'rpc failed',
      method: 'DecryptUserData',
      code: 'INVALID_ARGUMENT',
    });
    some('successful GetToken at debug level', { msg: 'rpc', method: 'GetToken', level: 20 });
    for (const method of ['GetSession', 'DecryptUserData', 'CheckSession', 'ResetSessionKey']) {
      some(`${method} ok`, { msg: 'rpc', method, code: 'OK' });
    }
    some('shutdown', { msg: 'stopped' });
  });
});

/** Access tokens are `NN_` + 100-odd URL-safe characters; a session_key is 16 bytes in base64. */
const SHAPES = {
  'token-shaped': /\b\d\d_[A-Za-z0-9_-]{100,}/g,
  'session-key-shaped': /[A-Za-z0-9+/]{22}==/g,
};

/** The log line holding `needle`. */
function lineWith(out: string, needle: string): string {
  const start = out.lastIndexOf('\n', out.indexOf(needle)) + 1;
  const end = out.indexOf('\n', start);
  return out.slice(start, end === -1 ? undefined : end);
}

/** `line` with every secret the test knows of, and every secret-shaped string, masked. */
function masked(line: string): string {
  let m = line;
  for (const [kind, values] of Object.entries(secrets)) {
    for (const v of values) m = m.replaceAll(v, `<${kind}>`);
  }
  for (const [kind, shape] of Object.entries(SHAPES)) m = m.replaceAll(shape, `<${kind}>`);
  return m.slice(0, 500);
}
