import { beforeEach, describe, expect, it } from 'vitest';
import { SimBackend, type SimReply } from '../../src/sim/sim-backend.js';
import { SimUnknownAppError } from '../../src/sim/sim-errors.js';
import type { TokenRequest } from '../../src/sim/token-request.js';
import { FakeClock } from '../support/fake-clock.js';

const S = 1000;
const IP = '127.0.0.1';
const GOOD: TokenRequest = { grant_type: 'client_credential', appid: 'wxapp', secret: 'sec' };

let clock: FakeClock;
let backend: SimBackend;

beforeEach(() => {
  clock = new FakeClock();
  backend = new SimBackend(clock);
  backend.configureApp({ appId: 'wxapp', secret: 'sec' });
});

function body(reply: SimReply): Record<string, unknown> {
  if (reply.kind !== 'json') {
    throw new Error(`expected JSON, got ${reply.kind === 'fault' ? reply.fault : reply.kind}`);
  }
  return reply.body as Record<string, unknown>;
}

function errcode(reply: SimReply): number {
  return (body(reply)['errcode'] as number | undefined) ?? 0;
}

function tokenOf(reply: SimReply): string {
  const token = body(reply)['access_token'];
  if (typeof token !== 'string') throw new Error(`no token in ${JSON.stringify(body(reply))}`);
  return token;
}

function stable(fields: object, ip = IP): SimReply {
  return backend.stableToken('POST', JSON.stringify(fields), ip);
}

describe('errcode precedence on /cgi-bin/token (wechat-api.md §1, §9)', () => {
  it.each<[string, TokenRequest, string, number]>([
    ['nothing at all → 41002', {}, IP, 41002],
    ['no appid, even with a bad grant_type → 41002', { grant_type: 'x', secret: 'sec' }, IP, 41002],
    ['no secret → 41004', { appid: 'wxapp', grant_type: 'client_credential' }, IP, 41004],
    ['no grant_type → 40002', { appid: 'wxapp', secret: 'sec' }, IP, 40002],
    [
      'a wrong grant_type before an unknown appid → 40002',
      { ...GOOD, appid: 'nope', grant_type: 'x' },
      IP,
      40002,
    ],
    ['an unknown appid → 40013', { ...GOOD, appid: 'nope' }, IP, 40013],
    [
      'a wrong secret, even from a refused IP → 40125',
      { ...GOOD, secret: 'bad' },
      '10.9.9.9',
      40125,
    ],
    ['a refused IP → 40164', GOOD, '10.9.9.9', 40164],
    ['all good → a token', GOOD, '10.0.0.1', 0],
  ])('%s', (_name, request, ip, want) => {
    backend.configureApp({ appId: 'wxapp', secret: 'sec', ipWhitelist: ['10.0.0.1'] });
    expect(errcode(backend.token(request, ip))).toBe(want);
  });

  it('checks the daily quota last: a wrong secret on a spent quota is still 40125', () => {
    backend.configureApp({ appId: 'wxapp', secret: 'sec', dailyQuota: 0 });
    expect(errcode(backend.token({ ...GOOD, secret: 'bad' }, IP))).toBe(40125);
    expect(errcode(backend.token(GOOD, IP))).toBe(45009);
  });

  it('answers with WeChat’s errmsg and a rid suffix, and a success without errcode (§0)', () => {
    expect(body(backend.token({ ...GOOD, secret: 'bad' }, IP))['errmsg']).toMatch(
      /^invalid appsecret rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/,
    );
    expect(Object.keys(body(backend.token(GOOD, IP))).sort()).toEqual([
      'access_token',
      'expires_in',
    ]);
  });
});

describe('errcode precedence on /cgi-bin/stable_token (wechat-api.md §2)', () => {
  it.each<[string, string, string, number]>([
    ['GET → 43002', 'GET', '', 43002],
    ['a body that is not JSON → 47001', 'POST', 'appid=wxapp', 47001],
    ['a JSON array → 47001', 'POST', '[]', 47001],
    [
      'force_refresh as a string → 47001',
      'POST',
      JSON.stringify({ ...GOOD, force_refresh: 'true' }),
      47001,
    ],
    ['no appid → 41002', 'POST', JSON.stringify({ secret: 'sec' }), 41002],
    ['no secret → 41004', 'POST', JSON.stringify({ appid: 'wxapp' }), 41004],
    ['a wrong grant_type → 40002', 'POST', JSON.stringify({ ...GOOD, grant_type: 'x' }), 40002],
    ['an unknown appid → 40013', 'POST', JSON.stringify({ ...GOOD, appid: 'nope' }), 40013],
    ['a wrong secret → 40125', 'POST', JSON.stringify({ ...GOOD, secret: 'bad' }), 40125],
    ['all good → a token', 'POST', JSON.stringify(GOOD), 0],
  ])('%s', (_name, method, raw, want) => {
    expect(errcode(backend.stableToken(method, raw, IP))).toBe(want);
  });
});

describe('get_api_domain_ip and check (wechat-api.md §3, §10)', () => {
  it('lists the API IPs for a valid token, without an errcode', () => {
    const token = tokenOf(backend.token(GOOD, IP));
    expect(body(backend.apiDomainIp(token))).toEqual({
      ip_list: ['101.89.47.18', '101.91.34.103'],
    });
  });

  it.each([
    ['no token → 41001', () => undefined, 41001],
    ['a token never issued → 40001', () => 'garbage', 40001],
    [
      'a classic token superseded beyond its overlap → 40001',
      async () => {
        const old = tokenOf(backend.token(GOOD, IP));
        backend.token(GOOD, IP);
        await clock.advance(300 * S);
        return old;
      },
      40001,
    ],
    [
      'a token past its natural expiry that was never superseded → 42001',
      async () => {
        const token = tokenOf(backend.token(GOOD, IP));
        await clock.advance(7200 * S);
        return token;
      },
      42001,
    ],
    [
      'a stable token superseded by a force refresh, inside the overlap → valid',
      () => {
        const old = tokenOf(stable(GOOD));
        stable({ ...GOOD, force_refresh: true });
        return old;
      },
      0,
    ],
  ])('%s', async (_name, arrange, want) => {
    const token = await arrange();
    expect(errcode(backend.apiDomainIp(token))).toBe(want);
    if (token !== undefined) expect(backend.check(token).errcode).toBe(want);
  });

  it('check names the owner and channel, counting nothing', () => {
    const classic = tokenOf(backend.token(GOOD, IP));
    const stableToken = tokenOf(stable(GOOD));
    const before = backend.calls().length;
    expect(backend.check(classic)).toEqual({
      valid: true,
      errcode: 0,
      appId: 'wxapp',
      channel: 'classic',
    });
    expect(backend.check(stableToken)).toMatchObject({ valid: true, channel: 'stable' });
    expect(backend.check('garbage')).toEqual({ valid: false, errcode: 40001 });
    expect(backend.calls()).toHaveLength(before);
    expect(backend.counters('wxapp').checkCalls).toBe(0);
  });
});

describe('faults (design.md "Simulator")', () => {
  it.each([
    ['system_error', -1],
    ['minute_quota', 45011],
    ['daily_quota', 45009],
  ] as const)('%s answers errcode %i to the next `count` calls, then stops', (kind, want) => {
    backend.injectFault('wxapp', { kind, count: 2 });
    expect(errcode(backend.token(GOOD, IP))).toBe(want);
    expect(errcode(stable(GOOD))).toBe(want);
    expect(errcode(backend.token(GOOD, IP))).toBe(0);
    expect(backend.counters('wxapp')).toMatchObject({
      tokenCalls: 2,
      tokenIssued: 1,
      errors: { [want]: 2 },
      faults: { [kind]: 2 },
    });
  });

  it.each(['html', 'http_502', 'timeout', 'malformed'] as const)(
    '%s is handed to the HTTP layer and logged as -1',
    (kind) => {
      backend.injectFault('wxapp', { kind, count: 1 });
      expect(backend.token(GOOD, IP)).toEqual({
        kind: 'fault',
        fault: kind,
        endpoint: 'token',
        delayMs: 0,
      });
      expect(backend.calls().at(-1)).toMatchObject({ errcode: -1, fault: kind });
    },
  );

  it('hits only the endpoints it names; get_api_domain_ip only when named', () => {
    const token = tokenOf(backend.token(GOOD, IP));
    backend.injectFault('wxapp', { kind: 'system_error', count: 1 });
    expect(errcode(backend.apiDomainIp(token))).toBe(0);
    backend.clearFaults('wxapp');
    backend.injectFault('wxapp', {
      kind: 'system_error',
      count: 1,
      endpoints: ['get_api_domain_ip'],
    });
    expect(errcode(backend.token(GOOD, IP))).toBe(0);
    expect(errcode(backend.apiDomainIp(tokenOf(backend.token(GOOD, IP))))).toBe(-1);
  });

  it('needs a known app, and comes after the 40013 check', () => {
    expect(() => backend.injectFault('nope', { kind: 'html', count: 1 })).toThrow(
      SimUnknownAppError,
    );
    backend.injectFault('wxapp', { kind: 'html', count: 1 });
    expect(errcode(backend.token({ ...GOOD, appid: 'nope' }, IP))).toBe(40013);
  });

  it('carries the app’s latency on every reply', () => {
    backend.configureApp({ appId: 'wxapp', secret: 'sec', latencyMs: 250 });
    expect(backend.token(GOOD, IP).delayMs).toBe(250);
  });
});

describe('control operations', () => {
  it('rotate mints a classic token as another system would: issued, not a call of ours', () => {
    const ours = tokenOf(backend.token(GOOD, IP));
    const outcome = backend.rotate('wxapp');
    expect(outcome.ok).toBe(true);
    expect(backend.check(ours).valid).toBe(true);
    expect(backend.counters('wxapp')).toMatchObject({ tokenCalls: 1, tokenIssued: 2 });
    expect(backend.calls()).toHaveLength(1);
  });

  it('rotate with endOverlap kills the previous token at once', () => {
    const ours = tokenOf(backend.token(GOOD, IP));
    backend.rotate('wxapp', true);
    expect(backend.check(ours)).toMatchObject({ valid: false, errcode: 40001, appId: 'wxapp' });
  });

  it('rotate uses the daily quota like any fetch (§1)', () => {
    backend.configureApp({ appId: 'wxapp', secret: 'sec', dailyQuota: 1 });
    backend.rotate('wxapp');
    expect(errcode(backend.token(GOOD, IP))).toBe(45009);
    expect(backend.rotate('wxapp')).toMatchObject({ ok: false, errcode: 45009 });
  });

  it('logs calls with the time, endpoint, app, errcode and force flag, never a secret or token', async () => {
    const token = tokenOf(backend.token(GOOD, IP));
    await clock.advance(5 * S);
    const since = clock.now();
    stable({ ...GOOD, force_refresh: true });
    backend.token({ ...GOOD, secret: 'bad' }, IP);
    const calls = backend.calls({ appId: 'wxapp', since });
    expect(calls).toEqual([
      {
        at: since,
        endpoint: 'stable_token',
        appId: 'wxapp',
        errcode: 0,
        forceRefresh: true,
        tokenFingerprint: expect.stringMatching(/^[0-9a-f]{8}$/),
      },
      { at: since, endpoint: 'token', appId: 'wxapp', errcode: 40125 },
    ]);
    const log = JSON.stringify(backend.calls());
    expect(log).not.toContain(token);
    expect(log).not.toContain('"sec"');
  });

  it('reset forgets apps, tokens, faults and the call log', () => {
    const token = tokenOf(backend.token(GOOD, IP));
    backend.reset();
    expect(backend.check(token)).toEqual({ valid: false, errcode: 40001 });
    expect(backend.calls()).toEqual([]);
    expect(() => backend.counters('wxapp')).toThrow(SimUnknownAppError);
    expect(errcode(backend.token(GOOD, IP))).toBe(40013);
  });
});
