/**
 * Checks of WeChat success bodies, after errcode bodies were turned into errors. Each returns
 * why the body cannot be used (for a "malformed success body: ..." message), or undefined.
 * Reasons name fields, never their values: the values are credentials.
 */

type Body = Record<string, unknown>;

/** Printable ASCII only: tokens and session keys go into URLs, headers and HMAC keys. */
export const PRINTABLE = /^[\x21-\x7e]+$/;

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
  return credentialProblem(body, 'access_token');
}

/**
 * /cgi-bin/ticket/getticket (errcode 0 on success, checked before this): a ticket with a
 * token's bounds, since WeChat reserves the same 512 characters for it and it is served to
 * callers the same way.
 */
export function ticketProblem(body: Body): string | undefined {
  return credentialProblem(body, 'ticket');
}

/** A credential field with a token's bounds and a positive expires_in beside it. */
export function credentialProblem(body: Body, field: string): string | undefined {
  const value = body[field];
  const expiresIn = body.expires_in;
  if (typeof value !== 'string' || value === '') return `${field} missing or empty`;
  if (value.length > MAX_CREDENTIAL_CHARS) {
    return `${field} longer than ${MAX_CREDENTIAL_CHARS} characters`;
  }
  if (!PRINTABLE.test(value)) return `${field} has unexpected characters`;
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) {
    return 'expires_in is not a positive number';
  }
  return undefined;
}

/** Phone numbers, country codes and unionids are short; anything far longer is not one. */
const MAX_FIELD_CHARS = 64;

/** A non-empty string of at most MAX_FIELD_CHARS characters. */
function isShortString(value: unknown): value is string {
  return typeof value === 'string' && value !== '' && value.length <= MAX_FIELD_CHARS;
}

/**
 * /wxa/business/getuserphonenumber: phone_info with the three number fields (countryCode may
 * come as a number). The watermark is not checked: the call carries a token, not an appid,
 * and the code was bound to the token's app by WeChat itself (wechat-api.md §8).
 */
export function phoneProblem(body: Body): string | undefined {
  const info = body.phone_info;
  if (typeof info !== 'object' || info === null || Array.isArray(info)) {
    return 'phone_info missing';
  }
  const { phoneNumber, purePhoneNumber, countryCode } = info as Body;
  if (!isShortString(phoneNumber)) return 'phone_info.phoneNumber missing or too long';
  if (!isShortString(purePhoneNumber)) return 'phone_info.purePhoneNumber missing or too long';
  const country = typeof countryCode === 'number' ? String(countryCode) : countryCode;
  if (!isShortString(country)) return 'phone_info.countryCode missing or too long';
  return undefined;
}

/** /wxa/getpaidunionid: a unionid (errcode 0, checked before this). */
export function unionidProblem(body: Body): string | undefined {
  if (!isShortString(body.unionid)) return 'unionid missing, empty or too long';
  if (!PRINTABLE.test(body.unionid)) return 'unionid has unexpected characters';
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

/**
 * String values of credential fields in a body (and the phone numbers, which are personal
 * data), to scrub from an errmsg that echoes them.
 */
export function credentialsIn(body: Body): string[] {
  const info = body.phone_info as Body | null | undefined;
  const phone = typeof info === 'object' && info !== null ? info : {};
  const auth = body.authorization_info as Body | null | undefined;
  const info2 = typeof auth === 'object' && auth !== null ? auth : {};
  return [
    body.access_token,
    body.component_access_token,
    body.authorizer_access_token,
    body.authorizer_refresh_token,
    body.pre_auth_code,
    info2.authorizer_access_token,
    info2.authorizer_refresh_token,
    body.session_key,
    body.ticket,
    phone.phoneNumber,
    phone.purePhoneNumber,
  ].filter((v): v is string => typeof v === 'string' && v !== '');
}
