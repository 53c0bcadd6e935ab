import * as grpc from '@grpc/grpc-js';
import {
  ClientClosedError,
  TokenUnavailableError,
  WxTokenClient,
  WxTokenError,
  type WxTokenClientOptions,
} from 'wxtoken-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forceRefresh, tokenClient } from '../../src/cli/grpc-client.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { startInProcess, type InProcess } from '../support/in-process.js';

/**
 * wxtoken-client (clients/node, issue 14) against the whole server in-process and the simulator,
 * over real loopback sockets; nothing of gRPC is mocked. What is counted and where:
 * - client side: an interceptor given through the client's `interceptors` option counts every
 *   call the client starts, by method path;
 * - server side: the server's TokenService.watch (what each WatchToken handler subscribes with)
 *   is wrapped to count the streams the server actually opened;
 * - upstream: the simulator's counters (tokenCalls = fetches of /cgi-bin/token).
 */
const APP = 'wxnodeclient0001';
const APP2 = 'wxnodeclient0002';
const HERD = 'wxnodeclientherd';
const SECRET = 'node-client-secret-5b1e';

let h: InProcess;
let raw: TokenServiceClient;
const serverWatches = new Map<string, number>();
const clients: WxTokenClient[] = [];

function counted(o: Partial<WxTokenClientOptions> = {}): {
  client: WxTokenClient;
  calls: Map<string, number>;
} {
  const calls = new Map<string, number>();
  const count: grpc.Interceptor = (options, next) => {
    const m = options.method_definition.path.replace('/wxtoken.v1.', '');
    calls.set(m, (calls.get(m) ?? 0) + 1);
    return new grpc.InterceptingCall(next(options));
  };
  const client = new WxTokenClient({ address: h.addr, interceptors: [count], ...o });
  clients.push(client);
  return { client, calls };
}

beforeAll(async () => {
  h = await startInProcess(
    `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "SIM_URL", timeoutMs: 2000 }
refresh: { forceMinIntervalMs: 1 }
apps:
  - { appId: ${APP}, mode: classic, secretEnv: APP_SECRET, tickets: [jsapi] }
  - { appId: ${APP2}, mode: classic, secretEnv: APP_SECRET }
  - { appId: ${HERD}, mode: classic, secretEnv: APP_SECRET }
`,
    { APP_SECRET: SECRET },
    async (control) => {
      for (const appId of [APP, APP2, HERD]) {
        await control.configureApp({ appId, secret: SECRET, expiresInSeconds: 7200 });
      }
    },
  );
  const service = h.server.service;
  const watch = service.watch.bind(service);
  service.watch = (appId, listener) => {
    serverWatches.set(appId, (serverWatches.get(appId) ?? 0) + 1);
    return watch(appId, listener);
  };
  raw = tokenClient(h.addr);
});

afterAll(async () => {
  for (const c of clients) c.close();
  raw?.close();
  await h?.stop();
});

/** Polls `probe` every millisecond until it holds; the elapsed ms. */
async function until(probe: () => boolean, timeoutMs = 5_000): Promise<number> {
  const t0 = performance.now();
  while (!probe()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
  return performance.now() - t0;
}

/** A business call through the simulator: throws WeChat's errcode like an SDK would. */
async function callbackIp(token: string): Promise<{ ip_list: string[] }> {
  const res = await fetch(`${h.simUrl}/cgi-bin/getcallbackip?access_token=${token}`);
  const body = (await res.json()) as { errcode?: number; errmsg?: string; ip_list: string[] };
  if (body.errcode) throw Object.assign(new Error(body.errmsg), { errcode: body.errcode });
  return body;
}

describe('wxtoken-client token cache (design.md "Client libraries")', () => {
  it('one WatchToken stream per app however many callers; no RPC per call once warm', async () => {
    const { client, calls } = counted();
    const before = { a: serverWatches.get(APP) ?? 0, b: serverWatches.get(APP2) ?? 0 };
    const first = await Promise.all(
      Array.from({ length: 200 }, (_, i) => client.token(i % 2 ? APP : APP2)),
    );
    await until(() => client.status(APP)!.streaming && client.status(APP2)!.streaming);
    expect(new Set(first.filter((_, i) => i % 2)).size).toBe(1);
    const warm = { ...Object.fromEntries(calls) };
    for (let i = 0; i < 1000; i++) {
      await client.token(APP);
      expect(client.tokenSync(APP2)).toBe(first[0]);
    }
    // Client side: one stream per app, at most one GetToken per app (first use, before the
    // stream's first message), and nothing more after warm-up.
    expect(calls.get('TokenService/WatchToken')).toBe(2);
    expect(calls.get('TokenService/GetToken') ?? 0).toBeLessThanOrEqual(2);
    expect(Object.fromEntries(calls)).toEqual(warm);
    // Server side: the server subscribed exactly one stream per app for this client.
    expect((serverWatches.get(APP) ?? 0) - before.a).toBe(1);
    expect((serverWatches.get(APP2) ?? 0) - before.b).toBe(1);
  });

  it('invariant 5 (fast propagation): a rotation reaches token() callers within 1 s', async () => {
    const { client } = counted();
    const old = await client.token(APP);
    await until(() => client.status(APP)!.streaming);
    // Timed from the moment the rotation is asked for to the moment tokenSync() changes.
    const [reached, reply] = await Promise.all([
      until(() => client.tokenSync(APP) !== old),
      forceRefresh(raw, { app_id: APP, stale_token: '', reason: 'client test' }),
    ]);
    const fresh = reply.token!.access_token;
    expect(fresh).not.toBe(old);
    expect(client.tokenSync(APP)).toBe(fresh);
    expect(await client.token(APP)).toBe(fresh);
    expect(reached).toBeLessThan(1_000);
    console.log(
      `rotation reached tokenSync() ${reached.toFixed(1)} ms after ForceRefresh was sent`,
    );
  });

  it('invariant 3 (never a dead token): with a fake clock, nothing at or past expires_at', async () => {
    let now = Date.now();
    const { client } = counted({ clock: { now: () => now }, expiryMarginMs: 0 });
    const t = await client.token(APP);
    await until(() => client.status(APP)!.streaming);
    const expiresAt = client.status(APP)!.expiresAt!;
    now = expiresAt - 1;
    expect(client.tokenSync(APP)).toBe(t);
    expect(await client.token(APP)).toBe(t);
    now = expiresAt;
    expect(client.tokenSync(APP)).toBeUndefined();
    // The server still holds that token (by its clock it lives 2 h): the client refuses it.
    const err = await client.token(APP).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect((err as TokenUnavailableError).cachedExpiresAt).toBe(expiresAt);
    now = expiresAt + 3_600_000;
    expect(client.tokenSync(APP)).toBeUndefined();
    await expect(client.withToken(APP, () => 'never')).rejects.toBeInstanceOf(
      TokenUnavailableError,
    );
  });

  it('typed errors carry the gRPC status; close() ends the streams and later calls reject', async () => {
    const { client } = counted();
    const err = await client.token('wxnotconfigured1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect((err as WxTokenError).code).toBe(grpc.status.NOT_FOUND);
    expect((err as WxTokenError).codeName).toBe('NOT_FOUND');
    const t = await client.ticket(APP, 'jsapi');
    expect(t.ticket.length).toBeGreaterThan(10);
    const sig = await client.signJsapi(APP, 'https://shop.example.com/p?a=1#frag');
    expect(sig.signature).toMatch(/^[0-9a-f]{40}$/);
    expect(sig.nonceStr).toMatch(/^[A-Za-z0-9]{16}$/);
    const noTicket = await client.ticket(APP2, 'jsapi').catch((e: unknown) => e);
    expect((noTicket as WxTokenError).codeName).toBe('FAILED_PRECONDITION');
    const code = await fetch(`${h.simUrl}/__sim/apps/${APP}/codes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'u1' }),
    }).then((r) => r.json() as Promise<{ code: string; openid: string }>);
    const session = await client.code2Session(APP, code.code);
    expect(session.openid).toBe(code.openid);
    expect((await client.getSession(session.sessionHandle)).openid).toBe(code.openid);
    const used = await client.code2Session(APP, 'not-a-code').catch((e: unknown) => e);
    expect(used).toBeInstanceOf(WxTokenError);
    expect((used as WxTokenError).errcode).toBe(40029);

    await client.token(APP);
    const watchesBefore = serverWatches.get(APP) ?? 0;
    client.close();
    await expect(client.token(APP)).rejects.toBeInstanceOf(ClientClosedError);
    await expect(client.ticket(APP, 'jsapi')).rejects.toBeInstanceOf(ClientClosedError);
    expect(client.tokenSync(APP)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 200));
    expect(serverWatches.get(APP) ?? 0).toBe(watchesBefore); // no reconnect after close
  });
});

describe('wxtoken-client withToken (invariant 6 from the caller side)', () => {
  it('a token invalidated at WeChat: 100 concurrent withToken cost one ForceRefresh and one upstream fetch', async () => {
    const { client, calls } = counted();
    const stale = await client.token(HERD);
    await until(() => client.status(HERD)!.streaming);
    await h.control.rotate(HERD, true); // another system fetched: our token is dead at once
    const before = await h.control.counters(HERD);
    let runs = 0;
    const results = await Promise.all(
      Array.from({ length: 100 }, () =>
        client.withToken(HERD, async (token) => {
          runs++;
          return { token, body: await callbackIp(token) };
        }),
      ),
    );
    const after = await h.control.counters(HERD);
    expect(after.tokenCalls - before.tokenCalls).toBe(1);
    expect(after.checkCalls - before.checkCalls).toBe(1);
    expect(calls.get('TokenService/ForceRefresh')).toBe(1);
    const fresh = results[0]!.token;
    expect(fresh).not.toBe(stale);
    for (const r of results) {
      expect(r.token).toBe(fresh);
      expect(r.body.ip_list.length).toBeGreaterThan(0);
    }
    expect(runs).toBe(200); // each call: once with the dead token, once with the new one
    expect((await h.control.check(fresh)).valid).toBe(true);
  });

  it('a returned body with errcode "42001" (string) is retried once with the new token', async () => {
    const { client, calls } = counted();
    const stale = await client.token(HERD);
    await until(() => client.status(HERD)!.streaming);
    await h.control.rotate(HERD, true);
    const seen: string[] = [];
    const out = await client.withToken(HERD, async (token) => {
      seen.push(token);
      const res = await fetch(`${h.simUrl}/cgi-bin/getcallbackip?access_token=${token}`);
      const body = (await res.json()) as { errcode?: number };
      return body.errcode ? { ...body, errcode: '42001' } : body;
    });
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBe(stale);
    expect(seen[1]).not.toBe(stale);
    expect(out).not.toHaveProperty('errcode');
    expect(calls.get('TokenService/ForceRefresh')).toBe(1);
  });

  it('another errcode (45009) is thrown as is, never retried, no ForceRefresh', async () => {
    const { client, calls } = counted();
    let runs = 0;
    const quota = Object.assign(new Error('reach max api daily quota limit'), { errcode: 45009 });
    const err = await client
      .withToken(APP, () => {
        runs++;
        throw quota;
      })
      .catch((e: unknown) => e);
    expect(err).toBe(quota);
    expect(runs).toBe(1);
    const body = await client.withToken(APP, () => ({ errcode: 45009 }));
    expect(body).toEqual({ errcode: 45009 });
    expect(calls.get('TokenService/ForceRefresh')).toBeUndefined();
  });
});
