import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/shared/secret.js';
import { FakeClock } from '../support/fake-clock.js';
import {
  CODES,
  code2SessionPath,
  decrypt,
  loginClient,
  sessionPath,
  sign,
  type Session,
} from './login-http.js';
import { APP, useSimulator } from './sim-http.js';

const clock = new FakeClock();
const h = useSimulator({ clock });
const { issueCode, login, accessToken } = loginClient(h);

describe('login control API (/__sim/apps/:appId/codes, users/:openid)', () => {
  it('POST users/:openid/encrypt returns open data the session_key decrypts, watermarked', async () => {
    const { openid, session_key: key } = await login();
    const data = { nickName: 'Band', gender: 1, phoneNumber: '13800138000' };
    const res = await h.send('POST', `/__sim/apps/${APP.appId}/users/${openid}/encrypt`, { data });
    expect(res.status).toBe(200);
    const { encryptedData, iv } = res.json<{ encryptedData: string; iv: string }>();
    expect(Buffer.from(iv, 'base64')).toHaveLength(16);
    expect(decrypt(key, encryptedData, iv)).toEqual({
      ...data,
      watermark: { appid: APP.appId, timestamp: Math.floor(clock.now() / 1000) },
    });
    // After a new login the old key no longer fits (a padding error, or garbage).
    const next = await login();
    const fresh = (
      await h.send('POST', `/__sim/apps/${APP.appId}/users/${openid}/encrypt`, { data })
    ).json<{ encryptedData: string; iv: string }>();
    expect(decrypt(next.session_key, fresh.encryptedData, fresh.iv)).toMatchObject(data);
    expect(() => decrypt(key, fresh.encryptedData, fresh.iv)).toThrow();
  });

  it('GET users/:openid shows the user with a key fingerprint, never the key', async () => {
    const { openid, unionid, session_key: key } = await login();
    const res = await h.get(`/__sim/apps/${APP.appId}/users/${openid}`);
    expect(res.json()).toEqual({
      openid,
      unionid,
      blocked: false,
      sessionKeyFingerprint: fingerprint(key),
      sessionKeyExpiresAt: clock.now() + 3 * 86_400_000,
    });
    expect(res.text).not.toContain(key);
  });

  it('POST codes honours unionid: false and an app without an Open Platform binding', async () => {
    expect(await issueCode({ user: 'nounion', unionid: false })).not.toHaveProperty('unionid');
    await h.send('POST', '/__sim/apps', { ...APP, unionidBound: false });
    const { code } = await issueCode({ user: 'alice' });
    expect(Object.keys((await h.get(code2SessionPath(code))).json()).sort()).toEqual([
      'openid',
      'session_key',
    ]);
  });

  it.each([
    ['POST', '/__sim/apps/wxnope/codes', {}, 404, /wxnope/],
    ['POST', CODES, { user: 'a', blocked: 'yes' }, 400, /blocked/],
    ['POST', CODES, { usr: 'a' }, 400, /usr/],
    ['GET', `/__sim/apps/${APP.appId}/users/onope`, undefined, 404, /onope/],
    ['POST', `/__sim/apps/${APP.appId}/users/onope/encrypt`, { data: {} }, 404, /onope/],
    ['POST', `/__sim/apps/${APP.appId}/users/onope/encrypt`, { data: 'x' }, 400, /data/],
  ])('%s %s → %i with a message', async (method, path, body, status, message) => {
    const res = await h.send(method, path, body);
    expect(res.status).toBe(status);
    expect(res.json()).toEqual({ ok: false, error: expect.stringMatching(message) });
  });

  it('counts per app, and the call log holds no code, session_key or signature', async () => {
    const { code, openid } = await issueCode({ user: 'alice' });
    const first = (await h.get(code2SessionPath(code))).json<Session>();
    await h.get(code2SessionPath(code));
    const token = await accessToken();
    await h.get(sessionPath('checksession', token, openid, first.session_key));
    const reset = (
      await h.get(sessionPath('resetusersessionkey', token, openid, first.session_key))
    ).json();
    expect((await h.get(`/__sim/apps/${APP.appId}/counters`)).json()).toMatchObject({
      code2sessionCalls: 2,
      code2sessionOk: 1,
      checkSessionCalls: 1,
      resetSessionKeyCalls: 1,
      errors: { '40163': 1 },
    });
    const log = await h.get(`/__sim/calls?appId=${APP.appId}`);
    expect(log.json<{ calls: { endpoint: string }[] }>().calls.map((c) => c.endpoint)).toEqual([
      'jscode2session',
      'jscode2session',
      'token',
      'checksession',
      'resetusersessionkey',
    ]);
    const secrets = [
      code,
      first.session_key,
      reset['session_key'] as string,
      sign(first.session_key),
    ];
    for (const secret of [...secrets, APP.secret, token]) expect(log.text).not.toContain(secret);
  });
});
