import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ANONYMOUS, Authorizer, type CallerConfig } from '../../src/auth/authorizer.js';
import {
  callerOfFailure,
  createCallGuard,
  SESSION_CALLS,
  type GuardedCall,
} from '../../src/auth/call-guard.js';
import { CallerRateLimiter } from '../../src/auth/caller-rate-limiter.js';
import { METHOD_SCOPES, SCOPES, type Scope } from '../../src/auth/scopes.js';
import { toStatus } from '../../src/grpc/error-mapper.js';
import {
  CallerRateLimitedError,
  PermissionDeniedError,
  UnauthenticatedError,
} from '../../src/shared/errors.js';
import { FakeClock } from '../support/fake-clock.js';

const APP_A = 'wxauthunit00000a';
const APP_B = 'wxauthunit00000b';
const NO_SUCH_APP = 'wxauthunitnosuch';

const sha256 = (key: string): string => createHash('sha256').update(key).digest('hex');

/** Keys as a deployment would generate them; only their digests go into the config. */
const KEYS = {
  reader: 'reader-key-6f1c0a7e2b',
  everything: 'everything-key-91d2c3',
  ops: 'ops-key-a17e4b',
} as const;

const CALLERS: CallerConfig[] = [
  { name: 'reader', keySha256: sha256(KEYS.reader), apps: [APP_A], scopes: ['token:read'] },
  { name: 'everything', keySha256: sha256(KEYS.everything), apps: ['*'], scopes: [...SCOPES] },
  {
    name: 'ops',
    keySha256: sha256(KEYS.ops),
    apps: [APP_A],
    scopes: ['token:read', 'token:refresh', 'admin'],
  },
  { name: 'oncall', certCommonName: 'oncall', apps: ['*'], scopes: ['token:read'] },
];

function metadata(authorization?: string): grpc.Metadata {
  const md = new grpc.Metadata();
  if (authorization !== undefined) md.set('authorization', authorization);
  return md;
}

function call(authorization?: string, peerCommonName?: string): GuardedCall {
  return {
    metadata: metadata(authorization),
    getAuthContext: () =>
      peerCommonName === undefined
        ? {}
        : { sslPeerCertificate: { subject: { CN: peerCommonName } } },
  };
}

/** The error `fn` throws (fails the test when it does not throw). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

/** A caller with exactly `scopes`, on every app, authenticated by its own key. */
function soloCaller(scopes: Scope[], apps: string[] = ['*']): { auth: Authorizer; key: string } {
  const key = `solo-${scopes.join('+')}-${apps.join('+')}`;
  return { auth: new Authorizer([{ name: 'solo', keySha256: sha256(key), apps, scopes }]), key };
}

/** A request for `method` that names APP_A (and, for ForceRefresh, a stale token: no admin needed). */
function requestFor(method: string): Record<string, string> {
  if (method === 'ListApps') return {};
  if (method === 'ForceRefresh') return { app_id: APP_A, stale_token: 'stale', reason: '' };
  if (['GetSession', 'DecryptUserData', 'CheckSession', 'ResetSessionKey'].includes(method)) {
    return { session_handle: 'h'.repeat(32) };
  }
  return { app_id: APP_A };
}

const unlimited = (): CallerRateLimiter => new CallerRateLimiter(new FakeClock(), {});

describe('Authorizer.authenticate: who is calling', () => {
  const auth = new Authorizer(CALLERS);

  it.each([
    ['no authorization metadata', undefined],
    ['an empty header', ''],
    ['a scheme other than Bearer', `Basic ${KEYS.reader}`],
    ['a wrong key', 'Bearer not-a-configured-key'],
    ['an empty key', 'Bearer '],
    ['the digest instead of the key', `Bearer ${sha256(KEYS.reader)}`],
    ['a key with one character changed', `Bearer ${KEYS.reader.slice(0, -1)}X`],
  ])('%s → UnauthenticatedError (UNAUTHENTICATED)', (_label, header) => {
    const err = thrown(() => auth.authenticate(metadata(header)));
    expect(err).toBeInstanceOf(UnauthenticatedError);
    expect(toStatus(err).code).toBe(grpc.status.UNAUTHENTICATED);
    // The answer never echoes what the caller sent.
    for (const key of Object.values(KEYS)) expect(err.message).not.toContain(key);
  });

  it.each(Object.entries(KEYS))('the right key → caller %s', (name, key) => {
    const caller = auth.authenticate(metadata(`Bearer ${key}`));
    expect(caller.name).toBe(name);
    expect(caller).not.toBe(ANONYMOUS);
  });

  it.each([
    ['bearer', `bearer ${KEYS.reader}`],
    ['BEARER', `BEARER ${KEYS.reader}`],
    ['BeArEr, two spaces', `BeArEr  ${KEYS.reader}`],
  ])('the scheme is case-insensitive (RFC 6750): %s → the caller', (_label, header) => {
    expect(auth.authenticate(metadata(header)).name).toBe('reader');
  });

  it('mTLS: a configured client certificate CN is the caller; an unknown CN is UNAUTHENTICATED', () => {
    expect(auth.authenticate(metadata(), 'oncall').name).toBe('oncall');
    const err = thrown(() => auth.authenticate(metadata(), 'stranger'));
    expect(err).toBeInstanceOf(UnauthenticatedError);
  });

  it('a wrong bearer key is refused even from a known certificate (no fallback to the weaker claim)', () => {
    expect(thrown(() => auth.authenticate(metadata('Bearer wrong'), 'oncall'))).toBeInstanceOf(
      UnauthenticatedError,
    );
  });

  it('no callers configured → anonymous, which may do everything (loopback or --insecure only)', () => {
    const none = new Authorizer([]);
    expect(none.enabled).toBe(false);
    expect(none.authenticate(metadata())).toBe(ANONYMOUS);
    expect(none.authenticate(metadata('Bearer anything'))).toBe(ANONYMOUS);
    for (const scope of SCOPES) none.authorize(ANONYMOUS, scope, NO_SUCH_APP);
  });
});

describe('createCallGuard: each scope against each method in METHOD_SCOPES', () => {
  const cases = Object.entries(METHOD_SCOPES).flatMap(([method, needed]) =>
    SCOPES.map((scope) => ({ method, scope, allowed: scope === needed })),
  );

  it.each(cases)('$method with only $scope → allowed: $allowed', ({ method, scope, allowed }) => {
    const { auth, key } = soloCaller([scope]);
    const guard = createCallGuard(auth, unlimited());
    const run = (): unknown => guard(method, call(`Bearer ${key}`), requestFor(method));
    if (allowed) {
      expect(run()).toMatchObject({ name: 'solo' });
    } else {
      const err = thrown(run);
      expect(err).toBeInstanceOf(PermissionDeniedError);
      expect(toStatus(err).code).toBe(grpc.status.PERMISSION_DENIED);
      expect(err.message).toContain(METHOD_SCOPES[method]);
    }
  });

  it('fails closed: a method with no scope in METHOD_SCOPES is refused even for a caller with every scope', () => {
    const { auth, key } = soloCaller([...SCOPES]);
    const guard = createCallGuard(auth, unlimited());
    const err = thrown(() => guard('SomeNewMethod', call(`Bearer ${key}`), {}));
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect(err.message).toMatch(/SomeNewMethod/);
  });

  it('authentication comes first: no key → UNAUTHENTICATED for every method, never PERMISSION_DENIED', () => {
    const guard = createCallGuard(new Authorizer(CALLERS), unlimited());
    for (const method of Object.keys(METHOD_SCOPES)) {
      expect(thrown(() => guard(method, call(), requestFor(method)))).toBeInstanceOf(
        UnauthenticatedError,
      );
    }
  });
});

describe('per-app authorization', () => {
  const auth = new Authorizer(CALLERS);
  const reader = auth.authenticate(metadata(`Bearer ${KEYS.reader}`));
  const guard = createCallGuard(auth, unlimited());

  it('an app in the caller’s list is allowed', () => {
    expect(() => auth.authorize(reader, 'token:read', APP_A)).not.toThrow();
    expect(guard('GetToken', call(`Bearer ${KEYS.reader}`), { app_id: APP_A }).name).toBe('reader');
  });

  it('another app → PERMISSION_DENIED, worded the same whether that app exists or not', () => {
    const existing = thrown(() =>
      guard('GetToken', call(`Bearer ${KEYS.reader}`), { app_id: APP_B }),
    );
    const missing = thrown(() =>
      guard('GetToken', call(`Bearer ${KEYS.reader}`), { app_id: NO_SUCH_APP }),
    );
    for (const err of [existing, missing]) {
      expect(err).toBeInstanceOf(PermissionDeniedError);
      expect(toStatus(err).code).toBe(grpc.status.PERMISSION_DENIED);
    }
    // Only the app id the caller itself sent differs.
    expect(existing.message.replace(APP_B, '<app>')).toBe(
      missing.message.replace(NO_SUCH_APP, '<app>'),
    );
    expect(existing.message).not.toMatch(/not (configured|found)|exist/i);
  });

  it('"*" allows every app, configured or not (existence is the handler’s business)', () => {
    const { auth: star, key } = soloCaller(['token:read'], ['*']);
    const g = createCallGuard(star, unlimited());
    for (const app of [APP_A, APP_B, NO_SUCH_APP]) {
      expect(g('GetToken', call(`Bearer ${key}`), { app_id: app }).name).toBe('solo');
    }
  });

  it('canUseApp filters ListApps and sessions by the same rule', () => {
    expect(auth.canUseApp(reader, APP_A)).toBe(true);
    expect(auth.canUseApp(reader, APP_B)).toBe(false);
    expect(auth.canUseApp(ANONYMOUS, APP_B)).toBe(true);
  });
});

describe('operator ForceRefresh (empty stale_token) needs admin', () => {
  const refreshOnly = soloCaller(['token:refresh']);
  const withAdmin = soloCaller(['token:refresh', 'admin']);
  const adminOnly = soloCaller(['admin']);

  it.each([
    ['token:refresh, stale token', refreshOnly, 'stale', true],
    ['token:refresh, empty stale token', refreshOnly, '', false],
    ['token:refresh + admin, empty stale token', withAdmin, '', true],
    ['admin without token:refresh, empty stale token', adminOnly, '', false],
  ] as const)('%s → allowed: %s', (_label, { auth, key }, stale, allowed) => {
    const guard = createCallGuard(auth, unlimited());
    const run = (): unknown =>
      guard('ForceRefresh', call(`Bearer ${key}`), {
        app_id: APP_A,
        stale_token: stale,
        reason: 'x',
      });
    if (allowed) expect(run()).toMatchObject({ name: 'solo' });
    else expect(thrown(run)).toBeInstanceOf(PermissionDeniedError);
  });
});

describe('CallerRateLimiter', () => {
  const perMinute = 6;
  const limits = {
    ForceRefresh: { perSecond: perMinute / 60, burst: perMinute },
    Code2Session: { perSecond: 2, burst: 2 },
  };

  it('allows a burst, then RESOURCE_EXHAUSTED with retryAfterMs; refills over time', async () => {
    const clock = new FakeClock();
    const limiter = new CallerRateLimiter(clock, limits);
    for (let i = 0; i < perMinute; i++) limiter.take('a', 'ForceRefresh');
    const err = thrown(() => limiter.take('a', 'ForceRefresh'));
    expect(err).toBeInstanceOf(CallerRateLimitedError);
    const retryAfterMs = (err as CallerRateLimitedError).retryAfterMs;
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(10_000); // one token per 10 s
    const status = toStatus(err);
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.metadata.get('retry-after-ms')).toEqual([String(Math.ceil(retryAfterMs))]);

    // Not yet: just short of the advertised wait.
    await clock.advance(retryAfterMs - 50);
    expect(() => limiter.take('a', 'ForceRefresh')).toThrow(CallerRateLimitedError);
    // The advertised wait is enough for exactly one more call.
    await clock.advance(50);
    limiter.take('a', 'ForceRefresh');
    expect(() => limiter.take('a', 'ForceRefresh')).toThrow(CallerRateLimitedError);

    // A full minute refills the whole burst, and never more than it.
    await clock.advance(10 * 60_000);
    for (let i = 0; i < perMinute; i++) limiter.take('a', 'ForceRefresh');
    expect(() => limiter.take('a', 'ForceRefresh')).toThrow(CallerRateLimitedError);
  });

  it('runs on the monotonic clock: a wall clock stepped back an hour blocks nobody, stepped forward a day refills nothing', async () => {
    const clock = new FakeClock();
    const limiter = new CallerRateLimiter(clock, limits);
    limiter.take('a', 'Code2Session');
    clock.stepWall(-3_600_000);
    limiter.take('a', 'Code2Session'); // the burst of 2 is still there
    const err = thrown(() => limiter.take('a', 'Code2Session')) as CallerRateLimitedError;
    expect(err.retryAfterMs).toBeLessThanOrEqual(500); // not an hour
    clock.stepWall(86_400_000);
    expect(() => limiter.take('a', 'Code2Session')).toThrow(CallerRateLimitedError);
    await clock.advance(500);
    limiter.take('a', 'Code2Session');
  });

  it('buckets are per caller and per method; unlimited methods are never limited', () => {
    const limiter = new CallerRateLimiter(new FakeClock(), limits);
    for (let i = 0; i < perMinute; i++) limiter.take('a', 'ForceRefresh');
    expect(() => limiter.take('a', 'ForceRefresh')).toThrow(CallerRateLimitedError);
    limiter.take('b', 'ForceRefresh'); // another caller is unaffected
    limiter.take('a', 'Code2Session'); // another method is unaffected
    limiter.take('a', 'Code2Session');
    expect(() => limiter.take('a', 'Code2Session')).toThrow(CallerRateLimitedError);
    for (let i = 0; i < 1000; i++) limiter.take('a', 'GetToken');
  });

  it('through the guard: a caller is limited, denied calls spend nothing, anonymous is never limited', () => {
    const clock = new FakeClock();
    const auth = new Authorizer(CALLERS);
    const guard = createCallGuard(auth, new CallerRateLimiter(clock, limits));
    const req = { app_id: APP_A, stale_token: 'stale', reason: '' };
    // The reader lacks token:refresh: its refused calls do not eat anyone's budget.
    for (let i = 0; i < 20; i++) {
      expect(
        thrown(() => guard('ForceRefresh', call(`Bearer ${KEYS.reader}`), req)),
      ).toBeInstanceOf(PermissionDeniedError);
    }
    for (let i = 0; i < perMinute; i++) guard('ForceRefresh', call(`Bearer ${KEYS.ops}`), req);
    const err = thrown(() => guard('ForceRefresh', call(`Bearer ${KEYS.ops}`), req));
    expect(err).toBeInstanceOf(CallerRateLimitedError);
    expect(toStatus(err).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    guard('ForceRefresh', call(`Bearer ${KEYS.everything}`), req); // another caller

    const open = createCallGuard(new Authorizer([]), new CallerRateLimiter(clock, limits));
    for (let i = 0; i < 10 * perMinute; i++) {
      expect(open('ForceRefresh', call(), req)).toBe(ANONYMOUS);
      expect(open('Code2Session', call(), { app_id: APP_A, js_code: 'c' })).toBe(ANONYMOUS);
    }
  });
});

describe('session calls are limited per caller and per session handle (issue 11 §3)', () => {
  const perSecond = (n: number) => ({ perSecond: n, burst: n });
  const perCaller = { CheckSession: perSecond(5), ResetSessionKey: perSecond(5) };
  const slow = { perSecond: 1 / 60, burst: 3 };
  const perHandle = { [SESSION_CALLS]: slow };

  it('one handle hammered through an open server is limited; another handle is not; the handle is never echoed', async () => {
    const clock = new FakeClock();
    // No auth: no per-caller limit, but the per-handle one still holds.
    const guard = createCallGuard(
      new Authorizer([]),
      new CallerRateLimiter(clock, perCaller),
      new CallerRateLimiter(clock, perHandle, 100, 'session'),
    );
    const handle = 'h'.repeat(32);
    for (let i = 0; i < 3; i++) guard('CheckSession', call(), { session_handle: handle });
    const err = thrown(() => guard('ResetSessionKey', call(), { session_handle: handle }));
    expect(err).toBeInstanceOf(CallerRateLimitedError);
    expect(toStatus(err).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.message).toMatch(/^session [0-9a-f]{8} exceeded its session calls rate limit/);
    expect(err.message).not.toContain(handle.slice(0, 8));
    guard('CheckSession', call(), { session_handle: 'k'.repeat(32) }); // another user
    await clock.advance(60_000);
    guard('CheckSession', call(), { session_handle: handle });
  });

  it('per caller: the 6th CheckSession in a second is RESOURCE_EXHAUSTED', () => {
    const clock = new FakeClock();
    const guard = createCallGuard(
      new Authorizer(CALLERS),
      new CallerRateLimiter(clock, perCaller),
      new CallerRateLimiter(clock, perHandle, 100, 'session'),
    );
    const as = call(`Bearer ${KEYS.everything}`);
    for (let i = 0; i < 5; i++) guard('CheckSession', as, { session_handle: `${i}`.repeat(32) });
    const err = thrown(() => guard('CheckSession', as, { session_handle: 'z'.repeat(32) }));
    expect(err.message).toMatch(/^caller everything exceeded its CheckSession rate limit/);
  });

  it('subjects chosen by callers cannot grow the buckets past the cap (least recently used forgotten)', () => {
    const clock = new FakeClock();
    const limiter = new CallerRateLimiter(clock, perHandle, 10, 'session');
    for (let i = 0; i < 1000; i++) limiter.take(`handle-${i}`, SESSION_CALLS);
    // The first handles were forgotten: they start a fresh bucket (not an error).
    for (let i = 0; i < 3; i++) limiter.take('handle-0', SESSION_CALLS);
    expect(() => limiter.take('handle-0', SESSION_CALLS)).toThrow(CallerRateLimitedError);
  });
});

describe('refusals name the caller they belong to (for the rpc log line)', () => {
  const clock = new FakeClock();
  const guard = createCallGuard(
    new Authorizer(CALLERS),
    new CallerRateLimiter(clock, { ForceRefresh: { perSecond: 1 / 60, burst: 1 } }),
  );

  it('UNAUTHENTICATED → "unauthenticated" (never the all-powerful anonymous)', () => {
    const err = thrown(() => guard('GetToken', call('Bearer wrong'), { app_id: APP_A }));
    expect(callerOfFailure(err)?.name).toBe('unauthenticated');
  });

  it('PERMISSION_DENIED and RESOURCE_EXHAUSTED → the authenticated caller', () => {
    const denied = thrown(() =>
      guard('GetToken', call(`Bearer ${KEYS.reader}`), { app_id: APP_B }),
    );
    expect(callerOfFailure(denied)?.name).toBe('reader');
    const req = { app_id: APP_A, stale_token: 'stale' };
    guard('ForceRefresh', call(`Bearer ${KEYS.ops}`), req);
    const limited = thrown(() => guard('ForceRefresh', call(`Bearer ${KEYS.ops}`), req));
    expect(limited).toBeInstanceOf(CallerRateLimitedError);
    expect(callerOfFailure(limited)?.name).toBe('ops');
  });

  it('errors that did not come from the guard name nobody', () => {
    expect(callerOfFailure(new Error('handler failed'))).toBeUndefined();
    expect(callerOfFailure(undefined)).toBeUndefined();
  });
});
