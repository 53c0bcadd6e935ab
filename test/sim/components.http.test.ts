import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../support/fake-clock.js';
import {
  field,
  openEvent,
  startReceiver,
  type EventReceiver,
  type Received,
} from './component-receiver.js';
import { useSimulator } from './sim-http.js';

const clock = new FakeClock();
const h = useSimulator({ clock });

const COMPONENT = {
  componentAppId: 'wxcomponent01',
  secret: 'component-secret',
  messageToken: 'msg-token',
  encodingAesKey: randomBytes(32).toString('base64').slice(0, 43),
};

let receiver: EventReceiver;
let received: Received[];
let eventUrl: string;

beforeEach(async () => {
  receiver = await startReceiver();
  received = receiver.received;
  eventUrl = receiver.url;
  await post('/__sim/components', { ...COMPONENT, eventUrl });
});

afterEach(async () => {
  await receiver.close();
});

async function post(path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await h.send('POST', path, body ?? {});
  return res.json();
}

function open(r: Received): string {
  return openEvent(r, COMPONENT);
}

async function pushTicket(): Promise<string> {
  const answer = await post(`/__sim/components/${COMPONENT.componentAppId}/push`, {
    infoType: 'component_verify_ticket',
  });
  expect(answer).toMatchObject({ status: 200, body: 'success' });
  return answer['componentVerifyTicket'] as string;
}

async function componentToken(ticket: string): Promise<Record<string, unknown>> {
  return post('/cgi-bin/component/api_component_token', {
    component_appid: COMPONENT.componentAppId,
    component_appsecret: COMPONENT.secret,
    component_verify_ticket: ticket,
  });
}

async function liveComponentToken(): Promise<string> {
  return (await componentToken(await pushTicket()))['component_access_token'] as string;
}

function api(name: string, token: string, body: object): Promise<Record<string, unknown>> {
  return post(`/cgi-bin/component/${name}?component_access_token=${token}`, {
    component_appid: COMPONENT.componentAppId,
    ...body,
  });
}

describe('pushes', () => {
  it('seals a verify ticket the receiver can verify and decrypt on its own', async () => {
    const ticket = await pushTicket();
    expect(received).toHaveLength(1);
    const xml = open(received[0]!);
    expect(field(xml, 'AppId')).toBe(COMPONENT.componentAppId);
    expect(field(xml, 'InfoType')).toBe('component_verify_ticket');
    expect(field(xml, 'ComponentVerifyTicket')).toBe(ticket);
    expect(Number(field(xml, 'CreateTime'))).toBe(Math.floor(clock.now() / 1000));
  });

  it('pushes authorized with a code api_query_auth accepts once, and unauthorized', async () => {
    const { authorizerAppId } = await post(
      `/__sim/components/${COMPONENT.componentAppId}/authorizers`,
    );
    const pushed = await post(`/__sim/components/${COMPONENT.componentAppId}/push`, {
      infoType: 'authorized',
      authorizerAppId,
    });
    const xml = open(received[0]!);
    expect(field(xml, 'InfoType')).toBe('authorized');
    expect(field(xml, 'AuthorizerAppid')).toBe(authorizerAppId);
    expect(field(xml, 'AuthorizationCode')).toBe(pushed['authorizationCode']);
    expect(Number(field(xml, 'AuthorizationCodeExpiredTime'))).toBe(
      Math.floor(clock.now() / 1000) + 3600,
    );
    const token = await liveComponentToken();
    const auth = await api('api_query_auth', token, {
      authorization_code: field(xml, 'AuthorizationCode'),
    });
    expect(auth['authorization_info']).toMatchObject({ authorizer_appid: authorizerAppId });
    await post(`/__sim/components/${COMPONENT.componentAppId}/push`, {
      infoType: 'unauthorized',
      authorizerAppId,
    });
    expect(field(open(received[2]!), 'InfoType')).toBe('unauthorized');
  });

  it('reports status 0 when nothing answers at the eventUrl', async () => {
    await post('/__sim/components', { ...COMPONENT, eventUrl: 'http://127.0.0.1:9/events' });
    const answer = await post(`/__sim/components/${COMPONENT.componentAppId}/push`, {
      infoType: 'component_verify_ticket',
    });
    expect(answer).toMatchObject({ status: 0, body: '' });
    expect(answer['error']).toEqual(expect.any(String));
  });
});

describe('api_component_token', () => {
  it('issues with a live ticket; 61006 unknown, 61005 expired, 40125 bad secret', async () => {
    const ticket = await pushTicket();
    expect(await componentToken(ticket)).toMatchObject({ expires_in: 7200 });
    expect(await componentToken('nope')).toMatchObject({ errcode: 61006 });
    expect(
      await post('/cgi-bin/component/api_component_token', {
        component_appid: COMPONENT.componentAppId,
        component_appsecret: 'wrong',
        component_verify_ticket: ticket,
      }),
    ).toMatchObject({ errcode: 40125 });
    await clock.advance(11 * 3600 * 1000);
    const newer = await pushTicket();
    await clock.advance(3600 * 1000);
    expect(await componentToken(ticket)).toMatchObject({ errcode: 61005 });
    expect(await componentToken(newer)).toHaveProperty('component_access_token');
    const counters = (await h.get(`/__sim/components/${COMPONENT.componentAppId}/counters`)).json();
    expect(counters).toMatchObject({ componentTokenCalls: 5, componentTokenIssued: 2, pushes: 2 });
  });

  it('a replaced component token dies after the overlap: 40001', async () => {
    const first = await liveComponentToken();
    const second = await liveComponentToken();
    expect(await api('api_create_preauthcode', first, {})).toHaveProperty('pre_auth_code');
    await clock.advance(301_000);
    expect(await api('api_create_preauthcode', first, {})).toMatchObject({ errcode: 40001 });
    expect(await api('api_create_preauthcode', second, {})).toMatchObject({ expires_in: 1800 });
    expect(await api('api_create_preauthcode', 'garbage', {})).toMatchObject({ errcode: 40001 });
  });
});

describe('component token timings', () => {
  it('componentTokenExpiresInSeconds and componentTokenOverlapSeconds set the lifetime and the grace', async () => {
    await post('/__sim/components', {
      ...COMPONENT,
      eventUrl,
      componentTokenExpiresInSeconds: 10,
      componentTokenOverlapSeconds: 2,
    });
    const first = await componentToken(await pushTicket());
    expect(first).toMatchObject({ expires_in: 10 });
    const second = await liveComponentToken();
    const oldToken = first['component_access_token'] as string;
    await clock.advance(1999);
    expect(await api('api_create_preauthcode', oldToken, {})).toHaveProperty('pre_auth_code');
    await clock.advance(1);
    expect(await api('api_create_preauthcode', oldToken, {})).toMatchObject({ errcode: 40001 });
    await clock.advance(8000);
    expect(await api('api_create_preauthcode', second, {})).toMatchObject({ errcode: 42001 });
    const bad = await h.send('POST', '/__sim/components', {
      ...COMPONENT,
      componentTokenExpiresInSeconds: 0,
    });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('componentTokenExpiresInSeconds');
  });
});

describe('faults', () => {
  it('answers an injected errcode on the named endpoint, count times, before the token check', async () => {
    const token = await liveComponentToken();
    const faults = `/__sim/components/${COMPONENT.componentAppId}/faults`;
    expect(
      (
        await h.send('POST', faults, {
          errcode: -1,
          count: 2,
          endpoints: ['api_create_preauthcode'],
        })
      ).status,
    ).toBe(200);
    expect(await api('api_create_preauthcode', token, {})).toMatchObject({ errcode: -1 });
    expect(await api('api_get_authorizer_list', token, { offset: 0, count: 1 })).toMatchObject({
      total_count: 0,
    });
    expect(await api('api_create_preauthcode', token, {})).toMatchObject({ errcode: -1 });
    expect(await api('api_create_preauthcode', token, {})).toHaveProperty('pre_auth_code');
    await h.send('POST', faults, { errcode: 61005, count: 1 });
    expect(await componentToken(await pushTicket())).toMatchObject({ errcode: 61005 });
    expect((await h.send('POST', faults, { errcode: 0, count: 1 })).status).toBe(400);
    const counters = (await h.get(`/__sim/components/${COMPONENT.componentAppId}/counters`)).json();
    expect(counters).toMatchObject({ faults: 3, errors: { '-1': 2, '61005': 1 } });
  });
});

describe('authorizers', () => {
  it('single-use code; rotating refresh tokens; 61023 for an old one', async () => {
    const token = await liveComponentToken();
    const { authorizerAppId, authorizationCode } = await post(
      `/__sim/components/${COMPONENT.componentAppId}/authorizers`,
    );
    const first = await api('api_query_auth', token, { authorization_code: authorizationCode });
    const info = first['authorization_info'] as Record<string, unknown>;
    expect(info).toMatchObject({ authorizer_appid: authorizerAppId, func_info: [] });
    expect(
      await api('api_query_auth', token, { authorization_code: authorizationCode }),
    ).toMatchObject({ errcode: 61010 });
    const refresh1 = info['authorizer_refresh_token'];
    const next = await api('api_authorizer_token', token, {
      authorizer_appid: authorizerAppId,
      authorizer_refresh_token: refresh1,
    });
    expect(next['authorizer_refresh_token']).not.toBe(refresh1);
    expect(
      await api('api_authorizer_token', token, {
        authorizer_appid: authorizerAppId,
        authorizer_refresh_token: refresh1,
      }),
    ).toMatchObject({ errcode: 61023 });
    const list = await api('api_get_authorizer_list', token, { offset: 0, count: 10 });
    expect(list).toMatchObject({
      total_count: 1,
      list: [
        { authorizer_appid: authorizerAppId, refresh_token: next['authorizer_refresh_token'] },
      ],
    });
    await h.send(
      'DELETE',
      `/__sim/components/${COMPONENT.componentAppId}/authorizers/${String(authorizerAppId)}`,
    );
    expect(
      await api('api_authorizer_token', token, {
        authorizer_appid: authorizerAppId,
        authorizer_refresh_token: next['authorizer_refresh_token'],
      }),
    ).toMatchObject({ errcode: 61023 });
    const counters = (await h.get(`/__sim/components/${COMPONENT.componentAppId}/counters`)).json();
    expect(counters).toMatchObject({ authorizerTokenCalls: 3, listCalls: 1, queryAuthCalls: 2 });
  });

  it('an authorizer token works with getcallbackip and dies after the overlap once replaced', async () => {
    const token = await liveComponentToken();
    const { authorizerAppId, authorizationCode } = await post(
      `/__sim/components/${COMPONENT.componentAppId}/authorizers`,
      { overlapSeconds: 60 },
    );
    const info = (await api('api_query_auth', token, { authorization_code: authorizationCode }))[
      'authorization_info'
    ] as Record<string, string>;
    const old = info['authorizer_access_token'] ?? '';
    expect((await h.get(`/cgi-bin/getcallbackip?access_token=${old}`)).json()).toHaveProperty(
      'ip_list',
    );
    await api('api_authorizer_token', token, {
      authorizer_appid: authorizerAppId,
      authorizer_refresh_token: info['authorizer_refresh_token'],
    });
    expect((await h.get(`/cgi-bin/getcallbackip?access_token=${old}`)).json()).toHaveProperty(
      'ip_list',
    );
    await clock.advance(61_000);
    expect((await h.get(`/cgi-bin/getcallbackip?access_token=${old}`)).json()).toMatchObject({
      errcode: 40001,
    });
  });

  it('pages api_get_authorizer_list: 1,200 authorizers in 3 pages of at most 500', async () => {
    const token = await liveComponentToken();
    const created = (await post(`/__sim/components/${COMPONENT.componentAppId}/authorizers`, {
      count: 1200,
    })) as { authorizers: { authorizerAppId: string }[] };
    expect(created.authorizers).toHaveLength(1200);
    const seen: string[] = [];
    for (let offset = 0; ; offset += 500) {
      const page = await api('api_get_authorizer_list', token, { offset, count: 500 });
      expect(page['total_count']).toBe(1200);
      const list = page['list'] as { authorizer_appid: string }[];
      if (list.length === 0) break;
      seen.push(...list.map((a) => a.authorizer_appid));
    }
    expect(seen).toEqual(created.authorizers.map((a) => a.authorizerAppId));
    expect(await api('api_get_authorizer_list', token, { offset: 0, count: 501 })).toMatchObject({
      errcode: 40097,
    });
  });

  it('refuses an unknown component (404) and a bad key (400)', async () => {
    expect((await h.send('POST', '/__sim/components/nope/authorizers', {})).status).toBe(404);
    const tooMany = await h.send(
      'POST',
      `/__sim/components/${COMPONENT.componentAppId}/authorizers`,
      {
        count: 10_001,
      },
    );
    expect(tooMany.status).toBe(400);
    expect(tooMany.text).toContain('count');
    expect(
      (await h.send('POST', '/__sim/components', { ...COMPONENT, encodingAesKey: 'short' })).status,
    ).toBe(400);
  });
});
