import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forceRefresh, getToken, listAuditEvents, tokenClient } from '../../src/cli/grpc-client.js';
import { fingerprint } from '../../src/shared/secret.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { scenePng } from '../../src/sim/scene-png.js';
import { startInProcess, type InProcess } from '../support/in-process.js';
import { sha256 } from '../support/key-digest.js';

/**
 * The WeChat-compatible HTTP gateway (issue 13), raw HTTP against the server in process and
 * the simulator over real sockets: WeChat's shapes and errcodes, no upstream fetch for a plain
 * token request, no open proxy, and recovery of a token that died at WeChat.
 */
const APP = 'wxgateway0000001';
const OTHER = 'wxgatewayother01';
const SECRET = 'gateway-app-secret-0c4d';
const KEY_SHOP = 'shop-key-for-the-gateway-1234';
const KEY_ADMIN = 'admin-key-for-the-gateway-5678';
const KEY_LIMITED = 'limited-key-for-the-gateway-9abc';

let h: InProcess;
let gw: string;
/** The server's log lines, and every credential the tests saw, to scan for at the end. */
const logLines: string[] = [];
const seen = new Set<string>([SECRET, KEY_SHOP, KEY_ADMIN, KEY_LIMITED]);
let grpcClient: TokenServiceClient;

beforeAll(async () => {
  h = await startInProcess(
    `
grpc: { listen: "127.0.0.1:0" }
gateway: { listen: "127.0.0.1:0", passThrough: true, maxRequestBytes: 65536, maxResponseBytes: 1048576, timeoutMs: 800 }
metrics: { listen: "" }
wechat: { baseUrl: "SIM_URL", timeoutMs: 2000 }
refresh: { forceMinIntervalMs: 1 }
limits: { forceRefreshPerMinute: 3 }
auth:
  callers:
    - { name: shop, keySha256: "${sha256(KEY_SHOP)}", apps: [${APP}], scopes: [token:read, login] }
    - { name: ops, keySha256: "${sha256(KEY_ADMIN)}", apps: ["*"], scopes: [token:read, token:refresh, admin] }
    - { name: limited, keySha256: "${sha256(KEY_LIMITED)}", apps: [${APP}], scopes: [token:read, token:refresh] }
apps:
  - { appId: ${APP}, mode: classic, secretEnv: APP_SECRET, tickets: [jsapi] }
  - { appId: ${OTHER}, mode: classic, secretEnv: APP_SECRET }
`,
    { APP_SECRET: SECRET },
    async (control) => {
      for (const appId of [APP, OTHER]) {
        await control.configureApp({ appId, secret: SECRET, expiresInSeconds: 7200 });
      }
    },
    logLines,
  );
  gw = `http://127.0.0.1:${h.server.gatewayPort!}`;
  grpcClient = tokenClient(h.addr, KEY_ADMIN);
});

afterAll(async () => {
  grpcClient?.close();
  await h?.stop();
});

/** Remembers every token and ticket an answer carried, for the log scan. */
function remember(body: Record<string, unknown>): Record<string, unknown> {
  for (const key of ['access_token', 'ticket', 'session_key']) {
    if (typeof body[key] === 'string') seen.add(body[key]);
  }
  return body;
}

const get = async (path: string): Promise<Record<string, unknown>> =>
  remember((await (await fetch(`${gw}${path}`)).json()) as Record<string, unknown>);
const post = async (path: string, body: unknown): Promise<Record<string, unknown>> =>
  remember(
    (await (
      await fetch(`${gw}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    ).json()) as Record<string, unknown>,
  );
const tokenPath = (appid: string, secret: string): string =>
  `/cgi-bin/token?grant_type=client_credential&appid=${appid}&secret=${encodeURIComponent(secret)}`;

describe('gateway token paths (issue 13 §1)', () => {
  it('GET /cgi-bin/token answers the central token from memory, never fetching', async () => {
    const central = await getToken(grpcClient, APP);
    const before = (await h.control.counters(APP)).tokenCalls;
    for (let i = 0; i < 20; i++) {
      const r = await get(tokenPath(APP, KEY_SHOP));
      expect(r.access_token).toBe(central.access_token);
      const left = (Number(central.expires_at!.seconds) * 1000 - Date.now()) / 1000;
      expect(r.expires_in).toBeLessThanOrEqual(Math.ceil(left));
      expect(r.expires_in).toBeGreaterThan(left - 5);
    }
    expect((await h.control.counters(APP)).tokenCalls).toBe(before);
  });

  it.each([
    ['a wrong key', tokenPath(APP, 'not-a-key'), 40125],
    ['a key for another app', tokenPath(OTHER, KEY_SHOP), 40013],
    ['an unknown app', tokenPath('wxnotconfigured1', KEY_ADMIN), 40013],
    ['no appid', '/cgi-bin/token?grant_type=client_credential&secret=x', 41002],
    ['no secret', `/cgi-bin/token?grant_type=client_credential&appid=${APP}`, 41004],
    ['a wrong grant_type', `/cgi-bin/token?grant_type=password&appid=${APP}&secret=x`, 40002],
    ['the real AppSecret (acceptAppSecret is off)', tokenPath(APP, SECRET), 40125],
  ])('%s: HTTP 200 with errcode %i', async (_label, path, errcode) => {
    const res = await fetch(`${gw}${path}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.errcode).toBe(errcode);
    expect(body).not.toHaveProperty('access_token');
  });

  it('POST /cgi-bin/stable_token and a JSON POST to /cgi-bin/token answer the same token', async () => {
    const central = await getToken(grpcClient, APP);
    const body = { grant_type: 'client_credential', appid: APP, secret: KEY_SHOP };
    expect((await post('/cgi-bin/stable_token', body)).access_token).toBe(central.access_token);
    expect((await post('/cgi-bin/token', body)).access_token).toBe(central.access_token);
    expect((await post('/cgi-bin/stable_token', 'not json')).errcode).toBe(47001);
  });

  it('force_refresh: true is compare-and-refresh (a live token is kept, a dead one replaced) and needs token:refresh', async () => {
    const body = { grant_type: 'client_credential', appid: APP, force_refresh: true };
    const denied = await post('/cgi-bin/stable_token', { ...body, secret: KEY_SHOP });
    expect(denied.errcode).toBe(48001);
    const live = await getToken(grpcClient, APP);
    const kept = await post('/cgi-bin/stable_token', { ...body, secret: KEY_ADMIN });
    expect(kept.access_token).toBe(live.access_token);
    await h.control.rotate(APP, true); // another system fetched: ours died at WeChat
    const fresh = await post('/cgi-bin/stable_token', { ...body, secret: KEY_ADMIN });
    expect(fresh.access_token).not.toBe(live.access_token);
    expect((await h.control.check(String(fresh.access_token))).valid).toBe(true);
  });

  it("force_refresh is bounded by the caller's limits.forceRefreshPerMinute (45009 past it)", async () => {
    const body = { grant_type: 'client_credential', appid: APP, force_refresh: true };
    const answers = [];
    for (let i = 0; i < 4; i++) {
      answers.push(await post('/cgi-bin/stable_token', { ...body, secret: KEY_LIMITED }));
    }
    const refused = answers.filter((a) => a.errcode === 45009);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(String(refused[0]!.errmsg)).toContain('ForceRefresh');
  });

  it('every force_refresh is in the audit trail with its caller and outcome', async () => {
    const events = await listAuditEvents(grpcClient, { app_id: APP, limit: 50 });
    const refreshes = events.events.filter(
      (e) => e.reason === 'gateway: stable_token force_refresh',
    );
    expect(refreshes.length).toBeGreaterThanOrEqual(2);
    const byOps = refreshes.filter((e) => e.caller === 'ops');
    expect(byOps.length).toBeGreaterThanOrEqual(2);
    expect(byOps.every((e) => e.result === 'OK')).toBe(true);
    // The refused ones are recorded too, with the code the caller got.
    expect(refreshes.some((e) => e.caller === 'limited' && e.result === 'RESOURCE_EXHAUSTED')).toBe(
      true,
    );
    for (const e of refreshes) for (const secret of seen) expect(e.detail).not.toContain(secret);
  });

  it('getticket answers the central ticket for a token wxtoken holds, 40001 for any other', async () => {
    const token = String((await get(tokenPath(APP, KEY_SHOP))).access_token);
    const t = await get(`/cgi-bin/ticket/getticket?access_token=${token}&type=jsapi`);
    expect(t).toMatchObject({ errcode: 0, errmsg: 'ok' });
    expect((await h.control.checkTicket(APP, 'jsapi', String(t.ticket))).alive).toBe(true);
    expect((await get(`/cgi-bin/ticket/getticket?access_token=forged&type=jsapi`)).errcode).toBe(
      40001,
    );
    expect((await get(`/cgi-bin/ticket/getticket?access_token=${token}&type=x`)).errcode).toBe(
      40097,
    );
  });
});

describe('gateway pass-through (issue 13 §2)', () => {
  it('forwards a call with a held token; an unknown token is answered 40001 and never forwarded', async () => {
    const token = String((await get(tokenPath(APP, KEY_SHOP))).access_token);
    const ips = await get(`/cgi-bin/getcallbackip?access_token=${token}`);
    expect(Array.isArray(ips.ip_list)).toBe(true);
    const before = (await h.control.calls(APP)).length;
    const forged = await get(`/cgi-bin/getcallbackip?access_token=not-ours`);
    expect(forged.errcode).toBe(40001);
    expect((await h.control.calls(APP)).length).toBe(before);
  });

  it('a JSON POST arrives as sent; a binary reply comes back byte for byte', async () => {
    const token = String((await get(tokenPath(APP, KEY_SHOP))).access_token);
    const sent = await post(`/cgi-bin/message/custom/send?access_token=${token}`, {
      touser: 'oUSER',
      msgtype: 'text',
      text: { content: 'hello through the gateway' },
    });
    expect(sent).toEqual({ errcode: 0, errmsg: 'ok' });
    const res = await fetch(`${gw}/wxa/getwxacodeunlimit?access_token=${token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scene: 'a=1' }),
    });
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await res.arrayBuffer()).equals(scenePng('a=1'))).toBe(true);
  });

  it('a token that died at WeChat: the forwarded call succeeds anyway, at the cost of one fetch', async () => {
    const token = String((await get(tokenPath(APP, KEY_SHOP))).access_token);
    await h.control.rotate(APP, true);
    const fetchesBefore = (await h.control.counters(APP)).tokenIssued;
    const ips = await get(`/cgi-bin/getcallbackip?access_token=${token}`);
    expect(Array.isArray(ips.ip_list)).toBe(true);
    expect((await h.control.counters(APP)).tokenIssued).toBe(fetchesBefore + 1);
  });

  it('a token wxtoken has replaced (still in its overlap) is sent on as the current one', async () => {
    const old = String((await get(tokenPath(APP, KEY_SHOP))).access_token);
    const refreshed = await forceRefresh(grpcClient, {
      app_id: APP,
      stale_token: '',
      reason: 'test: rotate',
    });
    const current = refreshed.token!.access_token;
    expect(current).not.toBe(old);
    const since = Date.now() - 1;
    const ips = await get(`/cgi-bin/getcallbackip?access_token=${old}`);
    expect(Array.isArray(ips.ip_list)).toBe(true);
    const calls = (await h.control.calls(APP, since)).filter((c) => c.endpoint === 'getcallbackip');
    expect(calls.map((c) => c.tokenFingerprint)).toEqual([fingerprint(current)]);
  });

  it.each([
    ['timeout', 'an upstream that never answers'],
    ['stalled_body', 'a reply that stalls mid-body (the deadline covers the whole call)'],
  ])('%s: %s gets -1 after gateway.timeoutMs, and the next call works', async (kind) => {
    const token = String((await get(tokenPath(APP, KEY_SHOP))).access_token);
    await h.control.fault(APP, { kind, count: 1, endpoints: ['getcallbackip'] });
    const started = performance.now();
    const slow = await get(`/cgi-bin/getcallbackip?access_token=${token}`);
    expect(slow.errcode).toBe(-1);
    expect(performance.now() - started).toBeLessThan(5_000); // a hang check, not a benchmark
    expect(Array.isArray((await get(`/cgi-bin/getcallbackip?access_token=${token}`)).ip_list)).toBe(
      true,
    );
  });

  it('a reply announced over gateway.maxResponseBytes is refused with 45002 and not read', async () => {
    const token = String((await get(tokenPath(APP, KEY_SHOP))).access_token);
    await h.control.fault(APP, { kind: 'huge_body', count: 1, endpoints: ['getcallbackip'] });
    const refused = await get(`/cgi-bin/getcallbackip?access_token=${token}`);
    expect(refused.errcode).toBe(45002);
    expect(String(refused.errmsg)).toMatch(/gateway\.maxResponseBytes/);
    expect(Array.isArray((await get(`/cgi-bin/getcallbackip?access_token=${token}`)).ip_list)).toBe(
      true,
    );
  });

  it('a chunked reply growing past gateway.maxResponseBytes is cut there, and the gateway keeps serving', async () => {
    const token = String((await get(tokenPath(APP, KEY_SHOP))).access_token);
    await h.control.fault(APP, { kind: 'huge_chunked', count: 1, endpoints: ['getcallbackip'] });
    // The head may go out before the size is known, or be dropped with the rest: either way the
    // client sees the reply cut, never a complete one.
    let received = 0;
    const cut = await (async () => {
      try {
        const res = await fetch(`${gw}/cgi-bin/getcallbackip?access_token=${token}`);
        for await (const chunk of res.body!) received += (chunk as Uint8Array).length;
        return false;
      } catch {
        return true;
      }
    })();
    expect(cut).toBe(true);
    expect(received).toBeLessThanOrEqual(1_048_576);
    expect(Array.isArray((await get(`/cgi-bin/getcallbackip?access_token=${token}`)).ip_list)).toBe(
      true,
    );
  });

  it('a body over gateway.maxRequestBytes is refused with 413 and never forwarded', async () => {
    const token = String((await get(tokenPath(APP, KEY_SHOP))).access_token);
    const res = await fetch(`${gw}/cgi-bin/message/custom/send?access_token=${token}`, {
      method: 'POST',
      body: 'x'.repeat(70_000),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { errcode: number }).errcode).toBe(45002);
  });
});

describe('gateway jscode2session (issue 13 §2)', () => {
  it('goes through the idempotent Code2Session: a repeated code gets the same openid', async () => {
    const res = await fetch(`${h.simUrl}/__sim/apps/${APP}/codes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const { code } = (await res.json()) as { code: string };
    const path = `/sns/jscode2session?appid=${APP}&secret=${KEY_SHOP}&js_code=${code}&grant_type=authorization_code`;
    const first = await get(path);
    expect(typeof first.openid).toBe('string');
    expect(first).not.toHaveProperty('session_key');
    expect(await get(path)).toEqual(first);
  });
});

describe('gateway logs (invariant 8)', () => {
  it('hold no AppSecret, caller key, token or ticket after the whole scenario', () => {
    expect(logLines.length).toBeGreaterThan(0);
    const all = logLines.join('');
    for (const secret of seen) expect(all.includes(secret), 'a credential in the logs').toBe(false);
  });
});
