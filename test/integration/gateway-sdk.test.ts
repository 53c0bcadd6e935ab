import WeChatAPI from 'co-wechat-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getToken, tokenClient } from '../../src/cli/grpc-client.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { startInProcess, type InProcess } from '../support/in-process.js';
import { sha256 } from '../support/key-digest.js';

/**
 * A real, unmodified WeChat SDK from npm (co-wechat-api 3.11, node-webot) adopting wxtoken by
 * configuration only: its `prefix` points at the gateway and its `appsecret` is a caller key
 * (issue 13, tests). The SDK keeps its own token cache and its own 40001 handling.
 */
const APP = 'wxsdkgateway0001';
const OTHER = 'wxsdkgatewayoth1';
const SECRET = 'sdk-app-secret-8e2f';
const KEY = 'sdk-caller-key-0123456789';

let h: InProcess;
let grpcClient: TokenServiceClient;

/** An SDK instance as a business server would configure it: host and secret changed, nothing else. */
function sdk(appId = APP, secret = KEY): WeChatAPI {
  const api = new WeChatAPI(appId, secret);
  api.prefix = `http://127.0.0.1:${h.server.gatewayPort!}/cgi-bin/`;
  api.wxaPrefix = `http://127.0.0.1:${h.server.gatewayPort!}/wxa/`;
  return api;
}

beforeAll(async () => {
  h = await startInProcess(
    `
grpc: { listen: "127.0.0.1:0" }
gateway: { listen: "127.0.0.1:0", passThrough: true }
metrics: { listen: "" }
wechat: { baseUrl: "SIM_URL", timeoutMs: 2000 }
refresh: { forceMinIntervalMs: 1 }
auth:
  callers:
    - { name: shop, keySha256: "${sha256(KEY)}", apps: [${APP}], scopes: [token:read] }
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
  );
  grpcClient = tokenClient(h.addr, KEY);
});

afterAll(async () => {
  grpcClient?.close();
  await h?.stop();
});

describe('co-wechat-api through the gateway (issue 13)', () => {
  it('gets the central token and the central ticket', async () => {
    const api = sdk();
    const central = await getToken(grpcClient, APP);
    expect((await api.ensureAccessToken()).accessToken).toBe(central.access_token);
    const { ticket } = await api.getTicket('jsapi');
    expect((await h.control.checkTicket(APP, 'jsapi', ticket)).alive).toBe(true);
  });

  it('its ordinary calls are passed through: getcallbackip and a customer message', async () => {
    const api = sdk();
    expect((await api.getIp()).ip_list.length).toBeGreaterThan(0);
    expect(await api.sendText('oUSER0001', 'hello from co-wechat-api')).toMatchObject({
      errcode: 0,
    });
    const res = await fetch(`${h.simUrl}/__sim/apps/${APP}/messages`);
    const { messages } = (await res.json()) as { messages: { touser: string }[] };
    expect(messages.some((m) => m.touser === 'oUSER0001')).toBe(true);
  });

  it('after its cached token died at WeChat, its next call succeeds at the cost of exactly one fetch', async () => {
    const api = sdk();
    await api.ensureAccessToken(); // cached inside the SDK
    await h.control.rotate(APP, true); // another system fetched: every token of ours is dead
    const issued = (await h.control.counters(APP)).tokenIssued;
    expect((await api.getIp()).ip_list.length).toBeGreaterThan(0);
    expect((await h.control.counters(APP)).tokenIssued).toBe(issued + 1);
  });

  it('a wrong key is 40125 and an app the caller may not use is 40013, as WeChat would say', async () => {
    await expect(sdk(APP, 'not-the-key').ensureAccessToken()).rejects.toMatchObject({
      code: 40125,
    });
    await expect(sdk(OTHER, KEY).ensureAccessToken()).rejects.toMatchObject({ code: 40013 });
  });

  it('50 SDK instances, each with its own cache, cost zero upstream token fetches', async () => {
    const issued = (await h.control.counters(APP)).tokenIssued;
    const apis = Array.from({ length: 50 }, () => sdk());
    const tokens = await Promise.all(
      apis.map(async (api) => (await api.ensureAccessToken()).accessToken),
    );
    await Promise.all(apis.map((api) => api.getIp()));
    expect(new Set(tokens).size).toBe(1);
    expect((await h.control.counters(APP)).tokenIssued).toBe(issued);
  });
});
