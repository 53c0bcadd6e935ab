import { randomBytes } from 'node:crypto';

/** errmsg texts as WeChat actually returns them (wechat-api.md §1-8, §11, §12), before the rid suffix. */
const ERRMSG: Readonly<Record<number, string>> = {
  [-1]: 'system error',
  40001: 'invalid credential, access_token is invalid or not latest',
  40002: 'invalid grant_type',
  40003: 'invalid openid',
  40013: 'invalid appid',
  40029: 'invalid code',
  40125: 'invalid appsecret',
  40163: 'code been used',
  40097: 'invalid args',
  40164: 'invalid ip, not in whitelist',
  40169: 'invalid length for scene, or the data is not json string',
  40226: 'code blocked',
  41001: 'access_token missing',
  41002: 'appid missing',
  41004: 'appsecret missing',
  42001: 'access_token expired',
  43002: 'require POST method',
  44002: 'empty post data',
  45009: 'reach max api daily quota limit',
  45011: 'api minute-quota reach limit mustslower retry next minute',
  47001: 'data format error',
  // Third-party platform (§13); 61010 is what an unknown or used authorization code gets.
  61005: 'component ticket is expired',
  61006: 'component ticket is invalid',
  61010: 'code is expired',
  61023: 'refresh_token is invalid',
  // The typo is WeChat's (§6).
  87007: 'session_key is not existd or expired',
  87008: 'invalid sig_method',
  87009: 'invalid signature',
  // The text of 89002 is UNCONFIRMED; the errcode is §7's.
  89002: 'open not exists',
  89300: 'invalid trade',
};

export interface WeChatErrorBody {
  errcode: number;
  errmsg: string;
}

/**
 * The error body WeChat sends with HTTP 200: the short text plus a request id in today's
 * ` rid: xxxxxxxx-xxxxxxxx-xxxxxxxx` form (wechat-api.md §0). The rid is random, so clients that
 * match on errmsg instead of errcode break here as they would in production.
 */
export function wechatErrorBody(errcode: number, text?: string): WeChatErrorBody {
  const rid = randomBytes(12)
    .toString('hex')
    .replace(/^(.{8})(.{8})(.{8})$/, '$1-$2-$3');
  return { errcode, errmsg: `${text ?? ERRMSG[errcode] ?? 'unknown error'} rid: ${rid}` };
}
