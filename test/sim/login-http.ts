import { createDecipheriv, createHmac } from 'node:crypto';
import { expect } from 'vitest';
import { APP, type SimHarness } from './sim-http.js';

export const CODES = `/__sim/apps/${APP.appId}/codes`;

export interface Issued {
  code: string;
  openid: string;
  unionid?: string;
}

export interface Session {
  openid: string;
  session_key: string;
  unionid?: string;
}

/** checksession's signature, computed as a business server would (wechat-api.md §5). */
export function sign(key: string): string {
  return createHmac('sha256', key).update('').digest('hex');
}

export function code2SessionPath(code: string, params: Record<string, string> = {}): string {
  const query = new URLSearchParams({
    appid: APP.appId,
    secret: APP.secret,
    js_code: code,
    grant_type: 'authorization_code',
    ...params,
  });
  return `/sns/jscode2session?${query.toString()}`;
}

export function sessionPath(endpoint: string, token: string, openid: string, key: string): string {
  const query = new URLSearchParams({
    access_token: token,
    openid,
    signature: sign(key),
    sig_method: 'hmac_sha256',
  });
  return `/wxa/${endpoint}?${query.toString()}`;
}

/** What a business server does with getUserInfo's encryptedData (wechat-api.md §8). */
export function decrypt(key: string, encryptedData: string, iv: string): Record<string, unknown> {
  const decipher = createDecipheriv(
    'aes-128-cbc',
    Buffer.from(key, 'base64'),
    Buffer.from(iv, 'base64'),
  );
  const plain = Buffer.concat([
    decipher.update(Buffer.from(encryptedData, 'base64')),
    decipher.final(),
  ]);
  return JSON.parse(plain.toString('utf8')) as Record<string, unknown>;
}

/** The device's and the business server's side of the login flow, against one harness. */
export function loginClient(h: SimHarness): {
  issueCode(body?: object): Promise<Issued>;
  login(user?: string): Promise<Session>;
  accessToken(): Promise<string>;
} {
  const issueCode = async (body?: object): Promise<Issued> => {
    const res = await h.send('POST', CODES, body);
    expect(res.status).toBe(200);
    return res.json<Issued>();
  };
  return {
    issueCode,
    login: async (user = 'alice') => {
      const { code } = await issueCode({ user });
      return (await h.get(code2SessionPath(code))).json<Session>();
    },
    accessToken: async () => (await h.get(h.tokenPath())).json()['access_token'] as string,
  };
}
