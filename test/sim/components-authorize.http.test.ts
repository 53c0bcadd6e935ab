import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../support/fake-clock.js';
import { field, openEvent, startReceiver, type EventReceiver } from './component-receiver.js';
import { useSimulator } from './sim-http.js';

/**
 * Issue 15 item 6: the customer's side of authorization (authorize, update, unauthorize, each
 * pushing its sealed event), the component and authorizer token quotas, and light authorizers.
 */
const clock = new FakeClock();
const h = useSimulator({ clock });

const COMPONENT = {
  componentAppId: 'wxcomponentauth',
  secret: 'component-secret',
  messageToken: 'msg-token',
  encodingAesKey: randomBytes(32).toString('base64').slice(0, 43),
};
const ID = COMPONENT.componentAppId;

let receiver: EventReceiver;

beforeEach(async () => {
  receiver = await startReceiver();
  await configure();
});

afterEach(async () => {
  await receiver.close();
});

async function configure(extra: object = {}): Promise<void> {
  const res = await h.send('POST', '/__sim/components', {
    ...COMPONENT,
    eventUrl: receiver.url,
    ...extra,
  });
  expect(res.status).toBe(200);
}

async function post(path: string, body: unknown = {}): Promise<Record<string, unknown>> {
  return (await h.send('POST', path, body)).json();
}

async function componentToken(): Promise<Record<string, unknown>> {
  const pushed = await post(`/__sim/components/${ID}/push`, {
    infoType: 'component_verify_ticket',
  });
  return post('/cgi-bin/component/api_component_token', {
    component_appid: ID,
    component_appsecret: COMPONENT.secret,
    component_verify_ticket: pushed['componentVerifyTicket'],
  });
}

async function liveToken(): Promise<string> {
  return (await componentToken())['component_access_token'] as string;
}

function api(name: string, token: string, body: object): Promise<Record<string, unknown>> {
  return post(`/cgi-bin/component/${name}?component_access_token=${token}`, {
    component_appid: ID,
    ...body,
  });
}

/** The last event the receiver got, decrypted. */
function lastEvent(): string {
  const r = receiver.received.at(-1);
  if (!r) throw new Error('nothing pushed');
  return openEvent(r, COMPONENT);
}

async function listed(
  token: string,
): Promise<{ authorizer_appid: string; refresh_token: string }[]> {
  const page = await api('api_get_authorizer_list', token, { offset: 0, count: 500 });
  return page['list'] as { authorizer_appid: string; refresh_token: string }[];
}

describe('authorize', () => {
  it('creates an authorizer and pushes authorized with a code api_query_auth exchanges', async () => {
    const answer = await post(`/__sim/components/${ID}/authorize`);
    expect(answer).toMatchObject({
      created: true,
      push: { status: 200, body: 'success', ok: true, infoType: 'authorized' },
    });
    const xml = lastEvent();
    expect(field(xml, 'InfoType')).toBe('authorized');
    expect(field(xml, 'AuthorizerAppid')).toBe(answer['authorizerAppId']);
    expect(field(xml, 'AuthorizationCode')).toBe(answer['authorizationCode']);
    expect(Number(field(xml, 'AuthorizationCodeExpiredTime'))).toBe(
      Math.floor(clock.now() / 1000) + 3600,
    );
    expect(answer['authorizationCodeExpiresAt']).toBe(clock.now() + 3600_000);
    expect(field(xml, 'PreAuthCode')).toBeUndefined();
    const token = await liveToken();
    const info = (
      await api('api_query_auth', token, { authorization_code: field(xml, 'AuthorizationCode') })
    )['authorization_info'] as Record<string, unknown>;
    expect(info['authorizer_appid']).toBe(answer['authorizerAppId']);
    expect(
      (
        await h.get(
          `/cgi-bin/getcallbackip?access_token=${String(info['authorizer_access_token'])}`,
        )
      ).json(),
    ).toHaveProperty('ip_list');
    expect(await listed(token)).toEqual([
      expect.objectContaining({
        authorizer_appid: answer['authorizerAppId'],
        refresh_token: info['authorizer_refresh_token'],
      }),
    ]);
  });

  it('carries a live preAuthCode into the event; an unknown or expired one is refused and nothing changes', async () => {
    const token = await liveToken();
    const preAuthCode = (await api('api_create_preauthcode', token, {}))['pre_auth_code'];
    await post(`/__sim/components/${ID}/authorize`, { preAuthCode });
    expect(field(lastEvent(), 'PreAuthCode')).toBe(preAuthCode);
    const pushesBefore = receiver.received.length;
    const unknown = await h.send('POST', `/__sim/components/${ID}/authorize`, {
      preAuthCode: 'preauthcode@@@nope',
    });
    expect(unknown.status).toBe(400);
    expect(unknown.text).toContain('preAuthCode');
    await clock.advance(1800_000);
    const expired = await h.send('POST', `/__sim/components/${ID}/authorize`, { preAuthCode });
    expect(expired.status).toBe(400);
    expect(receiver.received).toHaveLength(pushesBefore);
    expect(await listed(await liveToken())).toHaveLength(1);
  });

  it('remembers the last 1,000 pre-auth codes per component', async () => {
    const token = await liveToken();
    const codes: string[] = [];
    for (let i = 0; i < 1001; i++) {
      const reply = h.sim.backend.components.preAuthCode(
        'POST',
        token,
        JSON.stringify({ component_appid: ID }),
      );
      codes.push((reply as { body: { pre_auth_code: string } }).body.pre_auth_code);
    }
    const oldest = await h.send('POST', `/__sim/components/${ID}/authorize`, {
      preAuthCode: codes[0],
    });
    expect(oldest.status).toBe(400);
    const second = await h.send('POST', `/__sim/components/${ID}/authorize`, {
      preAuthCode: codes[1],
    });
    expect(second.status).toBe(200);
  });

  it('authorizing again keeps the appid and refresh token and replaces the code', async () => {
    const first = await post(`/__sim/components/${ID}/authorize`);
    const token = await liveToken();
    const before = await listed(token);
    const again = await post(`/__sim/components/${ID}/authorize`, {
      authorizerAppId: first['authorizerAppId'],
    });
    expect(again).toMatchObject({ authorizerAppId: first['authorizerAppId'], created: false });
    expect(again['authorizationCode']).not.toBe(first['authorizationCode']);
    expect(await listed(token)).toEqual(before);
    expect(
      await api('api_query_auth', token, { authorization_code: first['authorizationCode'] }),
    ).toMatchObject({ errcode: 61010 });
    expect(
      await api('api_query_auth', token, { authorization_code: again['authorizationCode'] }),
    ).toHaveProperty('authorization_info');
  });

  it('an app that unauthorized can authorize again under its own appid, with a new refresh token', async () => {
    const token = await liveToken();
    const first = await post(`/__sim/components/${ID}/authorize`, {
      authorizerAppId: 'wxcustomer1',
    });
    expect(first).toMatchObject({ authorizerAppId: 'wxcustomer1', created: true });
    const [old] = await listed(token);
    await post(`/__sim/components/${ID}/unauthorize`, { authorizerAppId: 'wxcustomer1' });
    const back = await post(`/__sim/components/${ID}/authorize`, {
      authorizerAppId: 'wxcustomer1',
    });
    expect(back).toMatchObject({ created: true, push: { ok: true } });
    const [now] = await listed(token);
    expect(now?.authorizer_appid).toBe('wxcustomer1');
    expect(now?.refresh_token).not.toBe(old?.refresh_token);
  });

  it('a receiver that fails does not undo the authorization', async () => {
    receiver.answer = () => ({ status: 500, body: 'down' });
    const answer = await post(`/__sim/components/${ID}/authorize`);
    expect(answer['push']).toMatchObject({ status: 500, ok: false });
    receiver.answer = () => ({ status: 200, body: 'success' });
    expect((await listed(await liveToken())).map((a) => a.authorizer_appid)).toEqual([
      answer['authorizerAppId'],
    ]);
    const counters = (await h.get(`/__sim/components/${ID}/counters`)).json();
    expect(counters).toMatchObject({ pushFailures: 1 });
  });

  it('refuses without an eventUrl (400) and changes nothing; an unknown key is a 400 naming it', async () => {
    await h.send('POST', '/__sim/components', COMPONENT);
    const res = await h.send('POST', `/__sim/components/${ID}/authorize`, {
      authorizerAppId: 'wxnew',
    });
    expect(res.status).toBe(400);
    expect(res.text).toContain('eventUrl');
    const typo = await h.send('POST', `/__sim/components/${ID}/authorize`, {
      authorizerAppid: 'x',
    });
    expect(typo.status).toBe(400);
    expect(typo.text).toContain('authorizerAppid');
    const { authorizerAppId } = await post(`/__sim/components/${ID}/authorizers`);
    const refused = await h.send('POST', `/__sim/components/${ID}/unauthorize`, {
      authorizerAppId,
    });
    expect(refused.status).toBe(400);
    // Still there (200), and the refused authorize created nothing (404).
    const remove = (appId: unknown): Promise<number> =>
      h
        .send('DELETE', `/__sim/components/${ID}/authorizers/${String(appId)}`)
        .then((r) => r.status);
    expect(await remove(authorizerAppId)).toBe(200);
    expect(await remove('wxnew')).toBe(404);
    expect(receiver.received).toHaveLength(0);
  });
});

describe('update-authorization and unauthorize', () => {
  it('update pushes updateauthorized with a fresh code; the refresh token stays', async () => {
    const token = await liveToken();
    const { authorizerAppId } = await post(`/__sim/components/${ID}/authorize`);
    const before = await listed(token);
    const update = await post(`/__sim/components/${ID}/update-authorization`, { authorizerAppId });
    const xml = lastEvent();
    expect(field(xml, 'InfoType')).toBe('updateauthorized');
    expect(field(xml, 'AuthorizerAppid')).toBe(authorizerAppId);
    expect(field(xml, 'AuthorizationCode')).toBe(update['authorizationCode']);
    expect(update).toMatchObject({ push: { ok: true, infoType: 'updateauthorized' } });
    expect(await listed(token)).toEqual(before);
    expect(
      await api('api_query_auth', token, { authorization_code: update['authorizationCode'] }),
    ).toHaveProperty('authorization_info');
  });

  it('unauthorize kills the refresh token and code, then pushes unauthorized; an unknown authorizer is a 404', async () => {
    const token = await liveToken();
    const { authorizerAppId, authorizationCode } = await post(`/__sim/components/${ID}/authorize`);
    const [entry] = await listed(token);
    const answer = await post(`/__sim/components/${ID}/unauthorize`, { authorizerAppId });
    expect(answer).toMatchObject({ authorizerAppId, push: { ok: true, infoType: 'unauthorized' } });
    const xml = lastEvent();
    expect(field(xml, 'InfoType')).toBe('unauthorized');
    expect(field(xml, 'AuthorizerAppid')).toBe(authorizerAppId);
    expect(field(xml, 'AuthorizationCode')).toBeUndefined();
    expect(await listed(token)).toEqual([]);
    expect(
      await api('api_authorizer_token', token, {
        authorizer_appid: authorizerAppId,
        authorizer_refresh_token: entry?.refresh_token,
      }),
    ).toMatchObject({ errcode: 61023 });
    expect(
      await api('api_query_auth', token, { authorization_code: authorizationCode }),
    ).toMatchObject({ errcode: 61010 });
    for (const route of ['unauthorize', 'update-authorization']) {
      const res = await h.send('POST', `/__sim/components/${ID}/${route}`, { authorizerAppId });
      expect(res.status).toBe(404);
    }
  });
});

describe('quotas', () => {
  it('api_component_token: 45009 past componentTokenDailyQuota, until the next Beijing day', async () => {
    await configure({ componentTokenDailyQuota: 2 });
    expect(await componentToken()).toHaveProperty('component_access_token');
    expect(await componentToken()).toHaveProperty('component_access_token');
    expect(await componentToken()).toMatchObject({ errcode: 45009 });
    await nextBeijingDay();
    expect(await componentToken()).toHaveProperty('component_access_token');
    const counters = (await h.get(`/__sim/components/${ID}/counters`)).json();
    expect(counters).toMatchObject({ componentTokenIssued: 3, errors: { '45009': 1 } });
  });

  it("api_authorizer_token counts against the authorizer's own quota (authorizerTokenDailyQuota, or its dailyQuota)", async () => {
    await configure({ authorizerTokenDailyQuota: 2 });
    const token = await liveToken();
    const a = await post(`/__sim/components/${ID}/authorizers`);
    const b = await post(`/__sim/components/${ID}/authorizers`);
    const c = await post(`/__sim/components/${ID}/authorizers`, { dailyQuota: 3 });
    let refresh = (
      (await api('api_query_auth', token, { authorization_code: a['authorizationCode'] }))[
        'authorization_info'
      ] as Record<string, unknown>
    )['authorizer_refresh_token'];
    const refreshOf = async (): Promise<Record<string, unknown>> =>
      api('api_authorizer_token', token, {
        authorizer_appid: a['authorizerAppId'],
        authorizer_refresh_token: refresh,
      });
    const second = await refreshOf();
    refresh = second['authorizer_refresh_token'];
    expect(await refreshOf()).toMatchObject({ errcode: 45009 });
    // Other authorizers have quotas of their own.
    expect(
      await api('api_query_auth', token, { authorization_code: b['authorizationCode'] }),
    ).toHaveProperty('authorization_info');
    const cInfo = (
      await api('api_query_auth', token, { authorization_code: c['authorizationCode'] })
    )['authorization_info'] as Record<string, unknown>;
    let cRefresh = cInfo['authorizer_refresh_token'];
    for (const expected of ['authorizer_access_token', 'authorizer_access_token', 'errcode']) {
      const reply = await api('api_authorizer_token', token, {
        authorizer_appid: c['authorizerAppId'],
        authorizer_refresh_token: cRefresh,
      });
      expect(reply).toHaveProperty(expected);
      cRefresh = reply['authorizer_refresh_token'] ?? cRefresh;
    }
    // Used as a full app, the authorizer keeps its count and quota; the refresh token survived the 45009.
    const counters = (await h.get(`/__sim/apps/${String(a['authorizerAppId'])}/counters`)).json();
    expect(counters).toMatchObject({ tokenIssued: 2 });
    expect(await refreshOf()).toMatchObject({ errcode: 45009 });
    await nextBeijingDay();
    const nextDay = await api('api_authorizer_token', await liveToken(), {
      authorizer_appid: a['authorizerAppId'],
      authorizer_refresh_token: refresh,
    });
    expect(nextDay).toHaveProperty('authorizer_access_token');
  });
});

describe('light authorizers', () => {
  it('keep their tokens, overlap and settings when first used as a full app', async () => {
    const token = await liveToken();
    const { authorizerAppId, authorizationCode } = await post(
      `/__sim/components/${ID}/authorizers`,
      {
        overlapSeconds: 60,
      },
    );
    const info = (await api('api_query_auth', token, { authorization_code: authorizationCode }))[
      'authorization_info'
    ] as Record<string, string>;
    const first = info['authorizer_access_token'] ?? '';
    const second = (
      await api('api_authorizer_token', token, {
        authorizer_appid: authorizerAppId,
        authorizer_refresh_token: info['authorizer_refresh_token'],
      })
    )['authorizer_access_token'] as string;
    // Still light: /__sim/check reads the light token state.
    expect((await post('/__sim/check', { access_token: first })).valid).toBe(true);
    // Full from here on (a control route on the app), with both tokens alive.
    expect((await h.get(`/__sim/apps/${String(authorizerAppId)}/counters`)).json()).toMatchObject({
      tokenIssued: 2,
    });
    for (const t of [first, second]) {
      expect((await post('/__sim/check', { access_token: t })).valid).toBe(true);
    }
    await clock.advance(61_000);
    expect(await post('/__sim/check', { access_token: first })).toMatchObject({
      valid: false,
      errcode: 40001,
    });
    expect((await h.get(`/cgi-bin/getcallbackip?access_token=${second}`)).json()).toHaveProperty(
      'ip_list',
    );
  });

  it('an existing app of the simulator can authorize, keeping its own settings', async () => {
    await post('/__sim/apps', { appId: 'wxexisting', secret: 's', expiresInSeconds: 60 });
    const token = await liveToken();
    const answer = await post(`/__sim/components/${ID}/authorize`, {
      authorizerAppId: 'wxexisting',
    });
    const info = (
      await api('api_query_auth', token, {
        authorization_code: answer['authorizationCode'],
      })
    )['authorization_info'] as Record<string, unknown>;
    expect(info).toMatchObject({ authorizer_appid: 'wxexisting', expires_in: 60 });
  });
});

/** Moves the clock to just past the next 00:00 Beijing time (UTC+8), when daily quotas reset. */
async function nextBeijingDay(): Promise<void> {
  const day = 86_400_000;
  const sinceMidnight = (clock.now() + 8 * 3600_000) % day;
  await clock.advance(day - sinceMidnight + 1000);
}

describe('GET /sns/component/jscode2session (a platform logs its mini programs in)', () => {
  async function exchange(query: Record<string, string>): Promise<Record<string, unknown>> {
    const q = new URLSearchParams({ grant_type: 'authorization_code', ...query });
    return (await h.send('GET', `/sns/component/jscode2session?${q.toString()}`)).json();
  }
  const codeFor = async (appId: string) =>
    (await post(`/__sim/apps/${appId}/codes`)) as { code: string; openid: string };

  it("exchanges an authorizer's wx.login code with the live component token: openid and a session_key", async () => {
    const token = await liveToken();
    const { authorizerAppId } = (await post(`/__sim/components/${ID}/authorizers`)) as {
      authorizerAppId: string;
    };
    const device = await codeFor(authorizerAppId);
    const answer = await exchange({
      appid: authorizerAppId,
      js_code: device.code,
      component_appid: ID,
      component_access_token: token,
    });
    expect(answer['openid']).toBe(device.openid);
    expect(typeof answer['session_key']).toBe('string');
    // Single use, as at /sns/jscode2session.
    const again = await exchange({
      appid: authorizerAppId,
      js_code: device.code,
      component_appid: ID,
      component_access_token: token,
    });
    expect(again['errcode']).toBe(40163);
  });

  it('refuses, in this order: 41002, 40002, 41001, 40001, 40013, 61003, then the code (40029)', async () => {
    const token = await liveToken();
    const { authorizerAppId: appid } = (await post(`/__sim/components/${ID}/authorizers`)) as {
      authorizerAppId: string;
    };
    const { code } = await codeFor(appid);
    const base = { appid, js_code: code, component_appid: ID, component_access_token: token };
    const errcodes = [
      await exchange({ ...base, appid: '' }),
      await exchange({ ...base, grant_type: 'client_credential' }),
      await exchange({ ...base, component_access_token: '' }),
      await exchange({ ...base, component_access_token: 'not-a-token' }),
      await exchange({ ...base, component_appid: 'wxanotherplatform' }),
      await exchange({ ...base, appid: 'wxnotauthorizer01' }),
      await exchange({ ...base, js_code: 'not-a-code' }),
    ].map((a) => a['errcode']);
    expect(errcodes).toEqual([41002, 40002, 41001, 40001, 40013, 61003, 40029]);
    // None of them used the code up.
    expect((await exchange(base))['openid']).toBeDefined();
  });

  it('answers 61003 once the mini program unauthorized the platform', async () => {
    const token = await liveToken();
    const { authorizerAppId: appid } = (await post(`/__sim/components/${ID}/authorizers`)) as {
      authorizerAppId: string;
    };
    const { code } = await codeFor(appid);
    await h.send('DELETE', `/__sim/components/${ID}/authorizers/${appid}`);
    const answer = await exchange({
      appid,
      js_code: code,
      component_appid: ID,
      component_access_token: token,
    });
    expect(answer['errcode']).toBe(61003);
  });
});
