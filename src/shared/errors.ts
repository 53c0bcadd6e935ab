import type { WeChatError } from '../wechat/wechat-error.js';

/**
 * The domain's error classes. Each carries data fields rather than formatted strings;
 * src/grpc/error-mapper.ts is the one place that turns them into gRPC statuses.
 */

/** A request field is malformed (invariant 9). */
export class InvalidArgumentError extends Error {
  override readonly name = 'InvalidArgumentError';
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

/** The app is not configured on this server. */
export class AppNotFoundError extends Error {
  override readonly name = 'AppNotFoundError';
  constructor(readonly appId: string) {
    super(`app ${appId} is not configured`);
  }
}

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

/** The app exists but has not opted into this ticket type (`apps[].tickets`). */
export class TicketNotConfiguredError extends Error {
  override readonly name = 'TicketNotConfiguredError';
  constructor(
    readonly appId: string,
    readonly type: string,
  ) {
    super(
      `app ${appId} has no ${type} ticket: add ${type} to its apps[].tickets in the configuration`,
    );
  }
}

/** A forced refresh was refused to protect WeChat's daily quota. */
export class RefreshRateLimitedError extends Error {
  override readonly name = 'RefreshRateLimitedError';
  constructor(
    readonly appId: string,
    readonly limit: 'min_interval' | 'daily_budget' | 'upstream_quota',
    readonly retryAfterMs: number,
  ) {
    super(
      limit === 'min_interval'
        ? `forced refresh of ${appId} refused: the last one was less than the minimum interval ago; retry in ${Math.ceil(retryAfterMs / 1000)} s`
        : limit === 'daily_budget'
          ? `forced refresh of ${appId} refused: today's forced-refresh budget is spent`
          : `forced refresh of ${appId} refused: WeChat's daily token quota is spent (45009)`,
    );
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

/** The server is shutting down or not ready. */
export class ShuttingDownError extends Error {
  override readonly name = 'ShuttingDownError';
  constructor() {
    super('server is shutting down');
  }
}

/** The shared store (Redis) cannot be reached or did not reach quorum; retry later. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    super(`store unavailable: ${operation}`, options);
  }
}

/** What WeChat said about a login code, as the caller needs to act on it. */
export type LoginCodeProblem = 'invalid_code' | 'code_used' | 'blocked' | 'rate_limited';

/** jscode2session refused the code (40029, 40163, 40226, 45011). */
export class LoginCodeError extends Error {
  override readonly name = 'LoginCodeError';
  constructor(
    readonly problem: LoginCodeProblem,
    readonly upstream: WeChatError,
  ) {
    super(
      problem === 'invalid_code'
        ? 'js_code: invalid or expired code (40029); get a new one with wx.login()'
        : problem === 'code_used'
          ? 'js_code: this code was already exchanged by someone else (40163)'
          : problem === 'blocked'
            ? 'login blocked by WeChat for this user (40226, high-risk user)'
            : 'too many logins for this user; retry next minute (45011)',
      { cause: upstream },
    );
  }
}

/** No live session for a handle (never issued, expired, or from another deployment). */
export class SessionNotFoundError extends Error {
  override readonly name = 'SessionNotFoundError';
  constructor() {
    super('session_handle: no such session (expired or never issued)');
  }
}

/** No or unknown credentials (UNAUTHENTICATED). */
export class UnauthenticatedError extends Error {
  override readonly name = 'UnauthenticatedError';
}

/** Known caller, not allowed (PERMISSION_DENIED); never says whether an app exists. */
export class PermissionDeniedError extends Error {
  override readonly name = 'PermissionDeniedError';
}

/** A caller exceeded its own rate limit (RESOURCE_EXHAUSTED). */
export class CallerRateLimitedError extends Error {
  override readonly name = 'CallerRateLimitedError';
  constructor(
    readonly caller: string,
    readonly method: string,
    readonly retryAfterMs: number,
    subject = 'caller',
  ) {
    super(
      `${subject} ${caller} exceeded its ${method} rate limit; retry in ${Math.ceil(retryAfterMs)} ms`,
    );
  }
}

/** A caller holds as many WatchToken streams as it may (RESOURCE_EXHAUSTED). */
export class TooManyStreamsError extends Error {
  override readonly name = 'TooManyStreamsError';
  constructor(
    readonly caller: string,
    readonly limit: number,
  ) {
    super(
      `caller ${caller} already holds ${limit} WatchToken streams on this replica ` +
        '(grpc.maxWatchStreamsPerCaller); close one or share a stream per app',
    );
  }
}
