/**
 * One taxonomy for every WeChat failure, used by the refresher, the gRPC error mapper,
 * ListApps and the metrics. Clients must match on errcode, never on errmsg (wechat-api.md §0).
 */
export type WeChatErrorKind =
  /** -1 busy, 45011 minute quota, timeouts, 5xx, non-JSON bodies: retry with backoff. */
  | 'retryable'
  /** 45009 daily quota: stop until the day turns or an operator clears the quota. */
  | 'quota'
  /** Wrong appid/secret, IP whitelist, frozen or barred account: retrying cannot fix it. */
  | 'config'
  /** 40001 / 40014 / 42001: the access_token used was rejected. */
  | 'token_invalid'
  /** Anything else: treated like retryable, but reported as unknown. */
  | 'unknown';

const KIND_BY_ERRCODE: ReadonlyMap<number, WeChatErrorKind> = new Map([
  [-1, 'retryable'],
  [45011, 'retryable'],
  [45009, 'quota'],
  [40002, 'config'],
  [40013, 'config'],
  [40125, 'config'],
  [40164, 'config'],
  [40243, 'config'],
  [41002, 'config'],
  [41004, 'config'],
  [50004, 'config'],
  [50007, 'config'],
  [61024, 'config'],
  // Third-party platforms: the verify ticket is expired or unknown (wait for WeChat's next
  // push), the authorizer's refresh token is no longer valid (RecoverAuthorizers), the
  // authorization code is used or expired.
  [61003, 'config'],
  [61005, 'config'],
  [61006, 'config'],
  [61023, 'config'],
  [89501, 'config'],
  [89503, 'config'],
  [89506, 'config'],
  [89507, 'config'],
  [40001, 'token_invalid'],
  [40014, 'token_invalid'],
  [42001, 'token_invalid'],
]);

export function classifyErrcode(errcode: number): WeChatErrorKind {
  return KIND_BY_ERRCODE.get(errcode) ?? 'unknown';
}

/**
 * An errcode as a metric label: the ones wxtoken knows keep their number, any other becomes
 * "other" (its number is in the log line), so an upstream answering a new errcode per call
 * cannot grow the label set without bound. Transport failures (no errcode) are "none".
 */
export function errcodeLabel(errcode: number | null): string {
  if (errcode === null) return 'none';
  return KIND_BY_ERRCODE.has(errcode) || LOGIN_KIND_BY_ERRCODE.has(errcode)
    ? String(errcode)
    : 'other';
}

/** The endpoints wxtoken calls, as metric/log labels. */
export type WeChatEndpoint =
  | 'token'
  | 'stable_token'
  | 'get_api_domain_ip'
  | 'jscode2session'
  | 'checksession'
  | 'resetusersessionkey'
  | 'getticket'
  | 'getuserphonenumber'
  | 'getpaidunionid'
  | 'api_component_token'
  | 'api_create_preauthcode'
  | 'api_query_auth'
  | 'api_authorizer_token'
  | 'api_get_authorizer_list'
  /** No call was made: a third-party credential's precondition is missing (no verify ticket yet). */
  | 'component';

/**
 * What a login-endpoint errcode (wechat-api.md §4-§6) says about the user's request, for the
 * login service. The kinds above still apply to these errors (-1 and 45011 are `retryable`,
 * 40001/40014/42001 `token_invalid`, 40013/40125 `config`), but the codes below classify as
 * `unknown`, which `isRetryable` treats as retryable: a login caller must ask
 * `loginErrorKind` first, because retrying a used or invalid code can never succeed.
 */
export type LoginErrorKind =
  /** 40029: the code is wrong, older than 5 minutes, or from another appid. */
  | 'invalid_code'
  /** 40163: the code was already exchanged (codes are single-use). */
  | 'code_used'
  /** 40226: WeChat blocked this (high-risk) user's login. */
  | 'blocked'
  /** 45011: the per-user (code2Session) or per-appid (reset) minute limit. */
  | 'rate_limited'
  /** 87009: the signature does not match the user's current session_key (stale or wrong). */
  | 'invalid_signature'
  /** 87007: the user has no session_key any more (expired or never existed). */
  | 'session_gone';

/**
 * The login errcodes with a meaning for the caller. Deliberately absent: 87008 (invalid
 * sig_method) and 40097 (invalid args), which mean wxtoken built a bad request, and -1.
 */
const LOGIN_KIND_BY_ERRCODE: ReadonlyMap<number, LoginErrorKind> = new Map([
  [40029, 'invalid_code'],
  [40163, 'code_used'],
  [40226, 'blocked'],
  [45011, 'rate_limited'],
  [87009, 'invalid_signature'],
  [87007, 'session_gone'],
]);

/** The login meaning of an errcode, or undefined (null, the transport case, included). */
export function loginErrorKind(errcode: number | null): LoginErrorKind | undefined {
  return errcode === null ? undefined : LOGIN_KIND_BY_ERRCODE.get(errcode);
}

/**
 * A failed WeChat call. `errcode` is WeChat's, or null for transport failures (timeout,
 * connection refused, HTTP 5xx, body that is not JSON), which are always retryable.
 * The message never contains the request URL (it carries the secret) nor any token.
 */
export class WeChatError extends Error {
  override readonly name = 'WeChatError';
  readonly kind: WeChatErrorKind;

  constructor(
    readonly endpoint: WeChatEndpoint,
    readonly errcode: number | null,
    readonly errmsg: string,
    options?: { cause?: unknown },
  ) {
    super(
      errcode === null
        ? `WeChat ${endpoint}: ${errmsg}`
        : `WeChat ${endpoint} errcode ${errcode}: ${errmsg}`,
      options,
    );
    this.kind = errcode === null ? 'retryable' : classifyErrcode(errcode);
  }

  static transport(endpoint: WeChatEndpoint, message: string, cause?: unknown): WeChatError {
    return new WeChatError(endpoint, null, message, { cause });
  }
}

export function isWeChatError(err: unknown): err is WeChatError {
  return err instanceof WeChatError;
}

export const isTokenInvalid = (err: unknown): boolean =>
  isWeChatError(err) && err.kind === 'token_invalid';
export const isRetryable = (err: unknown): boolean =>
  isWeChatError(err) && (err.kind === 'retryable' || err.kind === 'unknown');

/** What an operator should do about a configuration or quota error, for logs and ListApps. */
const HINTS: ReadonlyMap<number, string> = new Map([
  [40002, 'grant_type rejected: report this as a wxtoken bug'],
  [40013, 'WeChat does not know this appId: check apps[].appId'],
  [
    40125,
    'wrong AppSecret: check the secretEnv/secretFile value (reset in the WeChat console if leaked)',
  ],
  [40164, "this server's egress IP is not in the app's IP whitelist: add it in the WeChat console"],
  [40243, 'the AppSecret is frozen: unfreeze it in the WeChat console (takes ~10 min)'],
  [41002, 'appid missing: check apps[].appId'],
  [41004, 'secret missing: check the secretEnv/secretFile value'],
  [
    45009,
    'daily token quota spent: wait for 00:00 Asia/Shanghai or clear it (clear_quota), then `wxtoken refresh`',
  ],
  [50004, 'the account is barred from the token API (possibly a penalty): see the WeChat console'],
  [50007, 'the account is frozen: see the WeChat console'],
  [
    61003,
    'the mini program does not authorize this third-party platform (any more): the customer authorizes it again',
  ],
  [
    61005,
    "component_verify_ticket expired: wxtoken waits for WeChat's next push (every 10 min); check the events URL in the Open Platform console",
  ],
  [
    61006,
    "component_verify_ticket invalid: wxtoken waits for WeChat's next push; check componentAppId and the events URL",
  ],
  [
    61023,
    "the authorizer's refresh token is invalid: run RecoverAuthorizers (wxtoken component recover), or the customer re-authorizes",
  ],
  [61024, 'a third-party-platform app: it must use the component token API, not this server'],
  [89501, "this IP awaits the admin's confirmation in WeChat"],
  [
    89503,
    'this IP needs the admin to confirm it: ask the account admin to approve the WeChat notice',
  ],
  [89506, 'the admin rejected this IP twice: blocked for 24 h'],
  [89507, 'the admin rejected this IP: blocked for 1 h'],
]);

export function operatorHint(err: WeChatError): string | undefined {
  return err.errcode === null ? undefined : HINTS.get(err.errcode);
}
