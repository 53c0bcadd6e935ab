import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { toStatus } from '../../src/grpc/error-mapper.js';
import { AtRestCipher, AtRestDecryptError } from '../../src/redis/at-rest-cipher.js';
import {
  AppNotFoundError,
  InvalidArgumentError,
  RefreshRateLimitedError,
} from '../../src/shared/errors.js';
import { FencedWriteError } from '../../src/token/token-store.js';
import { AppMisconfiguredError, TokenUnavailableError } from '../../src/wechat/upstream-errors.js';
import { WeChatError } from '../../src/wechat/wechat-error.js';

const APP = 'wxmapper00000001';
const busy = new WeChatError('token', -1, 'system error');
const badSecret = new WeChatError('token', 40125, 'invalid appsecret');
const dailyQuota = new WeChatError('token', 45009, 'reach max api daily quota limit');

/** The metadata a status carries, as a plain object of first values. */
function metadataOf(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, values] of Object.entries(toStatus(err).metadata.getMap())) {
    out[key] = String(values);
  }
  return out;
}

describe('toStatus: one error boundary (style.md point 12)', () => {
  it.each([
    // invariant 9: bad input, clear answer
    [
      'InvalidArgumentError',
      new InvalidArgumentError('app_id', 'must not be empty'),
      status.INVALID_ARGUMENT,
    ],
    ['AppNotFoundError', new AppNotFoundError(APP), status.NOT_FOUND],
    // invariant 3: no live token → UNAVAILABLE
    ['TokenUnavailableError', new TokenUnavailableError(APP, 'no token yet'), status.UNAVAILABLE],
    [
      'TokenUnavailableError with a last error',
      new TokenUnavailableError(APP, 'expired', busy),
      status.UNAVAILABLE,
    ],
    // invariant 6: forced refreshes are rate-limited
    [
      'RefreshRateLimitedError min_interval',
      new RefreshRateLimitedError(APP, 'min_interval', 4000),
      status.RESOURCE_EXHAUSTED,
    ],
    [
      'RefreshRateLimitedError daily_budget',
      new RefreshRateLimitedError(APP, 'daily_budget', 0),
      status.RESOURCE_EXHAUSTED,
    ],
    [
      'RefreshRateLimitedError upstream_quota',
      new RefreshRateLimitedError(APP, 'upstream_quota', 0),
      status.RESOURCE_EXHAUSTED,
    ],
    [
      'AppMisconfiguredError',
      new AppMisconfiguredError(APP, badSecret),
      status.FAILED_PRECONDITION,
    ],
    // invariant 2: a refresh that lost its lock is retryable for the caller
    [
      'FencedWriteError lock_not_held',
      new FencedWriteError(APP, 'lock_not_held', 3, 2),
      status.UNAVAILABLE,
    ],
    [
      'FencedWriteError stale_generation',
      new FencedWriteError(APP, 'stale_generation', 2, 2),
      status.UNAVAILABLE,
    ],
    // a record in Redis that this server cannot open: an operator's fix, not a retry
    [
      'AtRestDecryptError unknown_key',
      new AtRestDecryptError('k1', 'unknown_key'),
      status.FAILED_PRECONDITION,
    ],
    ['AtRestDecryptError bad_value', new AtRestDecryptError('k1', 'bad_value'), status.DATA_LOSS],
  ])('%s → %s', (_, err, code) => {
    const s = toStatus(err);
    expect(s.code).toBe(code);
    expect(s.expected).toBe(true);
  });

  it.each([
    // kind, errcode, grpc status
    ['retryable', -1, status.UNAVAILABLE],
    ['retryable', 45011, status.UNAVAILABLE],
    ['retryable', null, status.UNAVAILABLE], // transport failure
    ['quota', 45009, status.RESOURCE_EXHAUSTED],
    ['config', 40013, status.FAILED_PRECONDITION],
    ['config', 40164, status.FAILED_PRECONDITION],
    ['token_invalid', 40001, status.UNAVAILABLE],
    ['token_invalid', 42001, status.UNAVAILABLE],
    ['unknown', 99999, status.UNAVAILABLE],
  ] as const)('WeChatError kind %s (errcode %s) → %s', (kind, errcode, code) => {
    const err = new WeChatError('token', errcode, 'msg');
    expect(err.kind).toBe(kind);
    const s = toStatus(err);
    expect(s.code).toBe(code);
    expect(s.expected).toBe(true);
    expect(s.details).toBe(err.message);
  });

  it('InvalidArgumentError details name the field (invariant 9)', () => {
    expect(toStatus(new InvalidArgumentError('app_id', 'must not be empty')).details).toBe(
      'app_id: must not be empty',
    );
  });

  it('FencedWriteError details say to retry without leaking generations', () => {
    const { details } = toStatus(new FencedWriteError(APP, 'lock_not_held', 3, 2));
    expect(details).toMatch(/retry/);
    expect(details).not.toMatch(/generation/);
  });
});

describe('toStatus: WeChat errcode/errmsg travel in metadata', () => {
  it.each([
    ['a WeChatError', dailyQuota, dailyQuota],
    [
      'TokenUnavailableError with a last upstream error',
      new TokenUnavailableError(APP, 'expired', busy),
      busy,
    ],
    ['AppMisconfiguredError', new AppMisconfiguredError(APP, badSecret), badSecret],
  ])('%s carries wechat-errcode, wechat-errmsg and wechat-error-kind', (_, err, upstream) => {
    expect(metadataOf(err)).toEqual({
      'wechat-errcode': String(upstream.errcode),
      'wechat-errmsg': upstream.errmsg,
      'wechat-error-kind': upstream.kind,
    });
  });

  it('a transport failure (no errcode) carries errmsg and kind but no wechat-errcode', () => {
    expect(metadataOf(WeChatError.transport('token', 'timeout after 5000 ms'))).toEqual({
      'wechat-errmsg': 'timeout after 5000 ms',
      'wechat-error-kind': 'retryable',
    });
  });

  it('TokenUnavailableError says why: details include the last upstream error (invariant 3)', () => {
    const s = toStatus(new TokenUnavailableError(APP, 'token expired', busy));
    expect(s.details).toBe(
      `no live token for ${APP}: token expired; last upstream error: ${busy.message}`,
    );
  });

  it('TokenUnavailableError without an upstream error has no WeChat metadata', () => {
    expect(metadataOf(new TokenUnavailableError(APP, 'no token yet'))).toEqual({});
  });

  it.each([
    ['Chinese text', '系统繁忙', '????'],
    ['mixed text', 'invalid ip 1.2.3.4 ，不在白名单', 'invalid ip 1.2.3.4 ??????'],
    ['control characters', 'line1\r\nline2\ttab\0', 'line1??line2?tab?'],
    ['DEL and high bytes', 'a\x7fb\xffc', 'a?b?c'],
  ])('sanitizes a non-ASCII errmsg (%s) to printable ASCII in metadata', (_, errmsg, expected) => {
    const err = new WeChatError('token', -1, errmsg);
    const s = toStatus(err);
    expect(s.metadata.get('wechat-errmsg')).toEqual([expected]);
    // The details (grpc-message is percent-encoded on the wire) keep the original text.
    expect(s.details).toContain(errmsg);
  });

  it('caps a huge errmsg in metadata at 512 characters', () => {
    const s = toStatus(new WeChatError('token', -1, 'x'.repeat(10_000)));
    expect(s.metadata.get('wechat-errmsg')[0]).toHaveLength(512);
  });
});

describe('toStatus: retry-after-ms for rate-limited forced refreshes (invariant 6)', () => {
  it.each([
    ['a positive wait', 4000, '4000'],
    ['a fractional wait, rounded up', 1234.2, '1235'],
    ['no wait (daily budget)', 0, undefined],
    ['a negative wait', -5, undefined],
  ])('%s: retryAfterMs %d → retry-after-ms %s', (_, retryAfterMs, expected) => {
    const s = toStatus(new RefreshRateLimitedError(APP, 'min_interval', retryAfterMs));
    expect(s.metadata.get('retry-after-ms')[0]).toBe(expected);
  });
});

describe('toStatus: at-rest decryption errors say what to fix, never what was stored', () => {
  const sealedUnder = (keyId: string, plaintext: string): string =>
    new AtRestCipher(new Map([[keyId, Buffer.alloc(32, 7)]]), keyId).seal(plaintext, 'ctx');

  it('unknown_key names the key id and the config key to fix', () => {
    const s = toStatus(new AtRestDecryptError('2024-q1', 'unknown_key'));
    expect(s).toMatchObject({ code: status.FAILED_PRECONDITION, expected: true });
    expect(s.details).toContain('"2024-q1"');
    expect(s.details).toContain('redis.encryption.keys');
    expect(s.metadata.toJSON()).toEqual({});
  });

  it('bad_value says the stored record failed authentication', () => {
    const s = toStatus(new AtRestDecryptError('k1', 'bad_value'));
    expect(s).toMatchObject({ code: status.DATA_LOSS, expected: true });
    expect(s.details).toMatch(/^stored record failed authentication/);
    expect(s.details).toContain('"k1"');
  });

  it.each([
    ['unknown_key', 'k9'],
    ['bad_value', 'k1'],
  ] as const)('%s from a real sealed value: no plaintext, no ciphertext', (reason, configured) => {
    const sealed = sealedUnder('k1', 'ACCESS_TOKEN_PLAINTEXT');
    // The last ciphertext characters flipped: the GCM tag no longer authenticates.
    const tampered = sealed.slice(0, -4) + (sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const cipher = new AtRestCipher(new Map([[configured, Buffer.alloc(32, 7)]]), configured);
    const err = (() => {
      try {
        return cipher.open(tampered, 'ctx');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(AtRestDecryptError);
    expect((err as AtRestDecryptError).reason).toBe(reason);
    const { details } = toStatus(err);
    expect(details).not.toContain('ACCESS_TOKEN_PLAINTEXT');
    for (const part of sealed.split(':').slice(3)) expect(details).not.toContain(part);
  });

  it.each([
    ['an overlong key id', 'A'.repeat(65)],
    ['a key id with odd characters', 'k1\u0000/../x'],
    ['an empty key id', ''],
  ])('does not echo %s from a corrupt value', (_, keyId) => {
    for (const reason of ['unknown_key', 'bad_value'] as const) {
      const { details } = toStatus(new AtRestDecryptError(keyId, reason));
      expect(details).toContain('(unreadable)');
      if (keyId !== '') expect(details).not.toContain(keyId);
    }
  });
});

describe('toStatus: unexpected errors become INTERNAL without leaking (invariant 8)', () => {
  class SecretCarryingError extends Error {
    override readonly name = 'SecretCarryingError';
  }

  it.each([
    ['a plain Error', new Error('redis: connection to secret-host:6379 lost, AppSecret=s3cr3t')],
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'secret')")],
    ['an unknown Error subclass', new SecretCarryingError('session_key=abc')],
    ['a thrown string', 'AppSecret=s3cr3t'],
    ['undefined', undefined],
    ['null', null],
    ['an object that looks like a WeChatError', { errcode: 40001, errmsg: 'x', kind: 'config' }],
  ])('%s → INTERNAL "internal error", expected: false, no metadata', (_, err) => {
    const s = toStatus(err);
    expect(s).toMatchObject({ code: status.INTERNAL, details: 'internal error', expected: false });
    expect(s.metadata.toJSON()).toEqual({});
  });

  it('each call gets its own metadata (no state shared between calls)', () => {
    const first = toStatus(dailyQuota);
    const second = toStatus(new Error('boom'));
    expect(first.metadata).not.toBe(second.metadata);
    expect(second.metadata.toJSON()).toEqual({});
  });
});
