import { beforeEach } from 'vitest';
import { SimBackend, type SimReply } from '../../src/sim/sim-backend.js';
import type { LoginRequest } from '../../src/sim/login-request.js';
import { sessionSignature } from '../../src/sim/session-signature.js';
import { FakeClock } from '../support/fake-clock.js';

export const MINI = { appId: 'wxmini', secret: 'sec' };
export const EXCHANGE = { appid: 'wxmini', secret: 'sec', grant_type: 'authorization_code' };

export function body(reply: SimReply): Record<string, unknown> {
  if (reply.kind !== 'json') {
    throw new Error(`expected JSON, got ${reply.kind === 'fault' ? reply.fault : reply.kind}`);
  }
  return reply.body as Record<string, unknown>;
}

export function errcode(reply: SimReply): number {
  return (body(reply)['errcode'] as number | undefined) ?? 0;
}

/** checksession / resetusersessionkey parameters signed with `key`. */
export function session(token: string, openid: string, key: string): LoginRequest {
  return {
    access_token: token,
    openid,
    signature: sessionSignature(key),
    sig_method: 'hmac_sha256',
  };
}

export interface LoginBackend {
  clock: FakeClock;
  /** Apps `wxmini` (MINI) and `wxother` (secret `other`). */
  backend: SimBackend;
  accessToken(appId?: string, secret?: string): string;
  /** wx.login() on the device, then jscode2session: the user's openid and session_key. */
  login(user?: string): { openid: string; key: string };
}

/** A fresh SimBackend on a FakeClock for each test of the file. */
export function useLoginBackend(): LoginBackend {
  const t = {} as LoginBackend;
  beforeEach(() => {
    const clock = new FakeClock();
    const backend = new SimBackend(clock);
    backend.configureApp(MINI);
    backend.configureApp({ appId: 'wxother', secret: 'other' });
    Object.assign(t, {
      clock,
      backend,
      accessToken: (appId = MINI.appId, secret = MINI.secret) => {
        const request = { grant_type: 'client_credential', appid: appId, secret };
        return body(backend.token(request, '::1'))['access_token'] as string;
      },
      login: (user = 'alice') => {
        const { code, openid } = backend.login.issueCode(MINI.appId, { user });
        const key = body(backend.login.code2Session({ ...EXCHANGE, js_code: code }))['session_key'];
        if (typeof key !== 'string') throw new Error('login failed');
        return { openid, key };
      },
    } satisfies LoginBackend);
  });
  return t;
}
