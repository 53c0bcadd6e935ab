import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { componentClient, getComponentToken } from '../../src/cli/component-client.js';
import { getToken, tokenClient } from '../../src/cli/grpc-client.js';
import type { ComponentServiceClient } from '../../src/grpc/generated/wxtoken/v1/ComponentService.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { ComponentSim, componentYaml, newTestComponent } from '../support/component-sim.js';
import { startInProcess, type InProcess } from '../support/in-process.js';
import { sha256 } from '../support/key-digest.js';

/**
 * A third-party SDK (WxJava open, EasyWeChat OpenPlatform, silenceper openplatform) pointed at
 * the gateway: it asks `/cgi-bin/component/...` for its credentials with the same requests it
 * sends WeChat, a caller key where the component AppSecret was. Invariant: one fetcher per
 * credential (only wxtoken asks WeChat for a token; the SDK's requests are answered from memory)
 * and refresh tokens stay inside.
 */
const COMPONENT = newTestComponent('wxgatewaycomp0001');
const ID = COMPONENT.componentAppId;
const PLAIN = 'wxgwplainapp00001';
const SECRET = 'plain-app-secret-1f0c';
const VENDOR_KEY = 'vendor-caller-key-6d1e2a';
const SHOP_KEY = 'shop-caller-key-93b7c0';

let h: InProcess;
let tokens: TokenServiceClient;
let shop: TokenServiceClient;
let components: ComponentServiceClient;
let sim: ComponentSim;
let base: string;

beforeAll(async () => {
  h = await startInProcess(
    `
grpc: { listen: "127.0.0.1:0" }
gateway: { listen: "127.0.0.1:0", passThrough: true }
metrics: { listen: "" }
wechat: { baseUrl: "SIM_URL", timeoutMs: 2000 }
refresh: { forceMinIntervalMs: 1, retryMinMs: 50, retryMaxMs: 200 }
limits: { passThroughPerSecond: 2 }
auth:
  callers:
    - { name: vendor, keySha256: "${sha256(VENDOR_KEY)}", apps: ["component:${ID}/*"], scopes: [token:read] }
    - { name: shop, keySha256: "${sha256(SHOP_KEY)}", apps: [${PLAIN}], scopes: [token:read] }
apps:
  - { appId: ${PLAIN}, mode: classic, secretEnv: APP_SECRET }
components:
${componentYaml(COMPONENT)}
`,
    { APP_SECRET: SECRET },
    async (control) => {
      await control.configureApp({ appId: PLAIN, secret: SECRET, expiresInSeconds: 7200 });
    },
  );
  base = `http://127.0.0.1:${h.server.gatewayPort}/cgi-bin/component`;
  sim = new ComponentSim(h.control, COMPONENT);
  await sim.configure(`http://127.0.0.1:${h.server.gatewayPort}/wechat/component/${ID}/events`);
  await sim.pushVerifyTicket();
  tokens = tokenClient(h.addr, VENDOR_KEY);
  shop = tokenClient(h.addr, SHOP_KEY);
  components = componentClient(h.addr, VENDOR_KEY);
});

afterAll(async () => {
  tokens?.close();
  shop?.close();
  components?.close();
  await h?.stop();
});

/** A POST as the SDKs send it: JSON body, the component token (if any) in the query. */
async function post(
  path: string,
  body: unknown,
  componentToken?: string,
): Promise<Record<string, unknown>> {
  const query = componentToken === undefined ? '' : `?component_access_token=${componentToken}`;
  const res = await fetch(`${base}/${path}${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

const componentTokenRequest = (secret: string, appid = ID) =>
  post('api_component_token', {
    component_appid: appid,
    component_appsecret: secret,
    // The SDK sends whatever ticket it has; the pushes come to wxtoken, which ignores it.
    component_verify_ticket: 'ticket@@@the-sdk-never-saw-one',
  });

describe('gateway: the Open Platform credential paths', () => {
  it('api_component_token answers the component token wxtoken holds, for a caller key allowed on the platform', async () => {
    const issued = (await sim.counters()).componentTokenIssued;
    const body = await componentTokenRequest(VENDOR_KEY);
    const held = await getComponentToken(components, ID);
    expect(body.component_access_token).toBe(held.access_token);
    const lifeLeft = (Number(held.expires_at?.seconds) * 1000 - Date.now()) / 1000;
    expect(body.expires_in).toBeGreaterThan(0);
    expect(body.expires_in).toBeLessThanOrEqual(Math.ceil(lifeLeft));
    // Served from memory: WeChat issued nothing for it.
    expect((await sim.counters()).componentTokenIssued).toBe(issued);
  });

  it('api_component_token refuses a wrong key, a caller of other apps, an unknown platform and bad bodies', async () => {
    expect((await componentTokenRequest('not-a-key')).errcode).toBe(40125);
    expect((await componentTokenRequest(SHOP_KEY)).errcode).toBe(40013);
    expect((await componentTokenRequest(VENDOR_KEY, 'wxnosuchcomponent')).errcode).toBe(40013);
    expect((await componentTokenRequest('')).errcode).toBe(41004);
    expect((await componentTokenRequest(VENDOR_KEY, '')).errcode).toBe(41002);
    expect((await post('api_component_token', '[1,2]')).errcode).toBe(47001);
    expect((await post('api_component_token', '{not json')).errcode).toBe(47001);
    const get = await fetch(`${base}/api_component_token`);
    expect(((await get.json()) as { errcode: number }).errcode).toBe(47001);
  });

  it("api_authorizer_token answers the authorizer's token from memory and gives back the SDK's own refresh token", async () => {
    const { appId } = await sim.authorize();
    const served = await getToken(tokens, appId);
    const componentToken = (await componentTokenRequest(VENDOR_KEY)).component_access_token;
    const calls = (await sim.counters()).authorizerTokenCalls;
    const body = await post(
      'api_authorizer_token',
      {
        component_appid: ID,
        authorizer_appid: appId,
        authorizer_refresh_token: 'refreshtoken@@@what-the-sdk-stored',
      },
      String(componentToken),
    );
    expect(body.authorizer_access_token).toBe(served.access_token);
    expect((await h.control.check(String(body.authorizer_access_token))).valid).toBe(true);
    expect(Number(body.expires_in)).toBeGreaterThan(0);
    expect(body.authorizer_refresh_token).toBe('refreshtoken@@@what-the-sdk-stored');
    // One fetcher: the SDK's request reached no WeChat endpoint.
    expect((await sim.counters()).authorizerTokenCalls).toBe(calls);
  });

  it('api_authorizer_token refuses a token that is not the live component token, and apps that are not its authorizers', async () => {
    const { appId } = await sim.authorize();
    const good = String((await componentTokenRequest(VENDOR_KEY)).component_access_token);
    const ask = (token: string | undefined, authorizer: string, component = ID) =>
      post(
        'api_authorizer_token',
        { component_appid: component, authorizer_appid: authorizer, authorizer_refresh_token: 'x' },
        token,
      );
    expect((await ask(undefined, appId)).errcode).toBe(41001);
    expect((await ask(`${good}x`, appId)).errcode).toBe(40001);
    // The plain app's own token is not a component token.
    const plain = (await getToken(shop, PLAIN)).access_token;
    expect((await ask(plain, appId)).errcode).toBe(40001);
    expect((await ask(good, appId, 'wxnosuchcomponent')).errcode).toBe(40001);
    expect((await ask(good, PLAIN)).errcode).toBe(40013);
    expect((await ask(good, 'wxnotanauthorizer1')).errcode).toBe(40013);
    expect((await ask(good, '')).errcode).toBe(41002);
  });

  it('api_create_preauthcode asks WeChat for a pre-auth code, at most limits.passThroughPerSecond a second per platform', async () => {
    const token = String((await componentTokenRequest(VENDOR_KEY)).component_access_token);
    // Sent at once: the limiter counts them on arrival, however slow WeChat answers.
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        post('api_create_preauthcode', { component_appid: ID }, token),
      ),
    );
    const codes = answers.filter((a) => typeof a.pre_auth_code === 'string');
    expect(codes.length).toBeGreaterThanOrEqual(2);
    expect(new Set(codes.map((a) => a.pre_auth_code)).size).toBe(codes.length);
    for (const a of codes) expect(Number(a.expires_in)).toBeGreaterThan(0);
    // A burst of 2 and 2 a second: six calls arriving together cannot all pass.
    expect(answers.filter((a) => a.errcode === 45011).length).toBeGreaterThanOrEqual(1);
    expect((await post('api_create_preauthcode', { component_appid: ID }, 'nope')).errcode).toBe(
      40001,
    );
  });

  it('other component paths are not forwarded: they carry no access_token wxtoken holds', async () => {
    const token = String((await componentTokenRequest(VENDOR_KEY)).component_access_token);
    const body = await post(
      'api_query_auth',
      { component_appid: ID, authorization_code: 'x' },
      token,
    );
    expect(body.errcode).toBe(41001);
  });
});
