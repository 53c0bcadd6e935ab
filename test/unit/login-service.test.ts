import { AppDirectory } from '../../src/apps/app-directory.js';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config/config.js';
import { toStatus } from '../../src/grpc/error-mapper.js';
import { LoginService } from '../../src/login/login-service.js';
import { MemorySessionStore } from '../../src/login/memory-session-store.js';
import { UserDataDecryptError, WatermarkMismatchError } from '../../src/login/wechat-crypto.js';
import { SessionNotFoundError } from '../../src/shared/errors.js';
import { LoginCodeError } from '../../src/wechat/upstream-errors.js';
import { Secret } from '../../src/shared/secret.js';
import { MemoryTokenStore } from '../../src/token/memory-token-store.js';
import { WeChatError } from '../../src/wechat/wechat-error.js';
import { FakeClock } from '../support/fake-clock.js';

const APP: AppConfig = {
  appId: 'wxlogin000000001',
  mode: 'classic',
  secret: new Secret('s'),
  secretSource: 'inline',
  tickets: [],
};

/** A scripted jscode2session: answers from `script` in order, counting calls. */
function harness(script: (() => Promise<unknown>)[], exposeSessionKey = false) {
  const clock = new FakeClock();
  const calls = { code2Session: 0 };
  const service = new LoginService({
    clock,
    apps: new AppDirectory([APP]),
    login: { exposeSessionKey, sessionTtlSeconds: 3600 },
    wechat: {
      code2Session: async () => {
        calls.code2Session++;
        const next = script.shift();
        if (!next) throw new Error('script exhausted');
        return next() as never;
      },
      checkSessionKey: async () => true,
      resetSessionKey: async () => ({ openid: 'o', sessionKey: new Secret('k2') }),
      getPhoneNumber: async () => {
        throw new Error('not scripted here (test/unit/token-exchanges.test.ts)');
      },
      getPaidUnionId: async () => {
        throw new Error('not scripted here (test/unit/token-exchanges.test.ts)');
      },
    },
    sessions: new MemorySessionStore(clock),
    locks: new MemoryTokenStore(clock),
    accessToken: async () => 'token',
    recoverToken: async () => 'token',
  });
  return { clock, service, calls };
}

const ok = () =>
  Promise.resolve({
    openid: 'oOPENID',
    unionid: 'oUNION',
    sessionKey: new Secret('HyVFkGl5F5OQWJZZaNzBBg=='),
  });
const fail = (errcode: number) => () =>
  Promise.reject(new WeChatError('jscode2session', errcode, 'x'));

describe('LoginService.code2Session (idempotent exchange)', () => {
  it('concurrent identical calls share one upstream call and one session', async () => {
    const h = harness([ok]);
    const replies = await Promise.all(
      Array.from({ length: 50 }, () => h.service.code2Session(APP.appId, 'code-1', 'anonymous')),
    );
    expect(h.calls.code2Session).toBe(1);
    for (const r of replies) expect(r.session.handle).toBe(replies[0]!.session.handle);
    expect(replies[0]!.exposedSessionKey).toBeUndefined(); // invariant 8 by default
  });

  it('issue 11 (invariant 8): a code exchanged by caller A is not replayable by caller B, A still gets its session back', async () => {
    const h = harness([ok]);
    // Sequential: a concurrent B waits for A's lock and then reads the same record, but it
    // polls on the clock, which this fake clock would have to drive.
    const [a] = await Promise.allSettled([h.service.code2Session(APP.appId, 'code-1', 'caller-a')]);
    const [b] = await Promise.allSettled([h.service.code2Session(APP.appId, 'code-1', 'caller-b')]);
    expect(a.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
    const err = (b as PromiseRejectedResult).reason as LoginCodeError;
    expect(err).toBeInstanceOf(LoginCodeError);
    expect(err.problem).toBe('code_used');
    expect(toStatus(err).metadata.get('wechat-errcode')).toEqual(['40163']);
    // Later replays: B refused again, A served the same session, WeChat asked once in all.
    await expect(h.service.code2Session(APP.appId, 'code-1', 'caller-b')).rejects.toBeInstanceOf(
      LoginCodeError,
    );
    const again = await h.service.code2Session(APP.appId, 'code-1', 'caller-a');
    expect(again.session.handle).toBe(
      (a as PromiseFulfilledResult<{ session: { handle: string } }>).value.session.handle,
    );
    expect(h.calls.code2Session).toBe(1);
  });

  it('a replay within the code lifetime gets the same answer; after it, WeChat is asked again', async () => {
    const h = harness([ok, fail(40029)]);
    const first = await h.service.code2Session(APP.appId, 'code-1', 'anonymous');
    await h.clock.advance(299_000);
    expect((await h.service.code2Session(APP.appId, 'code-1', 'anonymous')).session.handle).toBe(
      first.session.handle,
    );
    expect(h.calls.code2Session).toBe(1);
    await h.clock.advance(2_000);
    await expect(h.service.code2Session(APP.appId, 'code-1', 'anonymous')).rejects.toBeInstanceOf(
      LoginCodeError,
    );
    expect(h.calls.code2Session).toBe(2);
  });

  it.each([
    [40029, 'invalid_code', grpc.status.INVALID_ARGUMENT, 1],
    [40163, 'code_used', grpc.status.FAILED_PRECONDITION, 1],
    [40226, 'blocked', grpc.status.PERMISSION_DENIED, 1],
    [45011, 'rate_limited', grpc.status.RESOURCE_EXHAUSTED, 2], // not recorded: may pass next minute
  ])(
    'errcode %d → %s → gRPC %d; replayed costs %d upstream call(s) in all',
    async (errcode, problem, code, total) => {
      const h = harness([fail(errcode), fail(errcode)]);
      const err = await h.service
        .code2Session(APP.appId, 'c', 'anonymous')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LoginCodeError);
      expect((err as LoginCodeError).problem).toBe(problem);
      const status = toStatus(err);
      expect(status.code).toBe(code);
      expect(status.metadata.get('wechat-errcode')).toEqual([String(errcode)]);
      await h.service.code2Session(APP.appId, 'c', 'anonymous').catch(() => undefined);
      expect(h.calls.code2Session).toBe(total);
    },
  );

  it('-1 is retried a bounded number of times, then UNAVAILABLE', async () => {
    const h = harness([fail(-1), fail(-1), fail(-1), ok]);
    const pending = h.service.code2Session(APP.appId, 'c', 'anonymous').catch((e: unknown) => e);
    await h.clock.advance(10_000);
    const err = await pending;
    expect(toStatus(err).code).toBe(grpc.status.UNAVAILABLE);
    expect(h.calls.code2Session).toBe(3);
  });

  it('-1 then success: the caller never sees the blip', async () => {
    const h = harness([fail(-1), ok]);
    const pending = h.service.code2Session(APP.appId, 'c', 'anonymous');
    await h.clock.advance(1_000);
    expect((await pending).session.openid).toBe('oOPENID');
  });

  it('exposes session_key only when the config allows it', async () => {
    const h = harness([ok], true);
    expect((await h.service.code2Session(APP.appId, 'c', 'anonymous')).exposedSessionKey).toBe(
      'HyVFkGl5F5OQWJZZaNzBBg==',
    );
  });

  it('an unknown or expired handle is NOT_FOUND', async () => {
    const h = harness([ok]);
    const { session } = await h.service.code2Session(APP.appId, 'c', 'anonymous');
    await h.clock.advance(3_601_000);
    const err = await h.service.getSession(session.handle).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionNotFoundError);
    expect(toStatus(err).code).toBe(grpc.status.NOT_FOUND);
  });
});

describe('login errors → gRPC status', () => {
  it.each([
    [new UserDataDecryptError('bad_key_or_data', 'stale'), grpc.status.INVALID_ARGUMENT],
    [new WatermarkMismatchError('wxa', 'wxb'), grpc.status.PERMISSION_DENIED],
  ])('%s', (err, code) => {
    expect(toStatus(err).code).toBe(code);
  });
});
