import { describe, expect, it } from 'vitest';
import {
  SimInputError,
  SimUnknownAppError,
  SimUnknownUserError,
} from '../../src/sim/sim-errors.js';
import { sessionSignature } from '../../src/sim/session-signature.js';
import { EXCHANGE, MINI, body, session, useLoginBackend } from './login-backend.js';

const S = 1000;
const t = useLoginBackend();

describe('login control operations and the call log', () => {
  it('needs a configured app and a known user', () => {
    expect(() => t.backend.login.issueCode('wxnope')).toThrow(SimUnknownAppError);
    expect(() => t.backend.login.user(MINI.appId, 'onope')).toThrow(SimUnknownUserError);
    expect(() => t.backend.login.encrypt(MINI.appId, 'onope', { data: {} })).toThrow(
      SimUnknownUserError,
    );
    expect(() => t.backend.login.issueCode(MINI.appId, { blocked: 'yes' })).toThrow(SimInputError);
  });

  it('refuses to encrypt for a user who never exchanged a code', () => {
    const { openid } = t.backend.login.issueCode(MINI.appId);
    expect(() => t.backend.login.encrypt(MINI.appId, openid, { data: {} })).toThrow(
      /no session_key yet/,
    );
  });

  it('keeps users across a reconfiguration and forgets them on reset', () => {
    const { openid } = t.login();
    t.backend.configureApp({ ...MINI, secret: 'new' });
    expect(t.backend.login.user(MINI.appId, openid).openid).toBe(openid);
    t.backend.reset();
    expect(() => t.backend.login.user(MINI.appId, openid)).toThrow(SimUnknownAppError);
  });

  it('logs endpoint, app, errcode, openid and key fingerprints, never a code, key or signature', async () => {
    const { code, openid } = t.backend.login.issueCode(MINI.appId, { user: 'alice' });
    const exchanged = body(t.backend.login.code2Session({ ...EXCHANGE, js_code: code }));
    const key = exchanged['session_key'] as string;
    t.backend.login.code2Session({ ...EXCHANGE, js_code: code });
    const token = t.accessToken();
    await t.clock.advance(S);
    const since = t.clock.now();
    t.backend.login.checkSession(session(token, openid, key));
    const reset = body(t.backend.login.resetSessionKey(session(token, openid, key)));
    t.backend.login.checkSession(session(token, openid, key));
    const calls = t.backend.calls();
    const at = expect.any(Number);
    const fp = expect.stringMatching(/^[0-9a-f]{8}$/);
    expect(calls.filter((c) => c.endpoint !== 'token')).toEqual([
      {
        at,
        endpoint: 'jscode2session',
        appId: MINI.appId,
        errcode: 0,
        openid,
        sessionKeyFingerprint: fp,
      },
      { at, endpoint: 'jscode2session', appId: MINI.appId, errcode: 40163, openid },
      { at: since, endpoint: 'checksession', appId: MINI.appId, errcode: 0, openid },
      {
        at: since,
        endpoint: 'resetusersessionkey',
        appId: MINI.appId,
        errcode: 0,
        openid,
        sessionKeyFingerprint: fp,
      },
      { at: since, endpoint: 'checksession', appId: MINI.appId, errcode: 87009, openid },
    ]);
    const log = JSON.stringify(calls);
    for (const secret of [
      code,
      key,
      reset['session_key'] as string,
      sessionSignature(key),
      'sec',
    ]) {
      expect(log).not.toContain(secret);
    }
  });
});
