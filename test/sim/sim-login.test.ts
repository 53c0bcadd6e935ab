import { describe, expect, it } from 'vitest';
import type { LoginRequest } from '../../src/sim/login-request.js';
import { sessionSignature } from '../../src/sim/session-signature.js';
import { EXCHANGE, MINI, body, errcode, session, useLoginBackend } from './login-backend.js';

const S = 1000;
const t = useLoginBackend();

describe('jscode2session errcode precedence (wechat-api.md §4)', () => {
  it.each<[string, LoginRequest, number]>([
    ['nothing at all → 41002', {}, 41002],
    ['no secret → 41004', { appid: 'wxmini', grant_type: 'authorization_code' }, 41004],
    ['no grant_type → 40002', { appid: 'wxmini', secret: 'sec' }, 40002],
    [
      'client_credential as grant_type → 40002',
      { ...EXCHANGE, grant_type: 'client_credential' },
      40002,
    ],
    ['an unknown appid → 40013', { ...EXCHANGE, appid: 'wxnope' }, 40013],
    ['a wrong secret → 40125', { ...EXCHANGE, secret: 'bad' }, 40125],
    ['no js_code → 40029', EXCHANGE, 40029],
    ['a code never issued → 40029', { ...EXCHANGE, js_code: 'nope' }, 40029],
  ])('%s', (_name, request, want) => {
    expect(errcode(t.backend.login.code2Session(request))).toBe(want);
  });

  it('checks the secret before the code: a valid code with a wrong secret stays unused', () => {
    const { code } = t.backend.login.issueCode(MINI.appId);
    expect(errcode(t.backend.login.code2Session({ ...EXCHANGE, js_code: code, secret: 'x' }))).toBe(
      40125,
    );
    expect(errcode(t.backend.login.code2Session({ ...EXCHANGE, js_code: code }))).toBe(0);
  });

  it('answers 40029 to a code issued for another app, at that app’s own endpoint', () => {
    const { code } = t.backend.login.issueCode('wxother', { user: 'alice' });
    expect(errcode(t.backend.login.code2Session({ ...EXCHANGE, js_code: code }))).toBe(40029);
  });

  it('does not apply the token endpoints’ IP whitelist (§9)', () => {
    t.backend.configureApp({ ...MINI, ipWhitelist: ['10.0.0.1'] });
    const { code } = t.backend.login.issueCode(MINI.appId);
    expect(errcode(t.backend.login.code2Session({ ...EXCHANGE, js_code: code }))).toBe(0);
  });

  it('answers openid, session_key and unionid without errcode; errors carry WeChat’s text', () => {
    const { code, openid, unionid } = t.backend.login.issueCode(MINI.appId, { user: 'alice' });
    const ok = body(t.backend.login.code2Session({ ...EXCHANGE, js_code: code }));
    expect(ok).toEqual({ openid, session_key: expect.stringMatching(/^.{22}==$/), unionid });
    expect(Object.keys(ok)).toEqual(['openid', 'session_key', 'unionid']);
    const used = body(t.backend.login.code2Session({ ...EXCHANGE, js_code: code }));
    expect(used['errmsg']).toMatch(/^code been used rid: /);
  });

  it('leaves out unionid for an app that is not bound to an Open Platform account', () => {
    t.backend.configureApp({ ...MINI, unionidBound: false });
    const issued = t.backend.login.issueCode(MINI.appId, { user: 'alice' });
    expect(issued).not.toHaveProperty('unionid');
    const ok = body(t.backend.login.code2Session({ ...EXCHANGE, js_code: issued.code }));
    expect(Object.keys(ok).sort()).toEqual(['openid', 'session_key']);
  });

  it.each([
    ['system_error', -1],
    ['minute_quota', 45011],
  ] as const)('a %s fault aimed at jscode2session answers %i, and only there', (kind, want) => {
    const { code } = t.backend.login.issueCode(MINI.appId);
    t.backend.injectFault(MINI.appId, { kind, count: 1, endpoints: ['jscode2session'] });
    expect(
      body(t.backend.token({ ...EXCHANGE, grant_type: 'client_credential' }, '::1')),
    ).toHaveProperty('access_token');
    expect(errcode(t.backend.login.code2Session({ ...EXCHANGE, js_code: code }))).toBe(want);
    // The fault answered before the code was looked at: it is still unused.
    expect(errcode(t.backend.login.code2Session({ ...EXCHANGE, js_code: code }))).toBe(0);
    expect(t.backend.counters(MINI.appId)).toMatchObject({
      code2sessionCalls: 2,
      code2sessionOk: 1,
      faults: { [kind]: 1 },
    });
  });

  it('hands a transport fault to the HTTP layer', () => {
    t.backend.injectFault(MINI.appId, { kind: 'html', count: 1, endpoints: ['jscode2session'] });
    expect(t.backend.login.code2Session({ ...EXCHANGE, js_code: 'x' })).toEqual({
      kind: 'fault',
      fault: 'html',
      endpoint: 'jscode2session',
      delayMs: 0,
    });
  });
});

describe('checksession and resetusersessionkey precedence (wechat-api.md §5, §6)', () => {
  it.each<[string, LoginRequest, number, number]>([
    ['the current key → 0', {}, 0, 0],
    ['no access_token → 41001', { access_token: '' }, 41001, 41001],
    ['a token never issued → 40001', { access_token: 'x' }, 40001, 40001],
    ['no sig_method → 87008', { sig_method: '' }, 87008, 87008],
    ['sig_method md5 → 87008', { sig_method: 'md5' }, 87008, 87008],
    [
      'a wrong key → 87009',
      { signature: sessionSignature('AAAAAAAAAAAAAAAAAAAAAA==') },
      87009,
      87009,
    ],
    ['no signature → 87009', { signature: '' }, 87009, 87009],
    ['an unknown openid → 87009 / 87007', { openid: 'onope' }, 87009, 87007],
  ])('%s', (_name, overrides, wantCheck, wantReset) => {
    const { openid, key } = t.login();
    const request = { ...session(t.accessToken(), openid, key), ...overrides };
    expect(errcode(t.backend.login.checkSession(request))).toBe(wantCheck);
    expect(errcode(t.backend.login.resetSessionKey(request))).toBe(wantReset);
  });

  it('looks the openid up in the token’s app: another app’s token does not know the user', () => {
    const { openid, key } = t.login();
    const request = session(t.accessToken('wxother', 'other'), openid, key);
    expect(errcode(t.backend.login.checkSession(request))).toBe(87009);
    expect(errcode(t.backend.login.resetSessionKey(request))).toBe(87007);
    expect(t.backend.counters('wxother')).toMatchObject({
      checkSessionCalls: 1,
      resetSessionKeyCalls: 1,
    });
  });

  it('applies the token verdict first: an expired token is 42001 even with a bad sig_method', async () => {
    const { openid, key } = t.login();
    const token = t.accessToken();
    await t.clock.advance(7200 * S);
    const request = { ...session(token, openid, key), sig_method: 'md5' };
    expect(errcode(t.backend.login.checkSession(request))).toBe(42001);
    expect(errcode(t.backend.login.resetSessionKey(request))).toBe(42001);
  });

  it('checksession: 87009 once the session_key has expired; reset: 87007', async () => {
    t.backend.configureApp({ ...MINI, sessionKeyLifetimeSeconds: 60 });
    const { openid, key } = t.login();
    await t.clock.advance(60 * S);
    const request = session(t.accessToken(), openid, key);
    expect(body(t.backend.login.checkSession(request))).toMatchObject({ errcode: 87009 });
    expect(body(t.backend.login.resetSessionKey(request))['errmsg']).toMatch(
      /^session_key is not existd or expired rid: /,
    );
  });

  it('checksession answers {errcode: 0, errmsg: "ok"} exactly; reset adds openid and the new key', () => {
    const { openid, key } = t.login();
    const token = t.accessToken();
    expect(body(t.backend.login.checkSession(session(token, openid, key)))).toEqual({
      errcode: 0,
      errmsg: 'ok',
    });
    const reset = body(t.backend.login.resetSessionKey(session(token, openid, key)));
    expect(reset).toEqual({
      errcode: 0,
      errmsg: 'ok',
      openid,
      session_key: expect.stringMatching(/^.{22}==$/),
    });
    expect(reset['session_key']).not.toBe(key);
  });

  it('counts and logs against the token’s owner; faults can target both endpoints', () => {
    const { openid, key } = t.login();
    const request = session(t.accessToken(), openid, key);
    t.backend.injectFault(MINI.appId, {
      kind: 'system_error',
      count: 2,
      endpoints: ['checksession', 'resetusersessionkey'],
    });
    expect(errcode(t.backend.login.checkSession(request))).toBe(-1);
    expect(errcode(t.backend.login.resetSessionKey(request))).toBe(-1);
    expect(errcode(t.backend.login.checkSession(request))).toBe(0);
    expect(t.backend.counters(MINI.appId)).toMatchObject({
      checkSessionCalls: 2,
      resetSessionKeyCalls: 1,
      errors: { '-1': 2 },
    });
  });
});
