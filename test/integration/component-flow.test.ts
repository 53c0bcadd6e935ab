import { spawnSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  componentClient,
  createPreAuthCode,
  getComponentToken,
  listAuthorizers,
} from '../../src/cli/component-client.js';
import { forceRefresh, getTicket, getToken, tokenClient } from '../../src/cli/grpc-client.js';
import type { ComponentServiceClient } from '../../src/grpc/generated/wxtoken/v1/ComponentService.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { MessageCrypto } from '../../src/wechat/message-crypto.js';
import { ComponentSim, componentYaml, newTestComponent } from '../support/component-sim.js';
import { loginClient } from '../support/login-client.js';
import { startInProcess, type InProcess } from '../support/in-process.js';

/**
 * Third-party platforms end to end in one process (embedded store): the simulator pushes
 * encrypted events to the gateway's events URL; the component token follows the verify
 * ticket; an authorization makes the authorizer an app served by GetToken and the gateway,
 * with its refresh token rotated on every fetch; an unauthorization removes it.
 */
const COMPONENT = newTestComponent('wxcomponentflow01');
const ID = COMPONENT.componentAppId;

let h: InProcess;
let tokens: TokenServiceClient;
let components: ComponentServiceClient;
let login: ReturnType<typeof loginClient>;
let sim: ComponentSim;
let gateway: string;
const logs: string[] = [];

beforeAll(async () => {
  h = await startInProcess(
    `
grpc: { listen: "127.0.0.1:0" }
gateway: { listen: "127.0.0.1:0", passThrough: true }
metrics: { listen: "127.0.0.1:0" }
wechat: { baseUrl: "SIM_URL", timeoutMs: 2000 }
refresh: { forceMinIntervalMs: 1, retryMinMs: 50, retryMaxMs: 200 }
components:
${componentYaml(COMPONENT, ', authorizerTickets: [jsapi]')}
`,
    {},
    async () => undefined,
    logs,
  );
  gateway = `http://127.0.0.1:${h.server.gatewayPort}`;
  sim = new ComponentSim(h.control, COMPONENT);
  await sim.configure(`${gateway}/wechat/component/${ID}/events`);
  tokens = tokenClient(h.addr);
  components = componentClient(h.addr);
  login = loginClient(h.addr);
});

afterAll(async () => {
  tokens?.close();
  components?.close();
  login?.close();
  await h?.stop();
});

const code = (err: unknown): number | undefined => (err as grpc.ServiceError).code;

describe('third-party platform: events, component token, authorizers as apps', () => {
  it('waits for the first verify ticket, then fetches the component token with it', async () => {
    const before = await getComponentToken(components, ID, 300).catch(code);
    expect([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]).toContain(before);
    const push = await sim.pushVerifyTicket();
    expect(push).toMatchObject({ status: 200, body: 'success' });
    const token = await getComponentToken(components, ID);
    expect(token.app_id).toBe(ID);
    expect(token.access_token).not.toBe('');
    expect((await sim.counters()).componentTokenIssued).toBe(1);
  });

  it('an authorization makes the authorizer an app: GetToken and the gateway serve its token', async () => {
    const { appId, push } = await sim.authorize();
    expect(push).toMatchObject({ status: 200, body: 'success' });
    const t = await getToken(tokens, appId);
    expect((await h.control.check(t.access_token)).valid).toBe(true);
    const res = await fetch(
      `${gateway}/cgi-bin/token?grant_type=client_credential&appid=${appId}&secret=x`,
    );
    const body = (await res.json()) as { access_token?: string };
    expect(body.access_token).toBe(t.access_token);
    // Its platform asks for jsapi tickets: GetTicket serves one, fetched with the authorizer's token.
    const ticket = await getTicket(tokens, appId, 'TICKET_TYPE_JSAPI');
    expect((await h.control.checkTicket(appId, 'jsapi', ticket.ticket)).alive).toBe(true);
    // Pass-through accepts the authorizer's token like any app's.
    const ip = (await (
      await fetch(`${gateway}/cgi-bin/getcallbackip?access_token=${t.access_token}`)
    ).json()) as { ip_list?: unknown };
    expect(Array.isArray(ip.ip_list)).toBe(true);
  });

  it('every fetch stores the refresh token WeChat returns (the simulator rotates it; an old one is 61023)', async () => {
    const { appId } = await sim.authorize();
    const first = await getToken(tokens, appId);
    for (let i = 0; i < 3; i++) {
      const current = await getToken(tokens, appId);
      const r = await forceRefresh(tokens, {
        app_id: appId,
        stale_token: '',
        reason: `rotate ${i}`,
      });
      expect(r.token?.access_token).not.toBe(current.access_token);
    }
    const last = await getToken(tokens, appId);
    expect(last.access_token).not.toBe(first.access_token);
    expect((await h.control.check(last.access_token)).valid).toBe(true);
    expect((await sim.counters()).errors['61023'] ?? 0).toBe(0);
  });

  it("an authorizer's mini program logs in: Code2Session goes through the platform (no AppSecret) and the session works", async () => {
    const { appId } = await sim.authorize();
    const issue = () =>
      h.control.request<{ code: string; openid: string }>('POST', `/__sim/apps/${appId}/codes`, {});
    const device = await issue();
    const s = await login.code2Session({ app_id: appId, js_code: device.code });
    expect(s.openid).toBe(device.openid);
    expect(s.session_key).toBe(''); // stays inside, as for any app
    // WeChat saw one exchange for the authorizer, made with the platform's component token.
    const exchanges = (await h.control.calls(appId)).filter((c) => c.endpoint === 'jscode2session');
    expect(exchanges.map((c) => c.errcode)).toEqual([0]);
    // The session is the authorizer's: CheckSession signs with its session_key and calls WeChat
    // with the authorizer's access_token.
    expect(await login.checkSession({ session_handle: s.session_handle })).toEqual({ valid: true });
    // The customer withdraws the authorization at WeChat before its event arrives: WeChat's
    // 61003 is a precondition, not retried, and no session is made.
    const late = await issue();
    await sim.unauthorize(appId);
    const err = (await login
      .code2Session({ app_id: appId, js_code: late.code })
      .catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(err.metadata.get('wechat-errcode')).toEqual(['61003']);
    const after = (await h.control.calls(appId)).filter((c) => c.endpoint === 'jscode2session');
    expect(after.map((c) => c.errcode)).toEqual([0, 61003]);
    await sim.push('unauthorized', appId);
  });

  it("the gateway's /sns/jscode2session logs an authorizer's user in the same way (WeChat's reply shape)", async () => {
    const { appId } = await sim.authorize();
    try {
      const device = await h.control.request<{ code: string; openid: string }>(
        'POST',
        `/__sim/apps/${appId}/codes`,
        {},
      );
      const q = new URLSearchParams({
        appid: appId,
        secret: 'a caller key (auth is off here)',
        js_code: device.code,
        grant_type: 'authorization_code',
      });
      const res = await fetch(`${gateway}/sns/jscode2session?${q.toString()}`);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body['openid']).toBe(device.openid);
      expect(body).not.toHaveProperty('session_key'); // stays inside
      expect(body).not.toHaveProperty('errcode');
      const exchanges = (await h.control.calls(appId)).filter(
        (c) => c.endpoint === 'jscode2session',
      );
      expect(exchanges.map((c) => c.errcode)).toEqual([0]);
    } finally {
      // Leaves the platform's authorizers as the later tests count them.
      await sim.unauthorize(appId);
      await sim.push('unauthorized', appId);
    }
  });

  it('CreatePreAuthCode and ListAuthorizers (paged, no tokens in it)', async () => {
    const pre = await createPreAuthCode(components, ID);
    expect(pre.pre_auth_code).not.toBe('');
    const seen: string[] = [];
    let pageToken = '';
    do {
      const page = await listAuthorizers(components, ID, { pageSize: 1, pageToken });
      expect(page.authorizers.length).toBeLessThanOrEqual(1);
      seen.push(...page.authorizers.map((a) => a.authorizer_app_id));
      pageToken = page.next_page_token;
    } while (pageToken);
    expect(seen).toEqual([...seen].sort());
    expect(seen.length).toBe(2);
    const err = await listAuthorizers(components, ID, { pageSize: 1001 }).catch(
      (e: grpc.ServiceError) => e,
    );
    expect(err).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect(String((err as grpc.ServiceError).details)).toContain('page_size');
    const bad = await listAuthorizers(components, ID, { pageToken: 'not!a!token' }).catch(code);
    expect(bad).toBe(grpc.status.INVALID_ARGUMENT);
    const none = await listAuthorizers(components, 'wxnosuchcomponent').catch(code);
    expect(none).toBe(grpc.status.NOT_FOUND);
  });

  it('an unauthorization removes the authorizer: GetToken NOT_FOUND, its token no longer opens the pass-through', async () => {
    const { appId } = await sim.authorize();
    const t = await getToken(tokens, appId);
    await sim.unauthorize(appId);
    expect(await sim.push('unauthorized', appId)).toMatchObject({ status: 200, body: 'success' });
    expect(await getToken(tokens, appId).catch(code)).toBe(grpc.status.NOT_FOUND);
    const res = await fetch(`${gateway}/cgi-bin/getcallbackip?access_token=${t.access_token}`);
    const body = (await res.json()) as { errcode?: number };
    expect(body.errcode).not.toBe(0);
    expect(body.errcode).toBeDefined();
  });

  it('/metrics: the component token state, the newest verify ticket and the authorizers, per platform; promtool-clean', async () => {
    const port = /"metrics":(\d+)/.exec(logs.find((l) => l.includes('wxtoken serving')) ?? '')?.[1];
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toContain(`wxtoken_component_token_state{component="${ID}",state="healthy"} 1`);
    expect(text).toMatch(
      new RegExp(`wxtoken_component_verify_ticket_timestamp_seconds\\{component="${ID}"\\} \\d+`),
    );
    // Two authorized so far and still served (the unauthorization test comes later).
    expect(text).toMatch(new RegExp(`wxtoken_component_authorizers\\{component="${ID}"\\} [1-9]`));
    expect(text).toContain(`wxtoken_component_authorizers_lost{component="${ID}"} 0`);
    const probe = spawnSync('promtool', ['--version']);
    if (probe.status !== 0) throw new Error('promtool is required: apt-get install -y prometheus');
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text });
    expect(r.stdout.toString() + r.stderr.toString()).not.toMatch(/wxtoken_component/);
  });

  it('refuses forged, tampered and replayed pushes with one 400 and stores nothing', async () => {
    const url = `${gateway}/wechat/component/${ID}/events`;
    const genuine = new MessageCrypto({
      componentAppId: ID,
      messageToken: COMPONENT.messageToken,
      encodingAesKey: COMPONENT.encodingAesKey,
    });
    const forger = new MessageCrypto({
      componentAppId: ID,
      messageToken: 'not-the-token',
      encodingAesKey: COMPONENT.encodingAesKey,
    });
    const now = Math.floor(Date.now() / 1000);
    const xml = (ticket: string) =>
      `<xml><AppId><![CDATA[${ID}]]></AppId><CreateTime>${now + 1000}</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[${ticket}]]></ComponentVerifyTicket></xml>`;
    const post = (m: { msgSignature: string; timestamp: string; nonce: string; encrypt: string }) =>
      fetch(
        `${url}?timestamp=${m.timestamp}&nonce=${m.nonce}&msg_signature=${m.msgSignature}&encrypt_type=aes`,
        {
          method: 'POST',
          body: `<xml><AppId><![CDATA[${ID}]]></AppId><Encrypt><![CDATA[${m.encrypt}]]></Encrypt></xml>`,
        },
      );
    const stamp = String(now);
    const forged = forger.seal(xml('forged'), stamp, 'n1');
    const stale = genuine.seal(xml('stale'), String(now - 3600), 'n2');
    const tampered = { ...genuine.seal(xml('tampered'), stamp, 'n3') };
    // Another first character (a fixed 'A' left the payload whole when it already began with
    // 'A': one run in 64 sent the genuine bytes).
    tampered.encrypt = `${tampered.encrypt.startsWith('A') ? 'B' : 'A'}${tampered.encrypt.slice(1)}`;
    const answers = [];
    for (const m of [forged, stale, tampered]) {
      const res = await post(m);
      answers.push([res.status, await res.text()]);
    }
    expect(answers).toEqual([
      [400, 'invalid request'],
      [400, 'invalid request'],
      [400, 'invalid request'],
    ]);
    const before = (await getComponentToken(components, ID)).access_token;
    // A genuine push, then the same bytes again: the replay is answered without acting.
    const fresh = genuine.seal(xml('fresh-but-unknown-to-wechat'), stamp, 'n4');
    expect((await post(fresh)).status).toBe(200);
    expect((await post(fresh)).status).toBe(200);
    expect(logs.some((l) => l.includes('"event":"replayed"'))).toBe(true);
    // Nothing forged reached the component token (it is still the one WeChat issued).
    expect((await getComponentToken(components, ID)).access_token).toBe(before);
    expect(logs.some((l) => l.includes('forged'))).toBe(false);
    const huge = await fetch(url, { method: 'POST', body: 'x'.repeat(200_000) });
    expect(huge.status).toBe(413);
    const other = await fetch(`${gateway}/wechat/component/wxnotours/events`, {
      method: 'POST',
      body: '<xml></xml>',
    });
    expect(other.status).toBe(404);
  });
});
