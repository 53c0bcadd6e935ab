import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/shared/secret.js';
import { FakeClock } from '../support/fake-clock.js';
import { code2SessionPath, loginClient, sessionPath, type Issued } from './login-http.js';
import { APP, useSimulator } from './sim-http.js';

const clock = new FakeClock();
const h = useSimulator({ clock });
const { issueCode, login, accessToken } = loginClient(h);

describe('GET /sns/jscode2session over HTTP (wechat-api.md §4)', () => {
  it('exchanges a code from POST /__sim/apps/:appId/codes: HTTP 200, WeChat’s shapes, no errcode', async () => {
    const issued = await issueCode({ user: 'alice' });
    expect(issued).toEqual({
      code: expect.stringMatching(/^[A-Za-z0-9]{32}$/),
      openid: expect.stringMatching(/^o[A-Za-z0-9_-]{27}$/),
      unionid: expect.stringMatching(/^o[A-Za-z0-9_-]{27}$/),
    });
    const res = await h.get(code2SessionPath(issued.code));
    expect(res.status).toBe(200);
    expect(res.contentType).toBe('application/json; encoding=utf-8');
    expect(res.json()).toEqual({
      openid: issued.openid,
      session_key: expect.stringMatching(/^[A-Za-z0-9+/]{22}==$/),
      unionid: issued.unionid,
    });
  });

  it('exchanges a code issued in process by WeChatSimulator.issueCode', async () => {
    const { code, openid } = h.sim.issueCode(APP.appId, { user: 'alice', unionid: false });
    expect((await h.get(code2SessionPath(code))).json()).toEqual({
      openid,
      session_key: expect.any(String),
    });
  });

  it('answers a reused code with 40163 and an expired one with 40029', async () => {
    const used = await issueCode();
    const late = await issueCode();
    await h.get(code2SessionPath(used.code));
    expect((await h.get(code2SessionPath(used.code))).json()).toEqual({
      errcode: 40163,
      errmsg: expect.stringMatching(/^code been used rid: /),
    });
    await clock.advance(300_000);
    expect((await h.get(code2SessionPath(late.code))).json()).toEqual({
      errcode: 40029,
      errmsg: expect.stringMatching(/^invalid code rid: /),
    });
  });

  it('answers a blocked user with 40226 and a code of another app with 40029', async () => {
    const blocked = await issueCode({ blocked: true });
    expect((await h.get(code2SessionPath(blocked.code))).json()).toMatchObject({ errcode: 40226 });
    await h.send('POST', '/__sim/apps', { appId: 'wxother', secret: 'other' });
    const theirs = (await h.send('POST', '/__sim/apps/wxother/codes')).json<Issued>();
    expect((await h.get(code2SessionPath(theirs.code))).json()).toMatchObject({ errcode: 40029 });
  });

  it('answers the 101st exchange of one user within a minute with 45011', async () => {
    const codes: string[] = [];
    for (let i = 0; i < 101; i++) codes.push((await issueCode({ user: 'busy' })).code);
    const answers = [];
    for (const code of codes) answers.push((await h.get(code2SessionPath(code))).json());
    expect(answers.slice(0, 100).filter((a) => 'session_key' in a)).toHaveLength(100);
    expect(answers[100]).toEqual({
      errcode: 45011,
      errmsg: expect.stringMatching(
        /^api minute-quota reach limit mustslower retry next minute rid: /,
      ),
    });
  });

  it.each([
    ['a wrong secret → 40125', { secret: 'bad' }, 40125],
    ['an unknown appid → 40013', { appid: 'wxnope' }, 40013],
    ['a missing appid → 41002', { appid: '' }, 41002],
    ['a missing secret → 41004', { secret: '' }, 41004],
    ['a wrong grant_type → 40002', { grant_type: 'client_credential' }, 40002],
  ])('answers %s', async (_name, params, errcode) => {
    const { code } = await issueCode();
    expect((await h.get(code2SessionPath(code, params))).json()['errcode']).toBe(errcode);
  });

  it('takes faults aimed at jscode2session through the control API', async () => {
    const { code } = await issueCode();
    await h.send('POST', `/__sim/apps/${APP.appId}/faults`, {
      kind: 'http_502',
      count: 1,
      endpoints: ['jscode2session'],
    });
    expect((await h.get(h.tokenPath())).json()).toHaveProperty('access_token');
    expect((await h.get(code2SessionPath(code))).status).toBe(502);
    expect((await h.get(code2SessionPath(code))).json()).toHaveProperty('session_key');
  });
});

describe('GET /wxa/checksession and /wxa/resetusersessionkey over HTTP (wechat-api.md §5, §6)', () => {
  it('accepts the current key, refuses the one before it, a wrong sig_method and a bad token', async () => {
    const first = await login();
    const second = await login();
    const token = await accessToken();
    const check = async (path: string): Promise<Record<string, unknown>> =>
      (await h.get(path)).json();
    expect(
      await check(sessionPath('checksession', token, second.openid, second.session_key)),
    ).toEqual({
      errcode: 0,
      errmsg: 'ok',
    });
    expect(
      await check(sessionPath('checksession', token, first.openid, first.session_key)),
    ).toEqual({
      errcode: 87009,
      errmsg: expect.stringMatching(/^invalid signature rid: /),
    });
    const md5 = sessionPath('checksession', token, second.openid, second.session_key).replace(
      'hmac_sha256',
      'md5',
    );
    expect(await check(md5)).toMatchObject({ errcode: 87008 });
    const garbage = sessionPath('checksession', 'garbage', second.openid, second.session_key);
    expect(await check(garbage)).toMatchObject({ errcode: 40001 });
  });

  it('resets the key: the new one inherits the expiry, the old one stops working', async () => {
    const { openid, session_key: oldKey } = await login();
    const user = `/__sim/apps/${APP.appId}/users/${openid}`;
    const before = (await h.get(user)).json();
    const token = await accessToken();
    await clock.advance(60_000);
    const reset = (await h.get(sessionPath('resetusersessionkey', token, openid, oldKey))).json();
    expect(reset).toEqual({
      errcode: 0,
      errmsg: 'ok',
      openid,
      session_key: expect.stringMatching(/^[A-Za-z0-9+/]{22}==$/),
    });
    const newKey = reset['session_key'] as string;
    expect(newKey).not.toBe(oldKey);
    const after = (await h.get(user)).json();
    expect(after['sessionKeyExpiresAt']).toBe(before['sessionKeyExpiresAt']);
    expect(after['sessionKeyFingerprint']).toBe(fingerprint(newKey));
    const checkWith = async (key: string): Promise<unknown> =>
      (await h.get(sessionPath('checksession', token, openid, key))).json()['errcode'];
    expect(await checkWith(oldKey)).toBe(87009);
    expect(await checkWith(newKey)).toBe(0);
    const again = await h.get(sessionPath('resetusersessionkey', token, openid, oldKey));
    expect(again.json()['errcode']).toBe(87009);
  });

  it('answers 87007 to a reset once the session_key has expired (3 days by default)', async () => {
    const { openid, session_key: key } = await login();
    await clock.advance(3 * 86_400_000);
    const token = await accessToken();
    const res = await h.get(sessionPath('resetusersessionkey', token, openid, key));
    expect(res.json()).toEqual({
      errcode: 87007,
      errmsg: expect.stringMatching(/^session_key is not existd or expired rid: /),
    });
    expect((await h.get(sessionPath('checksession', token, openid, key))).json()['errcode']).toBe(
      87009,
    );
  });
});
