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

/** The endpoints wxtoken calls, as metric/log labels. */
export type WeChatEndpoint = 'token' | 'stable_token' | 'get_api_domain_ip' | 'jscode2session';

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
export const isQuotaExhausted = (err: unknown): boolean =>
  isWeChatError(err) && err.kind === 'quota';
export const isConfigError = (err: unknown): boolean => isWeChatError(err) && err.kind === 'config';
