/**
 * The domain's error classes. Each carries data fields rather than formatted strings;
 * src/grpc/error-mapper.ts is the one place that turns them into gRPC statuses. The ones that
 * carry the WeChat error behind them are in src/wechat/upstream-errors.ts: shared/ imports
 * nothing from the rest of src/.
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

/** No third-party platform with this component appid is configured (`components[]`). */
export class ComponentNotFoundError extends Error {
  override readonly name = 'ComponentNotFoundError';
  constructor(readonly componentAppId: string) {
    super(`component ${componentAppId} is not configured (components[].componentAppId)`);
  }
}
