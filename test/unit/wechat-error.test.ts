import { describe, expect, it } from 'vitest';
import {
  errcodeLabel,
  classifyErrcode,
  isRetryable,
  isTokenInvalid,
  isWeChatError,
  loginErrorKind,
  WeChatError,
  type LoginErrorKind,
  type WeChatErrorKind,
} from '../../src/wechat/wechat-error.js';

/** Every errcode of wechat-api.md §1 (/cgi-bin/token), §2 (stable_token) and §3 (token validity). */
const ERRCODES: Array<[errcode: number, kind: WeChatErrorKind, why: string]> = [
  [-1, 'retryable', 'system error: busy, retry later'],
  [40001, 'token_invalid', 'invalid credential / not latest'],
  [40002, 'config', 'invalid grant_type'],
  [40013, 'config', 'invalid appid'],
  [40014, 'token_invalid', 'invalid access_token'],
  [40125, 'config', 'invalid appsecret'],
  [40164, 'config', 'IP not in whitelist'],
  [40243, 'config', 'AppSecret frozen'],
  [41001, 'unknown', 'access_token missing'],
  [41002, 'config', 'appid missing'],
  [41004, 'config', 'appsecret missing'],
  [42001, 'token_invalid', 'access_token expired'],
  [43002, 'unknown', 'require POST method'],
  [45009, 'quota', 'daily quota reached'],
  [45011, 'retryable', 'minute quota reached'],
  [47001, 'unknown', 'data format error'],
  [48001, 'unknown', 'api unauthorized: not a token-expiry signal'],
  [50004, 'config', 'account barred from the token API'],
  [50007, 'config', 'account frozen'],
  [61024, 'config', 'third-party platform appid'],
  [89501, 'config', 'IP waiting for admin confirmation'],
  [89503, 'config', 'IP needs admin confirmation'],
  [89506, 'config', 'IP rejected by admin, 24 h'],
  [89507, 'config', 'IP rejected by admin, 1 h'],
  [12345, 'unknown', 'a code nobody documented'],
];

describe('classifyErrcode', () => {
  it.each(ERRCODES)('%i → %s (%s)', (errcode, kind) => {
    expect(classifyErrcode(errcode)).toBe(kind);
    expect(new WeChatError('token', errcode, 'x').kind).toBe(kind);
  });
});

describe('errcodeLabel (metric labels: bounded whatever WeChat sends)', () => {
  it.each([
    [40001, '40001'],
    [45009, '45009'],
    [40163, '40163'],
    [-1, '-1'],
    [null, 'none'],
    [99999, 'other'],
    [123456789, 'other'],
  ])('%s → %s', (errcode, label) => {
    expect(errcodeLabel(errcode)).toBe(label);
  });

  it('10,000 distinct unknown errcodes make one label', () => {
    const labels = new Set(Array.from({ length: 10_000 }, (_, i) => errcodeLabel(700_000 + i)));
    expect([...labels]).toEqual(['other']);
  });
});

describe('WeChatError', () => {
  it('carries endpoint, errcode and errmsg as data and in the message', () => {
    const err = new WeChatError('stable_token', 45009, 'reach max api daily quota limit');
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('WeChatError');
    expect(err.endpoint).toBe('stable_token');
    expect(err.errcode).toBe(45009);
    expect(err.message).toBe('WeChat stable_token errcode 45009: reach max api daily quota limit');
  });

  it('makes transport errors retryable with errcode null', () => {
    const cause = new Error('connect ECONNREFUSED');
    const err = WeChatError.transport('token', 'HTTP 502', cause);
    expect(err.errcode).toBeNull();
    expect(err.kind).toBe('retryable');
    expect(err.message).toBe('WeChat token: HTTP 502');
    expect(err.cause).toBe(cause);
    expect(isRetryable(err)).toBe(true);
  });

  it.each([
    { errcode: 40001, tokenInvalid: true, retryable: false },
    { errcode: 42001, tokenInvalid: true, retryable: false },
    { errcode: -1, tokenInvalid: false, retryable: true },
    { errcode: 48001, tokenInvalid: false, retryable: true },
    { errcode: 45009, tokenInvalid: false, retryable: false },
    { errcode: 40125, tokenInvalid: false, retryable: false },
  ])('predicates for $errcode', ({ errcode, tokenInvalid, retryable }) => {
    const err = new WeChatError('token', errcode, '');
    expect(isWeChatError(err)).toBe(true);
    expect(isTokenInvalid(err)).toBe(tokenInvalid);
    expect(isRetryable(err)).toBe(retryable);
  });

  it('predicates are false for anything that is not a WeChatError', () => {
    for (const value of [new Error('x'), 'x', null, undefined, { kind: 'token_invalid' }]) {
      expect(isWeChatError(value)).toBe(false);
      expect(isTokenInvalid(value)).toBe(false);
      expect(isRetryable(value)).toBe(false);
    }
  });
});

/** The errcodes of the login endpoints, wechat-api.md §4 (jscode2session), §5, §6. */
const LOGIN_ERRCODES: Array<
  [errcode: number, login: LoginErrorKind | undefined, kind: WeChatErrorKind, why: string]
> = [
  [-1, undefined, 'retryable', 'system error: busy, retry later'],
  [40029, 'invalid_code', 'unknown', 'invalid code: wrong, older than 5 min, other appid'],
  [40163, 'code_used', 'unknown', 'code been used: codes are single-use'],
  [40226, 'blocked', 'unknown', 'code blocked: high-risk user'],
  [45011, 'rate_limited', 'retryable', 'minute quota: 100 calls per user per minute'],
  [87007, 'session_gone', 'unknown', 'session_key is not existd or expired'],
  [87008, undefined, 'unknown', 'invalid sig_method: a wxtoken bug'],
  [87009, 'invalid_signature', 'unknown', 'invalid signature: stale or wrong session_key'],
  [40097, undefined, 'unknown', 'invalid args: a wxtoken bug'],
  [40125, undefined, 'config', 'invalid appsecret on jscode2session'],
  [40013, undefined, 'config', 'invalid appid'],
  [40001, undefined, 'token_invalid', 'access_token rejected by checksession/reset'],
  [42001, undefined, 'token_invalid', 'access_token expired'],
];

describe('loginErrorKind', () => {
  it.each(LOGIN_ERRCODES)('%i → %s, kind %s (%s)', (errcode, login, kind) => {
    expect(loginErrorKind(errcode)).toBe(login);
    expect(classifyErrcode(errcode)).toBe(kind);
    for (const endpoint of ['jscode2session', 'checksession', 'resetusersessionkey'] as const) {
      const err = new WeChatError(endpoint, errcode, 'x');
      expect(err.kind).toBe(kind);
      expect(err.endpoint).toBe(endpoint);
    }
  });

  it('keeps -1 and 45011 retryable whatever the endpoint', () => {
    for (const errcode of [-1, 45011]) {
      expect(isRetryable(new WeChatError('jscode2session', errcode, ''))).toBe(true);
    }
  });

  it('is undefined for transport failures and unknown codes', () => {
    expect(loginErrorKind(null)).toBeUndefined();
    expect(loginErrorKind(WeChatError.transport('jscode2session', 'HTTP 502').errcode)).toBe(
      undefined,
    );
    expect(loginErrorKind(0)).toBeUndefined();
    expect(loginErrorKind(12345)).toBeUndefined();
  });
});
