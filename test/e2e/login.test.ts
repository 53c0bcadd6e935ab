import { createHmac } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getToken, tokenClient } from '../../src/cli/grpc-client.js';
import { startServe, startSim, waitForOutput, type Spawned } from '../support/processes.js';
import { startRedis, type RedisNode } from '../support/redis-server.js';
import { SimControl } from '../support/sim-control.js';
import { loginClient } from '../support/login-client.js';

const APP = 'wxe2elogin000001';
const EXPOSED = 'wxe2eloginexpose';
const SECRET = 'login-e2e-secret-9c1d';

let sim: Spawned & { url: string };
let control: SimControl;
const spawned: Spawned[] = [];

const config = (extra = '') => `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
${extra}
apps:
  - { appId: ${APP}, mode: classic, secretEnv: LOGIN_SECRET }
  - { appId: ${EXPOSED}, mode: classic, secretEnv: LOGIN_SECRET, exposeSessionKey: true }
`;

async function serve(extra = '') {
  const s = await startServe(config(extra), { LOGIN_SECRET: SECRET });
  spawned.push(s);
  return s;
}

async function mintCode(appId: string): Promise<{ code: string; openid: string }> {
  const res = await fetch(`${sim.url}/__sim/apps/${appId}/codes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({}),
  });
  return (await res.json()) as { code: string; openid: string };
}

async function code2sessionCalls(appId: string): Promise<number> {
  return ((await control.counters(appId)) as unknown as { code2sessionCalls: number })
    .code2sessionCalls;
}

const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected an error');
    },
    (e: grpc.ServiceError) => e,
  );

beforeAll(async () => {
  sim = await startSim();
  control = new SimControl(sim.url);
  for (const appId of [APP, EXPOSED]) {
    await control.configureApp({ appId, secret: SECRET, expiresInSeconds: 7200 });
  }
});

afterAll(async () => {
  for (const s of spawned) await s.stop();
  await sim?.stop();
});

describe('LoginService end to end (wxtoken serve + wxtoken sim)', () => {
  it('the whole flow: code → Code2Session → GetSession → DecryptUserData → CheckSession → ResetSessionKey', async () => {
    const server = await serve();
    const login = loginClient(server.addr);
    const { code, openid } = await mintCode(APP);
    const r = await login.code2Session({ app_id: APP, js_code: code });
    expect(r.openid).toBe(openid);
    expect(r.session_handle).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(r.session_key).toBe(''); // invariant 8: stays inside by default

    const s = await login.getSession({ session_handle: r.session_handle });
    expect(s).toMatchObject({ app_id: APP, openid });

    const enc = await fetch(`${sim.url}/__sim/apps/${APP}/users/${openid}/encrypt`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: { nickName: 'Band', phoneNumber: '13800000000' } }),
    }).then((x) => x.json() as Promise<{ encryptedData: string; iv: string }>);
    const decrypted = JSON.parse(
      (
        await login.decryptUserData({
          session_handle: r.session_handle,
          encrypted_data: enc.encryptedData,
          iv: enc.iv,
        })
      ).json,
    ) as { nickName: string; watermark: { appid: string } };
    expect(decrypted.nickName).toBe('Band');
    expect(decrypted.watermark.appid).toBe(APP);

    expect((await login.checkSession({ session_handle: r.session_handle })).valid).toBe(true);
    await login.resetSessionKey({ session_handle: r.session_handle });
    // The stored key was replaced: checks pass with the new one, and the old ciphertext no
    // longer decrypts (it was made with the old key): INVALID_ARGUMENT saying why.
    expect((await login.checkSession({ session_handle: r.session_handle })).valid).toBe(true);
    const stale = await errorOf(
      login.decryptUserData({
        session_handle: r.session_handle,
        encrypted_data: enc.encryptedData,
        iv: enc.iv,
      }),
    );
    expect(stale.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(stale.details).toMatch(/stale|logged in again/i);
    login.close();
  });

  it('ResetSessionKey: the old session key fails CheckSession at WeChat (app that exposes session_key)', async () => {
    const server = await serve();
    const login = loginClient(server.addr);
    const tokens = tokenClient(server.addr);
    const { code, openid } = await mintCode(EXPOSED);
    const r = await login.code2Session({ app_id: EXPOSED, js_code: code });
    expect(r.session_key).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    await login.resetSessionKey({ session_handle: r.session_handle });
    const token = (await getToken(tokens, EXPOSED)).access_token;
    const sig = createHmac('sha256', r.session_key).update('').digest('hex');
    const verdict = (await fetch(
      `${sim.url}/wxa/checksession?access_token=${token}&openid=${openid}&signature=${sig}&sig_method=hmac_sha256`,
    ).then((x) => x.json())) as { errcode: number };
    expect(verdict.errcode).toBe(87009);
    login.close();
    tokens.close();
  });

  it('50 concurrent identical Code2Session calls: one upstream call, 50 identical answers; a replay later: same answer, no 40163', async () => {
    const server = await serve();
    const login = loginClient(server.addr);
    const { code } = await mintCode(APP);
    const before = await code2sessionCalls(APP);
    const replies = await Promise.all(
      Array.from({ length: 50 }, () => login.code2Session({ app_id: APP, js_code: code })),
    );
    expect(await code2sessionCalls(APP)).toBe(before + 1);
    for (const r of replies) expect(r).toEqual(replies[0]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await login.code2Session({ app_id: APP, js_code: code })).toEqual(replies[0]);
    expect(await code2sessionCalls(APP)).toBe(before + 1);
    login.close();
  });

  it('errors: invalid code INVALID_ARGUMENT (and stays so on replay), unknown handle NOT_FOUND, empty fields name the field', async () => {
    const server = await serve();
    const login = loginClient(server.addr);
    const bad = await errorOf(login.code2Session({ app_id: APP, js_code: 'not-a-real-code' }));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.metadata.get('wechat-errcode')).toEqual(['40029']);
    const again = await errorOf(login.code2Session({ app_id: APP, js_code: 'not-a-real-code' }));
    expect(again.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await errorOf(login.code2Session({ app_id: APP, js_code: '' }))).details).toMatch(
      /js_code/,
    );
    expect((await errorOf(login.code2Session({ app_id: 'wxnope', js_code: 'x' }))).code).toBe(
      grpc.status.NOT_FOUND,
    );
    const missing = await errorOf(login.getSession({ session_handle: 'A'.repeat(32) }));
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
    expect((await errorOf(login.getSession({ session_handle: 'short' }))).code).toBe(
      grpc.status.INVALID_ARGUMENT,
    );
    login.close();
  });

  it('invariant 8: codes, session keys and handles never reach the logs', async () => {
    const server = await serve();
    const login = loginClient(server.addr);
    const { code } = await mintCode(EXPOSED);
    const r = await login.code2Session({ app_id: EXPOSED, js_code: code });
    login.close();
    // The log line travels through the child's stdout pipe: wait for it rather than race it.
    await waitForOutput(server, /"msg":"code2session"/);
    const out = server.output();
    for (const secret of [code, r.session_key, r.session_handle, SECRET])
      expect(out).not.toContain(secret);
  });
});

describe('LoginService on 2 replicas sharing Redis', () => {
  let redis: RedisNode;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('the same code sent to both replicas at once: one upstream call, one session', async () => {
    const extra = `redis: { urls: ["${redis.url}"], keyPrefix: "login-e2e:" }`;
    const [a, b] = await Promise.all([serve(extra), serve(extra)]);
    const la = loginClient(a.addr);
    const lb = loginClient(b.addr);
    const { code } = await mintCode(APP);
    const before = await code2sessionCalls(APP);
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? la : lb).code2Session({ app_id: APP, js_code: code }),
      ),
    );
    expect(await code2sessionCalls(APP)).toBe(before + 1);
    for (const r of replies) expect(r.session_handle).toBe(replies[0]!.session_handle);
    // The session is visible from the other replica.
    expect((await lb.getSession({ session_handle: replies[0]!.session_handle })).app_id).toBe(APP);
    la.close();
    lb.close();
  });
});
