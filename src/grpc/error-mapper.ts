import * as grpc from '@grpc/grpc-js';
import {
  CallerRateLimitedError,
  PermissionDeniedError,
  UnauthenticatedError,
  AppNotFoundError,
  ComponentNotFoundError,
  InvalidArgumentError,
  RefreshRateLimitedError,
  SessionNotFoundError,
  StoreUnavailableError,
  TicketNotConfiguredError,
  TooManyStreamsError,
} from '../shared/errors.js';
import { AtRestDecryptError } from '../redis/at-rest-cipher.js';
import { FencedWriteError } from '../token/token-store.js';
import { UserDataDecryptError, WatermarkMismatchError } from '../login/wechat-crypto.js';
import type { WeChatError } from '../wechat/wechat-error.js';
import { isWeChatError } from '../wechat/wechat-error.js';
import {
  AppMisconfiguredError,
  LoginCodeError,
  TokenUnavailableError,
} from '../wechat/upstream-errors.js';

export interface StatusObject {
  readonly code: grpc.status;
  readonly details: string;
  readonly metadata: grpc.Metadata;
  /** false for errors we did not expect: the boundary logs them with their stack. */
  readonly expected: boolean;
}

/**
 * The one place domain errors become gRPC statuses (style.md point 12). WeChat's errcode and
 * errmsg travel in trailing metadata (`wechat-errcode`, `wechat-errmsg`, `wechat-error-kind`)
 * so callers can branch on them; anything unexpected becomes INTERNAL with a generic message.
 */
export function toStatus(err: unknown): StatusObject {
  const metadata = new grpc.Metadata();
  const status = (code: grpc.status, details: string, wechat?: WeChatError): StatusObject => {
    if (wechat) addWeChatMetadata(metadata, wechat);
    return { code, details, metadata, expected: true };
  };
  if (err instanceof UnauthenticatedError) return status(grpc.status.UNAUTHENTICATED, err.message);
  if (err instanceof PermissionDeniedError)
    return status(grpc.status.PERMISSION_DENIED, err.message);
  if (err instanceof CallerRateLimitedError) {
    metadata.set('retry-after-ms', String(Math.ceil(err.retryAfterMs)));
    return status(grpc.status.RESOURCE_EXHAUSTED, err.message);
  }
  if (err instanceof TooManyStreamsError)
    return status(grpc.status.RESOURCE_EXHAUSTED, err.message);
  if (err instanceof InvalidArgumentError) return status(grpc.status.INVALID_ARGUMENT, err.message);
  if (err instanceof AppNotFoundError) return status(grpc.status.NOT_FOUND, err.message);
  if (err instanceof ComponentNotFoundError) return status(grpc.status.NOT_FOUND, err.message);
  if (err instanceof TicketNotConfiguredError)
    return status(grpc.status.FAILED_PRECONDITION, err.message);
  if (err instanceof TokenUnavailableError) {
    const last = err.lastError ? `; last upstream error: ${err.lastError.message}` : '';
    return status(grpc.status.UNAVAILABLE, err.message + last, err.lastError);
  }
  if (err instanceof RefreshRateLimitedError) {
    if (err.retryAfterMs > 0) metadata.set('retry-after-ms', String(Math.ceil(err.retryAfterMs)));
    return status(grpc.status.RESOURCE_EXHAUSTED, err.message);
  }
  if (err instanceof AppMisconfiguredError) {
    return status(grpc.status.FAILED_PRECONDITION, err.message, err.upstream);
  }
  if (isWeChatError(err)) {
    const code =
      err.kind === 'config'
        ? grpc.status.FAILED_PRECONDITION
        : err.kind === 'quota'
          ? grpc.status.RESOURCE_EXHAUSTED
          : grpc.status.UNAVAILABLE;
    return status(code, err.message, err);
  }
  if (err instanceof LoginCodeError) {
    const code = {
      invalid_code: grpc.status.INVALID_ARGUMENT,
      code_used: grpc.status.FAILED_PRECONDITION,
      blocked: grpc.status.PERMISSION_DENIED,
      rate_limited: grpc.status.RESOURCE_EXHAUSTED,
    }[err.problem];
    return status(code, err.message, err.upstream);
  }
  if (err instanceof SessionNotFoundError) return status(grpc.status.NOT_FOUND, err.message);
  if (err instanceof WatermarkMismatchError) {
    return status(grpc.status.PERMISSION_DENIED, err.message);
  }
  if (err instanceof UserDataDecryptError) return status(grpc.status.INVALID_ARGUMENT, err.message);
  if (err instanceof StoreUnavailableError) return status(grpc.status.UNAVAILABLE, err.message);
  if (err instanceof FencedWriteError) {
    return status(grpc.status.UNAVAILABLE, 'the refresh lost its lock to another replica; retry');
  }
  if (err instanceof AtRestDecryptError) {
    return err.reason === 'unknown_key'
      ? status(
          grpc.status.FAILED_PRECONDITION,
          `a record in Redis is sealed with at-rest key id ${quotedKeyId(err.keyId)}, which is not configured; add it to redis.encryption.keys`,
        )
      : status(
          grpc.status.DATA_LOSS,
          `stored record failed authentication (at-rest key id ${quotedKeyId(err.keyId)}): malformed, tampered with, or the key changed`,
        );
  }
  return { code: grpc.status.INTERNAL, details: 'internal error', metadata, expected: false };
}

function addWeChatMetadata(metadata: grpc.Metadata, err: WeChatError): void {
  if (err.errcode !== null) metadata.set('wechat-errcode', String(err.errcode));
  metadata.set('wechat-errmsg', asciiHeaderValue(err.errmsg));
  metadata.set('wechat-error-kind', err.kind);
}

/**
 * The key id comes from the stored value itself: quote it only when it looks like a key id
 * (the pattern AtRestCipher accepts), so a corrupt value never leaks ciphertext into a status.
 */
function quotedKeyId(keyId: string): string {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(keyId) ? JSON.stringify(keyId) : '(unreadable)';
}

/** Metadata values must be printable ASCII; WeChat's errmsg normally is, but never trust it. */
function asciiHeaderValue(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, '?').slice(0, 512);
}
