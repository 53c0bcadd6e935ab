import { describe, expect, it } from 'vitest';
import { AppDirectory } from '../../src/apps/app-directory.js';
import type { ForceBudget } from '../../src/refresher/force-budget.js';
import { RefreshRateLimitedError } from '../../src/shared/errors.js';
import { AppMisconfiguredError } from '../../src/wechat/upstream-errors.js';
import { APP_ID, coreHarness, UNIT_REFRESH } from '../support/core-harness.js';
import { wechatError } from '../support/scripted-wechat.js';
import { until } from '../support/until.js';

/** Fetches the first token as the scheduler would at start. */
async function started(options: Parameters<typeof coreHarness>[0] = {}) {
  const h = coreHarness(options);
  await h.refresher.refresh(h.app, 'startup');
  const first = h.service.peek(APP_ID)!;
  h.wechat.tokenCalls = 0;
  h.wechat.stableCalls = 0;
  return { h, first };
}

// Invariant 6: compare-and-refresh, with upstream call counts per case (client-go style).
describe('ForceRefresh (invariant 6: compare-and-refresh)', () => {
  it('a stale token that is no longer current returns the current one; nothing upstream', async () => {
    const { h, first } = await started();
    const r = await h.service.forceRefresh(APP_ID, 'some-old-token', '');
    expect(r).toEqual({ token: first, refreshed: false });
    expect(h.wechat.checkCalls).toBe(0);
    expect(h.wechat.tokenCalls).toBe(0);
  });

  it('a reported token WeChat still accepts is kept: one check, no fetch', async () => {
    const { h, first } = await started();
    const r = await h.service.forceRefresh(APP_ID, first.value, '40001 seen');
    expect(r).toEqual({ token: first, refreshed: false });
    expect(h.wechat.checkCalls).toBe(1);
    expect(h.wechat.tokenCalls).toBe(0);
  });

  it('a herd of 200 reports of a dead token costs one check and one fetch', async () => {
    const { h, first } = await started();
    h.wechat.invalidateAll();
    const results = await Promise.all(
      Array.from({ length: 200 }, () => h.service.forceRefresh(APP_ID, first.value, '')),
    );
    expect(h.wechat.checkCalls).toBe(1);
    expect(h.wechat.tokenCalls).toBe(1);
    const fresh = h.service.peek(APP_ID)!;
    expect(fresh.value).not.toBe(first.value);
    expect(fresh.generation).toBe(first.generation + 1);
    for (const r of results) expect(r).toEqual({ token: fresh, refreshed: true });
    // A straggler with the same stale token after the herd: answered from memory.
    expect(await h.service.forceRefresh(APP_ID, first.value, '')).toEqual({
      token: fresh,
      refreshed: false,
    });
    expect(h.wechat.checkCalls).toBe(1);
  });

  it('a token that dies after a "still valid" verdict: the next herd gets a new token (verdicts are only as fresh as the report)', async () => {
    const { h, first } = await started();
    const report = () => h.service.forceRefresh(APP_ID, first.value, '40001 seen');
    const live = await Promise.all(Array.from({ length: 50 }, report));
    for (const r of live) expect(r).toEqual({ token: first, refreshed: false });
    expect(h.wechat.checkCalls).toBe(1);
    h.wechat.invalidateAll(); // an admin reset, or another system's fetch
    await h.clock.advance(100);
    const dead = await Promise.all(Array.from({ length: 200 }, report));
    const fresh = h.service.peek(APP_ID)!;
    expect(fresh.value).not.toBe(first.value);
    for (const r of dead) expect(r).toEqual({ token: fresh, refreshed: true });
    expect(h.wechat.tokenCalls).toBe(1);
    expect(h.wechat.checkCalls).toBe(2);
  });

  it('reports that arrive while a check is in flight wait for the next check, not its verdict (a herd costs at most two checks)', async () => {
    const { h, first } = await started();
    const report = () => h.service.forceRefresh(APP_ID, first.value, '40001 seen');
    let release!: () => void;
    h.wechat.checkGate = new Promise((r) => (release = r));
    const before = Array.from({ length: 50 }, report);
    await until('the first check to be sent', () => h.wechat.checkCalls === 1);
    // WeChat answers the check sent a moment ago "valid", but the token dies right after.
    h.wechat.invalidateAll();
    const after = Array.from({ length: 200 }, report);
    h.wechat.checkGate = undefined;
    release();
    for (const r of await Promise.all(before))
      expect(r).toEqual({ token: first, refreshed: false });
    const answers = await Promise.all(after);
    const fresh = h.service.peek(APP_ID)!;
    for (const r of answers) expect(r).toEqual({ token: fresh, refreshed: true });
    expect(fresh.value).not.toBe(first.value);
    expect(h.wechat.checkCalls).toBe(2);
    expect(h.wechat.tokenCalls).toBe(1);
  });

  it('a second refresh of the fresh token inside the minimum interval is refused (quota guard)', async () => {
    const { h, first } = await started({ forceMinIntervalMs: 10_000 });
    h.wechat.invalidateAll();
    const r = await h.service.forceRefresh(APP_ID, first.value, '');
    h.wechat.invalidateAll();
    const err = await h.service.forceRefresh(APP_ID, r.token.value, '').catch((e) => e);
    expect(err).toBeInstanceOf(RefreshRateLimitedError);
    expect(err.limit).toBe('min_interval');
    expect(h.wechat.tokenCalls).toBe(1);
    await h.clock.advance(10_000);
    const r3 = await h.service.forceRefresh(APP_ID, r.token.value, '');
    expect(r3.refreshed).toBe(true);
    expect(h.wechat.tokenCalls).toBe(2);
  });

  it('the minimum interval runs on the monotonic clock: a wall clock stepped back an hour does not block refreshes for an hour', async () => {
    const { h } = await started({ forceMinIntervalMs: 10_000 });
    await h.service.forceRefresh(APP_ID, '', 'drill');
    h.clock.stepWall(-3_600_000);
    const err = await h.service.forceRefresh(APP_ID, '', 'drill').catch((e) => e);
    expect(err).toBeInstanceOf(RefreshRateLimitedError);
    expect(err.retryAfterMs).toBeLessThanOrEqual(10_000);
    await h.clock.advance(10_000);
    expect((await h.service.forceRefresh(APP_ID, '', 'drill')).refreshed).toBe(true);
  });

  it('the daily budget caps forced fetches and resets at the Beijing day turn', async () => {
    const { h } = await started({ forceMinIntervalMs: 0, forceDailyBudget: 3 });
    for (let i = 0; i < 3; i++) await h.service.forceRefresh(APP_ID, '', 'drill');
    const err = await h.service.forceRefresh(APP_ID, '', 'drill').catch((e) => e);
    expect(err).toBeInstanceOf(RefreshRateLimitedError);
    expect(err.limit).toBe('daily_budget');
    expect(h.service.listApps()[0]?.forceBudgetRemaining).toBe(0);
    await h.clock.advance(24 * 3_600_000);
    expect(h.service.listApps()[0]?.forceBudgetRemaining).toBe(3);
    expect((await h.service.forceRefresh(APP_ID, '', 'drill')).refreshed).toBe(true);
  });

  it('an empty stale token is an operator refresh: no validity check, always fetches', async () => {
    const { h, first } = await started();
    const r = await h.service.forceRefresh(APP_ID, '', 'rotating after a leak');
    expect(r.refreshed).toBe(true);
    expect(r.token.value).not.toBe(first.value);
    expect(h.wechat.checkCalls).toBe(0);
    expect(h.wechat.tokenCalls).toBe(1);
  });

  it('a configuration error from WeChat is FAILED_PRECONDITION material, and blocks the next herd', async () => {
    const { h, first } = await started();
    h.wechat.invalidateAll();
    h.wechat.failures.push(wechatError(40164, 'invalid ip'));
    await expect(h.service.forceRefresh(APP_ID, first.value, '')).rejects.toBeInstanceOf(
      AppMisconfiguredError,
    );
    await expect(h.service.forceRefresh(APP_ID, first.value, '')).rejects.toBeInstanceOf(
      AppMisconfiguredError,
    );
    expect(h.wechat.tokenCalls).toBe(1);
  });

  it('stable mode: normal call first; force_refresh only when it returns the same bad token', async () => {
    const { h, first } = await started({ mode: 'stable', forceMinIntervalMs: 0 });
    h.wechat.invalidateAll();
    const r = await h.service.forceRefresh(APP_ID, first.value, '');
    expect(h.wechat.stableCalls).toBe(2); // normal (same token) then force
    expect(h.wechat.stableForceCalls).toBe(1);
    expect(r.refreshed).toBe(true);
    expect(r.token.value).not.toBe(first.value);
  });

  it('stable mode never forces closer than 30 s apart, whatever the config says', async () => {
    const { h } = await started({ mode: 'stable', forceMinIntervalMs: 0 });
    await h.service.forceRefresh(APP_ID, '', 'leak drill');
    const err = await h.service.forceRefresh(APP_ID, '', 'leak drill').catch((e) => e);
    expect(err).toBeInstanceOf(RefreshRateLimitedError);
    expect(err.retryAfterMs).toBeGreaterThan(29_000);
  });
});

// Bound what others control: an authorizer that unauthorizes leaves nothing behind.
describe('the forced-refresh budget follows the apps served', () => {
  it('reading the budget makes no entry; a forced fetch makes one; the app leaving drops it', async () => {
    const directory = new AppDirectory([]);
    const { h, first } = await started({ directory });
    const budget = h.budget as ForceBudget;
    for (let i = 0; i < 1000; i++)
      budget.remaining(`wxread${String(i).padStart(9, '0')}`, 'classic');
    expect(budget.tracked).toBe(0);
    h.wechat.invalidateAll();
    expect((await h.service.forceRefresh(APP_ID, first.value, '40001 seen')).refreshed).toBe(true);
    expect(budget.tracked).toBe(1);
    expect(budget.remaining(APP_ID, 'classic')).toBe(UNIT_REFRESH.forceDailyBudget - 1);
    directory.remove(APP_ID);
    expect(budget.tracked).toBe(0);
  });
});
