import { describe, expect, it } from 'vitest';
import { FakeClock } from '../support/fake-clock.js';
import { SIM_FAULT_ENDPOINTS, SIM_FAULT_KINDS } from '../../src/sim/sim-schemas.js';
import { APP, useSimulator } from './sim-http.js';

const clock = new FakeClock();
const h = useSimulator({ clock });

const STABLE = '/cgi-bin/stable_token';
const stableBody = { grant_type: 'client_credential', appid: APP.appId, secret: APP.secret };

async function fetchToken(): Promise<string> {
  return (await h.get(h.tokenPath())).json()['access_token'] as string;
}

async function check(token: string): Promise<Record<string, unknown>> {
  return (await h.send('POST', '/__sim/check', { access_token: token })).json();
}

describe('control API /__sim/ (design.md "Simulator")', () => {
  it('GET /__sim/ lists every control route, and each one listed is served (the dev banner points here)', async () => {
    const index = (await h.get('/__sim/')).json<{
      routes: { method: string; path: string; what: string }[];
    }>();
    expect(index.routes.length).toBeGreaterThanOrEqual(20);
    for (const r of index.routes) {
      const path = r.path
        .replace(':appId', APP.appId)
        .replace(':openid', 'o-nobody')
        .replace(':type', 'jsapi');
      const res = await h.send(r.method, path, r.method === 'GET' ? undefined : {});
      expect(res.text, `${r.method} ${r.path}`).not.toMatch(/no such route/);
      expect(r.what).not.toBe('');
    }
  });

  it('GET /__sim/ names every fault kind and endpoint the faults route accepts, each one accepted', async () => {
    const index = (await h.get('/__sim/')).json<{
      routes: { method: string; path: string; what: string }[];
    }>();
    const faults = index.routes.find((r) => r.method === 'POST' && r.path.endsWith('/faults'));
    for (const kind of SIM_FAULT_KINDS) expect(faults?.what).toContain(kind);
    for (const endpoint of SIM_FAULT_ENDPOINTS) expect(faults?.what).toContain(endpoint);
    for (const kind of SIM_FAULT_KINDS) {
      const res = await h.send('POST', `/__sim/apps/${APP.appId}/faults`, { kind, count: 1 });
      expect(res.json(), kind).toEqual({ ok: true });
    }
    await h.send('DELETE', `/__sim/apps/${APP.appId}/faults`);
    expect(index.routes[0]).toMatchObject({ method: 'GET', path: '/__sim/' });
  });

  it('GET /__sim (no trailing slash, as a link is often typed) serves the same index (issue 17)', async () => {
    const bare = await h.get('/__sim');
    expect(bare.text).not.toMatch(/no such/);
    expect(bare.json()).toEqual((await h.get('/__sim/')).json());
  });

  it('GET health → {ok:true}', async () => {
    expect((await h.get('/__sim/health')).json()).toEqual({ ok: true });
  });

  it('POST apps creates an app and updates it keeping its tokens', async () => {
    expect((await h.send('POST', '/__sim/apps', { appId: 'wxnew', secret: 's1' })).json()).toEqual({
      ok: true,
    });
    const path = '/cgi-bin/token?grant_type=client_credential&appid=wxnew&secret=';
    const token = (await h.get(`${path}s1`)).json()['access_token'] as string;
    await h.send('POST', '/__sim/apps', { appId: 'wxnew', secret: 's2' });
    expect((await h.get(`${path}s1`)).json()['errcode']).toBe(40125);
    expect(await check(token)).toMatchObject({ valid: true, appId: 'wxnew' });
  });

  it.each([
    [
      'settings with a typo',
      '/__sim/apps',
      { appId: 'a', secret: 's', expiresIn: 5 },
      400,
      /expiresIn/,
    ],
    ['a body that is not JSON', '/__sim/apps', '{', 400, /not JSON/],
    [
      'a fault for an unknown app',
      '/__sim/apps/nope/faults',
      { kind: 'html', count: 1 },
      404,
      /nope/,
    ],
    [
      'an unknown fault kind',
      `/__sim/apps/${APP.appId}/faults`,
      { kind: 'boom', count: 1 },
      400,
      /kind/,
    ],
    ['a check without a token', '/__sim/check', {}, 400, /access_token/],
    ['an unknown route', '/__sim/nope', {}, 404, /no such route/],
  ])('refuses %s with %i and a message', async (_name, path, body, status, message) => {
    const res = await h.send('POST', path, body);
    expect(res.status).toBe(status);
    expect(res.json()).toEqual({ ok: false, error: expect.stringMatching(message) });
  });

  it('GET apps/:appId/counters counts calls, mints and errcodes per endpoint', async () => {
    const token = await fetchToken();
    await h.get(h.tokenPath({ secret: 'bad' }));
    await h.send('POST', STABLE, stableBody);
    await h.send('POST', STABLE, { ...stableBody, force_refresh: true });
    await h.get(`/cgi-bin/get_api_domain_ip?access_token=${token}`);
    expect((await h.get(`/__sim/apps/${APP.appId}/counters`)).json()).toEqual({
      tokenCalls: 2,
      tokenIssued: 1,
      stableCalls: 2,
      stableIssued: 2,
      stableForceIssued: 1,
      checkCalls: 1,
      code2sessionCalls: 0,
      code2sessionOk: 0,
      checkSessionCalls: 0,
      resetSessionKeyCalls: 0,
      ticketCalls: 0,
      callbackIpCalls: 0,
      customSendCalls: 0,
      wxaCodeCalls: 0,
      phoneNumberCalls: 0,
      phoneNumberOk: 0,
      paidUnionidCalls: 0,
      paidUnionidOk: 0,
      errors: { '40125': 1 },
      faults: {},
    });
  });

  it('GET calls filters by appId and since, and holds no secret or token', async () => {
    const token = await fetchToken();
    await clock.advance(1000);
    const since = clock.now();
    await h.send('POST', STABLE, { ...stableBody, force_refresh: true });
    await h.get(h.tokenPath({ appid: 'wxother' }));
    const mine = (await h.get(`/__sim/calls?appId=${APP.appId}&since=${since}`)).json();
    expect(mine).toEqual({
      calls: [
        {
          at: since,
          endpoint: 'stable_token',
          appId: APP.appId,
          errcode: 0,
          forceRefresh: true,
          tokenFingerprint: expect.any(String),
        },
      ],
    });
    const all = await h.get('/__sim/calls');
    expect(all.json<{ calls: unknown[] }>().calls).toHaveLength(3);
    expect(all.text).not.toContain(APP.secret);
    expect(all.text).not.toContain(token);
  });

  it('POST and DELETE apps/:appId/faults inject and clear faults', async () => {
    const faults = `/__sim/apps/${APP.appId}/faults`;
    await h.send('POST', faults, { kind: 'system_error', count: 5, endpoints: ['token'] });
    expect((await h.get(h.tokenPath())).json()['errcode']).toBe(-1);
    expect((await h.send('POST', STABLE, stableBody)).json()).toHaveProperty('access_token');
    expect((await h.send('DELETE', faults)).json()).toEqual({ ok: true });
    expect((await h.get(h.tokenPath())).json()).toHaveProperty('access_token');
  });

  it('POST apps/:appId/rotate mints as another system: the old token keeps its overlap (§1)', async () => {
    const ours = await fetchToken();
    const rotated = (await h.send('POST', `/__sim/apps/${APP.appId}/rotate`)).json();
    expect(rotated).toEqual({ access_token: expect.stringMatching(/^\d{2}_/), expires_in: 7200 });
    expect(await check(ours)).toEqual({
      valid: true,
      errcode: 0,
      appId: APP.appId,
      channel: 'classic',
    });
    await clock.advance(300_000);
    expect(await check(ours)).toMatchObject({ valid: false, errcode: 40001 });
    const counters = (await h.get(`/__sim/apps/${APP.appId}/counters`)).json();
    expect(counters).toMatchObject({ tokenCalls: 1, tokenIssued: 2 });
  });

  it('POST apps/:appId/rotate with endOverlap kills our token at once', async () => {
    const ours = await fetchToken();
    await h.send('POST', `/__sim/apps/${APP.appId}/rotate`, { endOverlap: true });
    expect(await check(ours)).toMatchObject({ valid: false, errcode: 40001 });
    const check2 = await h.get(`/cgi-bin/get_api_domain_ip?access_token=${ours}`);
    expect(check2.json()['errcode']).toBe(40001);
  });

  it('POST check gives get_api_domain_ip’s verdict without counting or logging', async () => {
    const token = await fetchToken();
    await clock.advance(7200_000);
    expect(await check(token)).toEqual({
      valid: false,
      errcode: 42001,
      appId: APP.appId,
      channel: 'classic',
    });
    expect(await check('garbage')).toEqual({ valid: false, errcode: 40001 });
    expect((await h.get(`/__sim/apps/${APP.appId}/counters`)).json()['checkCalls']).toBe(0);
    expect((await h.get('/__sim/calls')).json<{ calls: unknown[] }>().calls).toHaveLength(1);
  });

  it('POST reset forgets apps, tokens, counters and faults', async () => {
    const token = await fetchToken();
    await h.send('POST', `/__sim/apps/${APP.appId}/faults`, { kind: 'html', count: 1 });
    expect((await h.send('POST', '/__sim/reset')).json()).toEqual({ ok: true });
    expect((await h.get(`/__sim/apps/${APP.appId}/counters`)).status).toBe(404);
    expect(await check(token)).toEqual({ valid: false, errcode: 40001 });
    expect((await h.get('/__sim/calls')).json()).toEqual({ calls: [] });
    expect((await h.get(h.tokenPath())).json()['errcode']).toBe(40013);
  });
});
