import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';

/** WeChat's "this access_token is dead" errcodes: invalid, invalid (not the latest), expired. */
export const TOKEN_INVALID_ERRCODES: ReadonlySet<number> = new Set([40001, 40014, 42001]);

/** The errcode of a thrown error or a returned body: a number or a numeric string; else null. */
export function errcodeOf(value: unknown): number | null {
  if (typeof value !== 'object' || value === null || !('errcode' in value)) return null;
  const raw = (value as { errcode: unknown }).errcode;
  if (typeof raw === 'number') return Number.isInteger(raw) ? raw : null;
  if (typeof raw === 'string' && /^-?\d{1,10}$/.test(raw.trim())) return Number(raw.trim());
  return null;
}

/** True when `value` (an error or a reply body) carries 40001, 40014 or 42001. */
export function isTokenInvalid(value: unknown): boolean {
  const code = errcodeOf(value);
  return code !== null && TOKEN_INVALID_ERRCODES.has(code);
}

const STATUS_NAMES = new Map<number, string>(
  Object.entries(grpcStatus)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .map(([name, code]) => [code, name]),
);

export interface WxTokenErrorFields {
  /** gRPC status code (number), or null when no call was made (closed client, local limits). */
  readonly code?: number | null;
  /** WeChat's errcode when the server carried one (`wechat-errcode` trailing metadata). */
  readonly errcode?: number | null;
  readonly errmsg?: string | null;
  readonly appId?: string | null;
  /** Server's hint, milliseconds before a retry may succeed (`retry-after-ms`). */
  readonly retryAfterMs?: number | null;
  readonly cause?: unknown;
}

/**
 * Every error this package throws. `code`/`codeName` are the gRPC status ("UNAVAILABLE", 14),
 * `errcode`/`errmsg` WeChat's, when the server reported one.
 */
export class WxTokenError extends Error {
  override readonly name: string = 'WxTokenError';
  readonly code: number | null;
  readonly codeName: string | null;
  readonly errcode: number | null;
  readonly errmsg: string | null;
  readonly appId: string | null;
  readonly retryAfterMs: number | null;

  constructor(message: string, fields: WxTokenErrorFields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.code = fields.code ?? null;
    this.codeName = this.code === null ? null : (STATUS_NAMES.get(this.code) ?? 'UNKNOWN');
    this.errcode = fields.errcode ?? null;
    this.errmsg = fields.errmsg ?? null;
    this.appId = fields.appId ?? null;
    this.retryAfterMs = fields.retryAfterMs ?? null;
  }
}

/**
 * No live token can be given for `appId`: the server is unreachable (or refused) and the cached
 * token, if any, is at or within the safety margin of its `expiresAt`.
 */
export class TokenUnavailableError extends WxTokenError {
  override readonly name: string = 'TokenUnavailableError';
  /** Expiry of the last cached token (ms since the epoch), or null when none was ever cached. */
  readonly cachedExpiresAt: number | null;

  constructor(message: string, fields: WxTokenErrorFields & { cachedExpiresAt: number | null }) {
    super(message, fields);
    this.cachedExpiresAt = fields.cachedExpiresAt;
  }
}

/** A call on a closed client. */
export class ClientClosedError extends WxTokenError {
  override readonly name: string = 'ClientClosedError';
  constructor() {
    super('wxtoken client is closed');
  }
}

/** More distinct apps asked for than `maxApps` allows (the cache is bounded). */
export class TooManyAppsError extends WxTokenError {
  override readonly name: string = 'TooManyAppsError';
  constructor(appId: string, maxApps: number) {
    super(`wxtoken client caches at most ${maxApps} apps (maxApps); refused ${appId}`, {
      appId,
    });
  }
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number';
}

function firstMetadata(err: ServiceError, key: string): string | null {
  const v = err.metadata?.get(key)[0];
  return typeof v === 'string' ? v : null;
}

/** A failed gRPC call as a WxTokenError, with WeChat's errcode from the trailing metadata. */
export function fromGrpcError(err: unknown, method: string, appId: string | null): WxTokenError {
  if (err instanceof WxTokenError) return err;
  if (!isServiceError(err)) {
    return new WxTokenError(`${method} failed: ${String(err)}`, { appId, cause: err });
  }
  const errcode = firstMetadata(err, 'wechat-errcode');
  const retry = firstMetadata(err, 'retry-after-ms');
  return new WxTokenError(`${method}: ${err.details || err.message}`, {
    code: err.code,
    errcode: errcode !== null && /^-?\d+$/.test(errcode) ? Number(errcode) : null,
    errmsg: firstMetadata(err, 'wechat-errmsg'),
    appId,
    retryAfterMs: retry !== null && /^\d+$/.test(retry) ? Number(retry) : null,
    cause: err,
  });
}
