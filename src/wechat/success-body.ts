/**
 * Checks of WeChat success bodies, after errcode bodies were turned into errors. Each returns
 * why the body cannot be used (for a "malformed success body: ..." message), or undefined.
 * Reasons name fields, never their values: the values are credentials.
 */

type Body = Record<string, unknown>;

/** Printable ASCII only: tokens and session keys go into URLs, headers and HMAC keys. */
const PRINTABLE = /^[\x21-\x7e]+$/;

/**
 * WeChat reserves 512 characters for an access_token (and a ticket); four times that is
 * generous and still small. A 64 MiB "token" was once accepted, written and served: every
 * client that received it broke.
 */
export const MAX_CREDENTIAL_CHARS = 2048;
/** A session_key is 24 base64 characters; anything far longer is not one. */
const MAX_SESSION_KEY_CHARS = 256;

/** /cgi-bin/token and /cgi-bin/stable_token. */
export function tokenProblem(body: Body): string | undefined {
  const token = body.access_token;
  const expiresIn = body.expires_in;
  if (typeof token !== 'string' || token === '') return 'access_token missing or empty';
  if (token.length > MAX_CREDENTIAL_CHARS) {
    return `access_token longer than ${MAX_CREDENTIAL_CHARS} characters`;
  }
  if (!PRINTABLE.test(token)) return 'access_token has unexpected characters';
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) {
    return 'expires_in is not a positive number';
  }
  return undefined;
}

/**
 * Endpoints that "do something" answer `errcode: 0` on success (wechat-api.md §0); a body
 * without one is not WeChat's answer (a proxy, a wrong base URL).
 */
export function ackProblem(body: Body): string | undefined {
  return body.errcode === undefined ? 'no errcode' : undefined;
}

/**
 * /sns/jscode2session (no errcode on success): an openid and a session_key. With `asked`
 * (/wxa/resetusersessionkey, errcode 0), the openid the request named: the reply's openid may
 * then be absent, but not different. Lenient on purpose there: once WeChat has reset the key,
 * rejecting the reply would lose the only copy of the new one.
 */
export function sessionProblem(body: Body, asked?: string): string | undefined {
  if (asked === undefined || body.openid !== undefined) {
    if (typeof body.openid !== 'string' || body.openid === '') return 'openid missing or empty';
    if (asked !== undefined && body.openid !== asked) return 'openid is not the one asked for';
  }
  const key = body.session_key;
  if (typeof key !== 'string' || key === '') return 'session_key missing or empty';
  if (key.length > MAX_SESSION_KEY_CHARS) {
    return `session_key longer than ${MAX_SESSION_KEY_CHARS} characters`;
  }
  if (!PRINTABLE.test(key)) return 'session_key has unexpected characters';
  if (body.unionid !== undefined && typeof body.unionid !== 'string') {
    return 'unionid is not a string';
  }
  return undefined;
}

/** String values of credential fields in a body, to scrub from an errmsg that echoes them. */
export function credentialsIn(body: Body): string[] {
  return [body.access_token, body.session_key].filter(
    (v): v is string => typeof v === 'string' && v !== '',
  );
}
