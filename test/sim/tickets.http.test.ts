import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SimTicketCounters } from '../../src/sim/wechat-simulator.js';
import { MAX_TICKETS_PER_TYPE } from '../../src/sim/ticket-shelf.js';
import { FakeClock } from '../support/fake-clock.js';
import { until } from '../support/until.js';
import { APP, useSimulator } from './sim-http.js';

const clock = new FakeClock();
const h = useSimulator({ clock });
const APPS = `/__sim/apps/${APP.appId}`;

async function token(): Promise<string> {
  return (await h.get(h.tokenPath())).json()['access_token'] as string;
}

function getticket(accessToken: string, type = 'jsapi'): string {
  return `/cgi-bin/ticket/getticket?${new URLSearchParams({ access_token: accessToken, type })}`;
}

async function counters(type = 'jsapi'): Promise<SimTicketCounters> {
  return (await h.get(`${APPS}/tickets/${type}/counters`)).json<SimTicketCounters>();
}

async function check(ticket: string, type = 'jsapi'): Promise<Record<string, unknown>> {
  return (await h.send('POST', `${APPS}/tickets/${type}/check`, { ticket })).json();
}

describe('GET /cgi-bin/ticket/getticket (wechat-api.md §11)', () => {
  it('answers errcode 0 with a new ticket on every call, of WeChat’s shape', async () => {
    const t = await token();
    const first = (await h.get(getticket(t))).json();
    expect(first).toEqual({
      errcode: 0,
      errmsg: 'ok',
      ticket: expect.stringMatching(/^[A-Za-z0-9_-]{86}$/),
      expires_in: 7200,
    });
    const second = (await h.get(getticket(t))).json();
    expect(second['ticket']).not.toBe(first['ticket']);
    const card = (await h.get(getticket(t, 'wx_card'))).json();
    expect(card['errcode']).toBe(0);
  });

  it('keeps the previous ticket usable until its own expiry and reports which is newest', async () => {
    h.sim.configureApp({ ...APP, ticketLifetimeSeconds: 2.5 });
    const t = await token();
    const old = (await h.get(getticket(t))).json()['ticket'] as string;
    expect(await check(old)).toEqual({ alive: true, newest: true, expiresAt: clock.now() + 2500 });
    await clock.advance(1000);
    const fresh = (await h.get(getticket(t))).json();
    expect(fresh['expires_in']).toBe(2.5);
    expect(await check(old)).toMatchObject({ alive: true, newest: false });
    expect(await check(fresh['ticket'] as string)).toMatchObject({ alive: true, newest: true });
    await clock.advance(1500);
    expect(await check(old)).toMatchObject({ alive: false, newest: false });
    expect(await check(fresh['ticket'] as string)).toMatchObject({ alive: true, newest: true });
    // Tickets are per type: a jsapi ticket is unknown as a wx_card one.
    expect(await check(fresh['ticket'] as string, 'wx_card')).toEqual({
      alive: false,
      newest: false,
    });
    expect(await check('never-issued')).toEqual({ alive: false, newest: false });
  });

  it('serves the newest ticket, which signs a JS-SDK wx.config as §11 says', async () => {
    const t = await token();
    expect((await h.get(`${APPS}/tickets/jsapi/newest`)).status).toBe(404);
    await h.get(getticket(t));
    const issuedAt = clock.now();
    const latest = (await h.get(getticket(t))).json()['ticket'] as string;
    const newest = (await h.get(`${APPS}/tickets/jsapi/newest`)).json();
    expect(newest).toEqual({
      ticket: latest,
      issuedAt,
      expiresAt: issuedAt + 7_200_000,
      alive: true,
    });
    const signed = `jsapi_ticket=${newest['ticket'] as string}&noncestr=n&timestamp=1&url=http://a`;
    expect(createHash('sha1').update(signed).digest('hex')).toMatch(/^[0-9a-f]{40}$/);
  });

  it.each([
    ['a superseded token', 40001],
    ['an expired token', 42001],
    ['an unknown token', 40001],
  ] as const)('refuses %s with %i, counted as a dead-token rejection', async (name, errcode) => {
    const t = await token();
    let dead = t;
    if (name === 'a superseded token') {
      await h.send('POST', `${APPS}/rotate`, { endOverlap: true });
    } else if (name === 'an expired token') {
      await clock.advance(7_200_000);
    } else {
      dead = 'garbage';
    }
    const res = await h.get(getticket(dead));
    expect(res.json()).toEqual({ errcode, errmsg: expect.any(String) });
    const expected = name === 'an unknown token' ? 0 : 1;
    expect(await counters()).toMatchObject({ calls: expected, rejectedDeadToken: expected });
  });

  it('answers 41001 without a token and 40097 invalid args for an unknown type', async () => {
    expect((await h.get('/cgi-bin/ticket/getticket?type=jsapi')).json()['errcode']).toBe(41001);
    const t = await token();
    const res = (await h.get(getticket(t, 'card'))).json();
    expect(res).toEqual({ errcode: 40097, errmsg: expect.stringMatching(/^invalid args rid: /) });
    expect((await h.get(`/cgi-bin/ticket/getticket?access_token=${t}`)).json()['errcode']).toBe(
      40097,
    );
    // The call without a token names no app; the two with one count against it.
    const app = (await h.get(`${APPS}/counters`)).json();
    expect(app).toMatchObject({ ticketCalls: 2, errors: { '40097': 2 } });
    // An unknown type is no type: its calls are in neither type's counters.
    expect(await counters()).toMatchObject({ calls: 0 });
    expect(await counters('wx_card')).toMatchObject({ calls: 0 });
  });

  it('logs the type and a token fingerprint, never the ticket or the token', async () => {
    const t = await token();
    const ticket = (await h.get(getticket(t, 'wx_card'))).json()['ticket'] as string;
    const log = await h.get(`/__sim/calls?appId=${APP.appId}`);
    expect(log.json<{ calls: unknown[] }>().calls.at(-1)).toEqual({
      at: clock.now(),
      endpoint: 'getticket',
      appId: APP.appId,
      errcode: 0,
      ticketType: 'wx_card',
      tokenFingerprint: expect.any(String),
    });
    expect(log.text).not.toContain(ticket);
    expect(log.text).not.toContain(t);
  });
});

describe('getticket faults (design.md "Simulator")', () => {
  it.each([
    ['system_error', -1],
    ['daily_quota', 45009],
    ['minute_quota', 45011],
  ] as const)('%s scoped to getticket answers %i there and nowhere else', async (kind, errcode) => {
    const t = await token();
    await h.send('POST', `${APPS}/faults`, { kind, count: 1, endpoints: ['getticket'] });
    expect((await h.get(`/cgi-bin/get_api_domain_ip?access_token=${t}`)).json()).toHaveProperty(
      'ip_list',
    );
    expect((await h.get(h.tokenPath())).json()).toHaveProperty('access_token');
    expect((await h.get(getticket(t))).json()['errcode']).toBe(errcode);
    expect((await h.get(getticket(t))).json()['errcode']).toBe(0);
    // A fault is not a dead token.
    expect(await counters()).toMatchObject({ calls: 2, accepted: 1, rejectedDeadToken: 0 });
  });

  it('malformed, long_token and html imitate a broken ticket reply', async () => {
    const t = await token();
    const faults = `${APPS}/faults`;
    await h.send('POST', faults, { kind: 'malformed', count: 1, endpoints: ['getticket'] });
    const cut = await h.get(getticket(t));
    expect(cut.text).toMatch(/^\{"errcode":0,"errmsg":"ok","ticket":"[^"]+$/);
    expect(() => cut.json()).toThrow();
    await h.send('POST', faults, { kind: 'long_token', count: 1, endpoints: ['getticket'] });
    const long = (await h.get(getticket(t))).json();
    expect(long).toMatchObject({ errcode: 0, expires_in: 7200 });
    expect(long['ticket']).toHaveLength(4096);
    await h.send('POST', faults, { kind: 'html', count: 1, endpoints: ['getticket'] });
    expect((await h.get(getticket(t))).contentType).toMatch(/^text\/html/);
  });
});

describe('getticket counters: calls in flight (design.md "Simulator")', () => {
  /** Starts a getticket that the app's latency holds until the clock moves. */
  function start(t: string, type = 'jsapi', signal?: AbortSignal): Promise<unknown> {
    return fetch(h.url + getticket(t, type), signal ? { signal } : {}).then((r) => r.json());
  }

  async function inFlight(n: number, type = 'jsapi'): Promise<void> {
    await until(`${n} ${type} getticket calls in flight`, async () => {
      return (await counters(type)).inFlight === n;
    });
  }

  it('counts the most calls of one app and type in flight at once; a reset zeroes them', async () => {
    const t = await token();
    h.sim.configureApp({ ...APP, latencyMs: 50 });
    const three = [start(t), start(t), start(t), start(t, 'wx_card')];
    await inFlight(3);
    await clock.advance(50);
    await Promise.all(three);
    expect(await counters()).toEqual({
      calls: 3,
      accepted: 3,
      rejectedDeadToken: 0,
      inFlight: 0,
      maxInFlight: 3,
    });
    expect(await counters('wx_card')).toMatchObject({ calls: 1, maxInFlight: 1 });

    expect((await h.send('DELETE', `${APPS}/tickets/jsapi/counters`)).json()).toEqual({ ok: true });
    expect(await counters()).toEqual({
      calls: 0,
      accepted: 0,
      rejectedDeadToken: 0,
      inFlight: 0,
      maxInFlight: 0,
    });
    for (let i = 0; i < 2; i++) {
      const one = start(t);
      await inFlight(1);
      await clock.advance(50);
      await one;
    }
    expect(await counters()).toMatchObject({ calls: 2, accepted: 2, maxInFlight: 1 });
  });

  it('a call whose client goes away is no longer in flight', async () => {
    const t = await token();
    h.sim.configureApp({ ...APP, latencyMs: 1000 });
    const gone = new AbortController();
    const call = start(t, 'jsapi', gone.signal).catch(() => 'aborted');
    await inFlight(1);
    gone.abort();
    expect(await call).toBe('aborted');
    await inFlight(0);
    expect(await counters()).toMatchObject({ calls: 1, maxInFlight: 1 });
  });

  it('refuses an unknown type or app in the control routes', async () => {
    const bad = await h.get(`${APPS}/tickets/card/counters`);
    expect(bad.status).toBe(400);
    expect(bad.json()).toEqual({ ok: false, error: expect.stringMatching(/card/) });
    expect((await h.get('/__sim/apps/nope/tickets/jsapi/counters')).status).toBe(404);
    const noTicket = await h.send('POST', `${APPS}/tickets/jsapi/check`, {});
    expect(noTicket.status).toBe(400);
  });

  it(`remembers at most ${MAX_TICKETS_PER_TYPE} tickets per app and type`, async () => {
    const t = await token();
    const first = (await h.get(getticket(t))).json()['ticket'] as string;
    expect(await check(first)).toMatchObject({ alive: true });
    for (let i = 0; i < MAX_TICKETS_PER_TYPE; i++) await h.get(getticket(t));
    // Still within its lifetime, but forgotten: the shelf stays bounded under load.
    expect(await check(first)).toEqual({ alive: false, newest: false });
  });
});
