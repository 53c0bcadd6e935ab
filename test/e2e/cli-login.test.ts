import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginClient } from '../support/login-client.js';
import { runCli, startServe, startSimWithApp, type Spawned } from '../support/processes.js';

/**
 * Issue 17 "runnable without grpcurl": the login flow with what the project ships. `wxtoken sim
 * code` asks the simulator for a wx.login() code; `wxtoken login` makes the Code2Session call a
 * business server makes, and prints who logged in but never the session_key, even from a server
 * configured to hand it out.
 */
const APP = 'wxclilogin000001';
let sim: Spawned & { url: string };
let server: Spawned & { addr: string };

beforeAll(async () => {
  sim = await startSimWithApp(APP, 'cli-login-secret');
  server = await startServe(`
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 3000 }
login: { exposeSessionKey: true }
apps:
  - { appId: ${APP}, mode: classic, secret: cli-login-secret }
`);
}, 30_000);

afterAll(async () => {
  await server?.stop();
  await sim?.stop();
});

describe('wxtoken sim code + wxtoken login (issue 17: every step runs without grpcurl)', () => {
  it('sim code prints a code the login verb exchanges for the user, without the session_key', async () => {
    const first = await runCli(['sim', 'code', APP, '--sim', sim.url, '--user', 'alice']);
    expect(first.code).toBe(0);
    const code = first.out.trim();
    expect(code).toMatch(/^\S{16,}$/);

    const login = await runCli(['login', APP, code, '--addr', server.addr, '--json']);
    expect(login.code, login.out).toBe(0);
    const reply = JSON.parse(login.out) as Record<string, string>;
    // Exactly these fields: no session_key, no session handle.
    expect(Object.keys(reply).sort()).toEqual(['appId', 'expiresAt', 'openid', 'unionid']);
    const user = (await (
      await fetch(`${sim.url}/__sim/apps/${APP}/users/${reply.openid}`)
    ).json()) as {
      sessionKeyFingerprint?: string;
    };
    expect(user.sessionKeyFingerprint).toBeDefined(); // the code was exchanged upstream for this user

    // The same user again, in text: the server does send a session_key to this caller...
    const again = (
      await runCli(['sim', 'code', APP, '--sim', sim.url, '--user', 'alice'])
    ).out.trim();
    const grpc = loginClient(server.addr);
    try {
      const direct = await grpc.code2Session({ app_id: APP, js_code: again });
      expect(direct.session_key).not.toBe('');
      // ...and the CLI, given the next code of the same user, prints who it is but not that key.
      const next = (
        await runCli(['sim', 'code', APP, '--sim', sim.url, '--user', 'alice'])
      ).out.trim();
      const text = await runCli(['login', APP, next, '--addr', server.addr]);
      expect(text.code, text.out).toBe(0);
      expect(text.out).toContain(`openid  ${direct.openid}`);
      expect(text.out).not.toMatch(/session_key|sessionKey/i);
      expect(text.out).not.toContain(direct.session_handle);
    } finally {
      grpc.close();
    }
  });

  it('a bad code fails with the gRPC status name in --json, and the simulator unreachable says which flag', async () => {
    const bad = await runCli(['login', APP, 'not-a-real-code', '--addr', server.addr, '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.out)).toMatchObject({
      error: { code: 'INVALID_ARGUMENT', wechatErrcode: '40029' },
    });
    const nowhere = await runCli(['sim', 'code', APP, '--sim', 'http://127.0.0.1:1']);
    expect(nowhere.code).toBe(1);
    expect(nowhere.out).toMatch(/cannot reach the simulator at http:\/\/127\.0\.0\.1:1.*--sim URL/);
    const unknown = await runCli(['sim', 'code', 'wxnotconfigured1', '--sim', sim.url]);
    expect(unknown.code).toBe(1);
    expect(unknown.out).toMatch(/not configured/);
  });
});
