import type { WeChatError } from './wechat-error.js';

/**
 * The domain errors that carry the WeChat error behind them (as `cause` and as a field the gRPC
 * error mapper turns into `wechat-errcode` metadata). The other domain errors are in
 * src/shared/errors.ts, which cannot name WeChatError: shared/ imports nothing from the rest.
 */

/**
 * No live credential exists (invariant 3): the access_token, or a ticket (`credential` names
 * it). Carries the last upstream error when there is one.
 */
export class TokenUnavailableError extends Error {
  override readonly name = 'TokenUnavailableError';
  constructor(
    readonly appId: string,
    readonly reason: string,
    readonly lastError?: WeChatError,
    readonly credential = 'token',
  ) {
    super(`no live ${credential} for ${appId}: ${reason}`, { cause: lastError });
  }
}

/** WeChat rejected the app's configuration; retrying cannot fix it (FAILED_PRECONDITION). */
export class AppMisconfiguredError extends Error {
  override readonly name = 'AppMisconfiguredError';
  constructor(
    readonly appId: string,
    readonly upstream: WeChatError,
  ) {
    super(`app ${appId} is misconfigured: ${upstream.message}`, { cause: upstream });
  }
}

/** What WeChat said about a login code, as the caller needs to act on it. */
export type LoginCodeProblem = 'invalid_code' | 'code_used' | 'blocked' | 'rate_limited';

/**
 * WeChat refused a single-use code (40029, 40163, 40226, 45011): a wx.login() code
 * (jscode2session, field js_code) or a getPhoneNumber button code (field code).
 */
export class LoginCodeError extends Error {
  override readonly name = 'LoginCodeError';
  constructor(
    readonly problem: LoginCodeProblem,
    readonly upstream: WeChatError,
    readonly field: 'js_code' | 'code' = 'js_code',
  ) {
    super(
      problem === 'invalid_code'
        ? field === 'js_code'
          ? 'js_code: invalid or expired code (40029); get a new one with wx.login()'
          : 'code: invalid, used or expired code (40029); have the user tap the getPhoneNumber button again'
        : problem === 'code_used'
          ? `${field}: this code was already exchanged by someone else (40163)`
          : problem === 'blocked'
            ? 'login blocked by WeChat for this user (40226, high-risk user)'
            : 'too many logins for this user; retry next minute (45011)',
      { cause: upstream },
    );
  }
}
