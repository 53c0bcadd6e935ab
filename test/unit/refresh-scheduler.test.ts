import { describe, expect, it } from 'vitest';
import { AppDirectory } from '../../src/apps/app-directory.js';
import { TokenUnavailableError } from '../../src/wechat/upstream-errors.js';
import { APP_ID, coreHarness } from '../support/core-harness.js';
import { flushPromises } from '../support/fake-clock.js';
import { wechatError } from '../support/scripted-wechat.js';

const HOUR = 3_600_000;

/** ms until the app's next planned attempt, as ListApps reports it. */
function untilNext(h: ReturnType<typeof coreHarness>): number | undefined {
  const at = h.service.listApps()[0]?.nextRefreshAt;
  return at === undefined ? undefined : at - h.clock.now();
}

/**
 * An app (one that can leave) whose first three attempts failed and whose fourth is held in
 * flight; `release` lets that one fail and settle without moving the clock, so the plan it
 * leaves behind can be read before any timer fires. No token is ever cached, so no remaining
 * life caps the backoff: with random 0.5 it is 1 s × 2^(n-1) × 0.75.
 */
async function fourthAttemptHeld() {
  const directory = new AppDirectory([]);
  const h = coreHarness({ directory });
  for (let i = 0; i < 4; i++) h.wechat.failures.push(wechatError(-1, 'system error'));
  const leadership = new AbortController();
  const done = h.scheduler.run(leadership.signal);
  await h.clock.advance(0);
  const backoff: number[] = [];
  for (let i = 0; i < 2; i++) {
    backoff.push(untilNext(h)!);
    await h.clock.advance(untilNext(h)!);
  }
  backoff.push(untilNext(h)!);
  let open!: () => void;
  h.wechat.gate = new Promise((r) => (open = r));
  await h.clock.advance(untilNext(h)!);
  h.wechat.gate = undefined;
  expect(h.wechat.tokenCalls).toBe(4);
  const release = async (): Promise<void> => {
    open();
    await flushPromises();
  };
  const stop = async (): Promise<void> => {
    leadership.abort();
    await done;
  };
  return { h, directory, backoff, release, stop };
}

describe('RefreshScheduler', () => {
  it('invariant 4 + 3: 50 lifetimes, one fetch per rotation, never serves a dead token', async () => {
    const h = coreHarness();
    const leadership = new AbortController();
    const done = h.scheduler.run(leadership.signal);
    await h.clock.advance(0);
    expect(h.wechat.tokenCalls).toBe(1); // startup fetch
    const served = new Set<string>();
    for (let step = 0; step < 50 * 72; step++) {
      await h.clock.advance(100_000); // 100 s steps through 50 × 7200 s
      const token = h.service.peek(APP_ID);
      expect(token, `no live token at step ${step}`).toBeDefined();
      expect(token!.expiresAt).toBeGreaterThan(h.clock.now());
      served.add(token!.value);
    }
    // 50 lifetimes of 7200 s, refreshed ~330 s early: one fetch per rotation, no extras.
    const rotations = h.wechat.tokenCalls - 1;
    expect(rotations).toBeGreaterThanOrEqual(50);
    expect(rotations).toBeLessThanOrEqual(53);
    expect(served.size).toBe(h.wechat.tokenCalls);
    expect(h.events.every((e) => e.result === 'fetched')).toBe(true);
    leadership.abort();
    await done;
  });

  it('honours a shorter expires_in from WeChat (nothing assumes 7200)', async () => {
    const h = coreHarness({ aheadSeconds: 300 });
    h.wechat.expiresInSeconds = 600;
    const leadership = new AbortController();
    const done = h.scheduler.run(leadership.signal);
    await h.clock.advance(HOUR);
    // 600 s tokens, window capped at 300 s minus jitter: ~one fetch per 270 s.
    expect(h.wechat.tokenCalls).toBeGreaterThanOrEqual(12);
    expect(h.wechat.tokenCalls).toBeLessThanOrEqual(15);
    leadership.abort();
    await done;
  });

  it('keeps serving the current token while refreshes fail, retrying with backoff (invariant 4)', async () => {
    const h = coreHarness();
    const leadership = new AbortController();
    const done = h.scheduler.run(leadership.signal);
    await h.clock.advance(0);
    const first = h.service.peek(APP_ID)!;
    await h.clock.advance(first.expiresAt - h.clock.now() - 400_000); // just before the window
    for (let i = 0; i < 5; i++) h.wechat.failures.push(wechatError(-1, 'system error'));
    await h.clock.advance(75_000); // 5 s into the refresh window: attempts fail
    expect(h.service.peek(APP_ID)?.value).toBe(first.value);
    expect(h.service.listApps()[0]?.state).toBe('degraded');
    await h.clock.advance(120_000);
    // 5 failures (1 + 2 + 4 + 8 + 16 s of backoff at most) then success, well before expiry.
    expect(h.wechat.tokenCalls).toBe(7);
    expect(h.service.peek(APP_ID)?.value).not.toBe(first.value);
    expect(h.service.listApps()[0]?.state).toBe('healthy');
    leadership.abort();
    await done;
  });

  it('a configuration error stops hammering WeChat and shows in ListApps', async () => {
    const h = coreHarness();
    for (let i = 0; i < 100; i++) h.wechat.failures.push(wechatError(40125, 'invalid appsecret'));
    const leadership = new AbortController();
    const done = h.scheduler.run(leadership.signal);
    await h.clock.advance(HOUR);
    // One call at start, then one per configErrorRetryMs (10 min): 7 in an hour, not thousands.
    expect(h.wechat.tokenCalls).toBe(7);
    const status = h.service.listApps()[0]!;
    expect(status.state).toBe('config_error');
    expect(status.lastError?.error.errcode).toBe(40125);
    await expect(h.service.getToken(APP_ID)).rejects.toBeInstanceOf(TokenUnavailableError);
    leadership.abort();
    await done;
  });

  it('45009 stops fetching until the day turns (wake), then resumes', async () => {
    const h = coreHarness();
    h.wechat.failures.push(wechatError(45009, 'reach max api daily quota limit'));
    const leadership = new AbortController();
    const done = h.scheduler.run(leadership.signal);
    await h.clock.advance(6 * HOUR);
    expect(h.wechat.tokenCalls).toBe(1);
    expect(h.service.listApps()[0]?.state).toBe('quota_exhausted');
    // What the day-turn cron does: re-plan the apps whose quota failure it ended.
    const cleared = h.status.clearQuotaFailures();
    expect(cleared).toEqual([APP_ID]);
    for (const appId of cleared) h.scheduler.wake(appId);
    await h.clock.advance(0);
    expect(h.wechat.tokenCalls).toBe(2);
    expect(h.service.peek(APP_ID)).toBeDefined();
    leadership.abort();
    await done;
  });

  it('invariant 7: stops scheduling the moment leadership ends', async () => {
    const h = coreHarness();
    const leadership = new AbortController();
    const done = h.scheduler.run(leadership.signal);
    await h.clock.advance(0);
    leadership.abort();
    await done;
    await h.clock.advance(10 * HOUR);
    expect(h.wechat.tokenCalls).toBe(1);
    expect(h.clock.pendingTimers()).toBe(0);
  });

  it('GetToken waits for the first fetch of a warming app instead of failing at once', async () => {
    const h = coreHarness();
    let open!: () => void;
    h.wechat.gate = new Promise((r) => (open = r));
    const leadership = new AbortController();
    const done = h.scheduler.run(leadership.signal);
    const pending = h.service.getToken(APP_ID);
    await h.clock.advance(1000);
    open();
    await h.clock.advance(0);
    expect((await pending).value).toBe('tok-1');
    leadership.abort();
    await done;
  });

  it('GetToken waiting on a first fetch that fails answers at once with the upstream error', async () => {
    const h = coreHarness();
    let open!: () => void;
    h.wechat.gate = new Promise((r) => (open = r));
    h.wechat.failures.push(wechatError(40125, 'invalid appsecret'));
    const leadership = new AbortController();
    const done = h.scheduler.run(leadership.signal);
    const pending = h.service.getToken(APP_ID).catch((e: unknown) => e);
    await h.clock.advance(100);
    open();
    await h.clock.advance(0);
    const err = await pending;
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect((err as TokenUnavailableError).lastError?.errcode).toBe(40125);
    leadership.abort();
    await done;
  });

  it('stable mode: a normal-mode call that returns the same token is retried, not counted as a rotation', async () => {
    const h = coreHarness({ mode: 'stable' });
    const leadership = new AbortController();
    const done = h.scheduler.run(leadership.signal);
    await h.clock.advance(0);
    expect(h.wechat.stableCalls).toBe(1);
    // ScriptedWeChat's stable channel never rotates on its own: every scheduled call is "unchanged".
    await h.clock.advance(7200_000 - 150_000);
    expect(h.wechat.stableCalls).toBeGreaterThan(1);
    expect(h.wechat.stableForceCalls).toBe(0);
    expect(h.events.filter((e) => e.result === 'unchanged').length).toBe(h.wechat.stableCalls - 1);
    leadership.abort();
    await done;
  });

  it('backoff starts over for an app that leaves and comes back while its attempt runs', async () => {
    const { h, directory, backoff, release, stop } = await fourthAttemptHeld();
    expect(backoff).toEqual([750, 1_500, 3_000]);
    directory.remove(APP_ID);
    directory.add(h.app);
    h.wechat.failures.push(wechatError(-1, 'system error'));
    await release();
    // The attempt that failed was the old membership's: the app that came back is a joiner
    // with no token, fetched as that attempt settles (not 6 s later, as a fifth retry would
    // be), and its first failure since it came back waits the first step of the backoff.
    expect({ calls: h.wechat.tokenCalls, untilNext: untilNext(h) }).toEqual({
      calls: 5,
      untilNext: 750,
    });
    await stop();
  });

  it('an app that stays through a failed attempt escalates its backoff (control for the test above)', async () => {
    const { h, backoff, release, stop } = await fourthAttemptHeld();
    expect(backoff).toEqual([750, 1_500, 3_000]);
    await release();
    expect(untilNext(h)).toBe(6_000);
    await h.clock.advance(5_999);
    expect(h.wechat.tokenCalls).toBe(4);
    await h.clock.advance(1);
    expect(h.wechat.tokenCalls).toBe(5);
    await stop();
  });
});
