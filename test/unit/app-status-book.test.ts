import { AppDirectory, fixedApps } from '../../src/apps/app-directory.js';
import { describe, expect, it } from 'vitest';
import { AppStatusBook, type AppState } from '../../src/refresher/app-status-book.js';
import type { TokenRecord } from '../../src/token/token.js';
import { WeChatError } from '../../src/wechat/wechat-error.js';
import { FakeClock } from '../support/fake-clock.js';

const APP = 'wxstatus00000001';
const STABLE_APP = 'wxstatus00000002';
const OTHER_APP = 'wxstatus00000003';
const HOUR = 3_600_000;
const LIFETIME_MS = 2 * HOUR;

const errors = {
  retryable: new WeChatError('token', -1, 'system error'),
  transport: WeChatError.transport('token', 'timeout'),
  token_invalid: new WeChatError('token', 40001, 'invalid credential'),
  unknown: new WeChatError('token', 99999, 'something new'),
  config: new WeChatError('token', 40125, 'invalid appsecret'),
  quota: new WeChatError('token', 45009, 'reach max api daily quota limit'),
};
type Fact = 'fetch' | 'success' | keyof typeof errors;

function setup() {
  const clock = new FakeClock();
  const app = (appId: string, mode: 'classic' | 'stable') => ({
    appId,
    mode,
    secretSource: 'inline',
    tickets: [],
  });
  const book = new AppStatusBook(
    fixedApps([app(APP, 'classic'), app(STABLE_APP, 'stable'), app(OTHER_APP, 'classic')]),
  );
  const record = (appId: string, facts: readonly Fact[]): void => {
    for (const fact of facts) {
      if (fact === 'fetch') book.recordFetch(appId, clock.now());
      else if (fact === 'success') book.recordSuccess(appId, clock.now());
      else book.recordFailure(appId, errors[fact], clock.now());
    }
  };
  const tokenFor = (liveness: 'none' | 'live' | 'expired'): TokenRecord | undefined => {
    if (liveness === 'none') return undefined;
    const expiresAt = liveness === 'live' ? clock.now() + HOUR : clock.now() - 1;
    return {
      appId: APP,
      value: 'token-1',
      fetchedAt: expiresAt - LIFETIME_MS,
      expiresAt,
      generation: 1,
    };
  };
  return { clock, book, record, tokenFor };
}

describe('AppStatusBook state: derived from facts + token liveness + clock', () => {
  it.each<[string, readonly Fact[], 'none' | 'live' | 'expired', AppState]>([
    ['nothing recorded, no token', [], 'none', 'warming'],
    ['a fetch under way, no outcome yet', ['fetch'], 'none', 'warming'],
    ['a live token, last refresh succeeded', ['fetch', 'success'], 'live', 'healthy'],
    ['a live token, latest refresh busy (-1)', ['success', 'retryable'], 'live', 'degraded'],
    ['a live token, latest refresh timed out', ['success', 'transport'], 'live', 'degraded'],
    [
      'a live token, latest refresh got an unknown errcode',
      ['success', 'unknown'],
      'live',
      'degraded',
    ],
    ['a live token, latest refresh got 40001', ['success', 'token_invalid'], 'live', 'degraded'],
    ['a failure then a success', ['retryable', 'success'], 'live', 'healthy'],
    // Invariant 3: nothing live to serve is never reported as healthy.
    ['an expired token, last refresh succeeded', ['success'], 'expired', 'unavailable'],
    ['an expired token, refreshes failing', ['success', 'retryable'], 'expired', 'unavailable'],
    ['no token, first fetch failed', ['fetch', 'retryable'], 'none', 'unavailable'],
    // Blocking kinds win over liveness: retrying cannot fix them.
    ['no token, wrong secret', ['config'], 'none', 'config_error'],
    ['a live token, wrong secret', ['success', 'config'], 'live', 'config_error'],
    ['an expired token, wrong secret', ['config'], 'expired', 'config_error'],
    ['no token, daily quota spent', ['quota'], 'none', 'quota_exhausted'],
    ['a live token, daily quota spent', ['success', 'quota'], 'live', 'quota_exhausted'],
    ['an expired token, daily quota spent', ['quota'], 'expired', 'quota_exhausted'],
    // The latest attempt decides.
    ['config error, then a retryable failure', ['config', 'retryable'], 'live', 'degraded'],
    ['quota, then a config error', ['quota', 'config'], 'live', 'config_error'],
    ['config error fixed by a success', ['config', 'success'], 'live', 'healthy'],
  ])('%s → %s', (_, facts, liveness, expected) => {
    const { clock, book, record, tokenFor } = setup();
    record(APP, facts);
    expect(book.view(APP, tokenFor(liveness), clock.now()).state).toBe(expected);
  });

  it('a token turns unavailable exactly at its expires_at (invariant 3), by the clock alone', async () => {
    const { clock, book, record } = setup();
    record(APP, ['fetch', 'success']);
    const token = {
      appId: APP,
      value: 't',
      fetchedAt: clock.now(),
      expiresAt: clock.now() + HOUR,
      generation: 1,
    };
    expect(book.view(APP, token, clock.now()).state).toBe('healthy');
    await clock.advance(HOUR - 1);
    expect(book.view(APP, token, clock.now()).state).toBe('healthy');
    await clock.advance(1);
    expect(book.view(APP, token, clock.now()).state).toBe('unavailable');
  });

  it('isFailing and blockingKind follow the latest attempt', () => {
    const { book, record } = setup();
    expect([book.isFailing(APP), book.blockingKind(APP)]).toEqual([false, undefined]);
    record(APP, ['retryable']);
    expect([book.isFailing(APP), book.blockingKind(APP)]).toEqual([true, undefined]);
    record(APP, ['quota']);
    expect([book.isFailing(APP), book.blockingKind(APP)]).toEqual([true, 'quota']);
    record(APP, ['config']);
    expect([book.isFailing(APP), book.blockingKind(APP)]).toEqual([true, 'config']);
    record(APP, ['success']);
    expect([book.isFailing(APP), book.blockingKind(APP)]).toEqual([false, undefined]);
  });

  it('apps are independent', () => {
    const { clock, book, record, tokenFor } = setup();
    record(APP, ['config']);
    record(OTHER_APP, ['success']);
    expect(book.view(APP, undefined, clock.now()).state).toBe('config_error');
    expect(book.view(OTHER_APP, tokenFor('live'), clock.now()).state).toBe('healthy');
  });
});

describe('AppStatusBook view fields', () => {
  it('reports mode, token, last refresh, last error and next refresh; a success keeps the last error', async () => {
    const { clock, book, record, tokenFor } = setup();
    const failedAt = clock.now();
    record(APP, ['retryable']);
    await clock.advance(5_000);
    const refreshedAt = clock.now();
    record(APP, ['success']);
    book.setNextRefreshAt(APP, refreshedAt + HOUR);
    const token = tokenFor('live');
    expect(book.view(APP, token, clock.now())).toEqual({
      appId: APP,
      mode: 'classic',
      state: 'healthy',
      token,
      lastRefreshAt: refreshedAt,
      lastError: { error: errors.retryable, at: failedAt },
      nextRefreshAt: refreshedAt + HOUR,
      fetchesToday: 0,
    });
    expect(book.lastError(APP)).toEqual({ error: errors.retryable, at: failedAt });
  });

  it('leaves out what is not known yet', () => {
    const { clock, book } = setup();
    expect(book.view(STABLE_APP, undefined, clock.now())).toEqual({
      appId: STABLE_APP,
      mode: 'stable',
      state: 'warming',
      fetchesToday: 0,
    });
  });

  it('setNextRefreshAt(undefined) clears the next refresh', () => {
    const { clock, book } = setup();
    book.setNextRefreshAt(APP, clock.now() + HOUR);
    book.setNextRefreshAt(APP, undefined);
    expect(book.view(APP, undefined, clock.now())).not.toHaveProperty('nextRefreshAt');
  });

  it('keeps nothing of an app it does not follow (an authorizer that left mid-refresh)', () => {
    const { clock, book } = setup();
    book.recordFetch('wxunknown', clock.now());
    book.recordFailure('wxunknown', errors.config, clock.now());
    const view = book.view('wxunknown', undefined, clock.now());
    expect(view.state).toBe('warming');
    expect(view.fetchesToday).toBe(0);
    expect(book.isFailing('wxunknown')).toBe(false);
  });

  it('follows apps that join and leave its app set', () => {
    const clock = new FakeClock();
    const dir = new AppDirectory([]);
    const book = new AppStatusBook(dir);
    const joined = {
      appId: 'wxauth1',
      mode: 'classic' as const,
      secretSource: 'component wxc',
      tickets: [],
    };
    dir.add(joined);
    book.recordFailure('wxauth1', errors.config, clock.now());
    expect(book.view('wxauth1', undefined, clock.now()).state).toBe('config_error');
    book.clearFailure('wxauth1');
    expect(book.isFailing('wxauth1')).toBe(false);
    book.recordFailure('wxauth1', errors.config, clock.now());
    dir.remove('wxauth1');
    expect(book.view('wxauth1', undefined, clock.now()).state).toBe('warming');
  });

  it("5,000 apps join, half leave, others take their places: no app sees another one's facts", () => {
    const clock = new FakeClock();
    const dir = new AppDirectory([]);
    const book = new AppStatusBook(dir);
    const app = (i: number) => ({
      appId: `wxslot${i}`,
      mode: i % 3 === 0 ? ('stable' as const) : ('classic' as const),
      secretSource: 'component wxc',
      tickets: [],
    });
    const now = clock.now();
    for (let i = 0; i < 5000; i++) {
      dir.add(app(i));
      book.recordFetch(`wxslot${i}`, now);
      if (i % 2 === 0) book.recordFailure(`wxslot${i}`, errors.quota, now);
      else book.recordSuccess(`wxslot${i}`, now - i);
      book.setNextRefreshAt(`wxslot${i}`, now + i);
    }
    for (let i = 0; i < 5000; i += 2) dir.remove(`wxslot${i}`);
    for (let i = 5000; i < 7500; i++) dir.add(app(i));
    for (let i = 1; i < 7500; i += i < 5000 ? 2 : 1) {
      const v = book.view(`wxslot${i}`, undefined, now);
      const fresh = i >= 5000;
      expect(v.mode).toBe(i % 3 === 0 ? 'stable' : 'classic');
      expect(v.state).toBe('warming');
      expect(v.lastError).toBeUndefined();
      expect(v.lastRefreshAt).toBe(fresh ? undefined : now - i);
      expect(v.nextRefreshAt).toBe(fresh ? undefined : now + i);
      expect(v.fetchesToday).toBe(fresh ? 0 : 1);
    }
    // the quota failures went with their apps: the day turn has nothing to clear
    expect(book.clearQuotaFailures()).toEqual([]);
  });
});

describe("AppStatusBook fetchesToday: counted per Beijing day (WeChat's quota day)", () => {
  // FakeClock starts at 04:00 UTC = 12:00 Beijing; the Beijing day turns at 16:00 UTC.
  const untilDayTurn = 12 * HOUR;

  it('counts fetches and resets to 0 at 16:00 UTC, before any new fetch', async () => {
    const { clock, book, record } = setup();
    expect(new Date(clock.now()).getUTCHours()).toBe(4);
    record(APP, ['fetch', 'fetch', 'fetch']);
    expect(book.view(APP, undefined, clock.now()).fetchesToday).toBe(3);
    await clock.advance(untilDayTurn - 1); // 15:59:59.999 UTC
    record(APP, ['fetch']);
    expect(book.view(APP, undefined, clock.now()).fetchesToday).toBe(4);
    await clock.advance(1); // 16:00:00.000 UTC = 00:00 Beijing
    expect(book.view(APP, undefined, clock.now()).fetchesToday).toBe(0);
    record(APP, ['fetch']);
    expect(book.view(APP, undefined, clock.now()).fetchesToday).toBe(1);
  });

  it('a fetch after the day turn starts a new count even if nobody looked in between', async () => {
    const { clock, book, record } = setup();
    record(APP, ['fetch', 'fetch']);
    await clock.advance(untilDayTurn + HOUR);
    record(APP, ['fetch']);
    expect(book.view(APP, undefined, clock.now()).fetchesToday).toBe(1);
  });

  it('a count from days ago reads 0', async () => {
    const { clock, book, record } = setup();
    record(APP, ['fetch']);
    await clock.advance(3 * 24 * HOUR);
    expect(book.view(APP, undefined, clock.now()).fetchesToday).toBe(0);
  });

  it('counts per app', () => {
    const { clock, book, record } = setup();
    record(APP, ['fetch', 'fetch']);
    record(OTHER_APP, ['fetch']);
    expect(book.view(APP, undefined, clock.now()).fetchesToday).toBe(2);
    expect(book.view(OTHER_APP, undefined, clock.now()).fetchesToday).toBe(1);
  });
});

describe('AppStatusBook.clearQuotaFailures (the day turn lets quota-stopped apps fetch again)', () => {
  it('clears only failing quota errors; config and retryable failures stay; last error is kept', () => {
    const { clock, book, record, tokenFor } = setup();
    record(APP, ['success', 'quota']);
    record(STABLE_APP, ['config']);
    record(OTHER_APP, ['success', 'retryable']);
    const live = tokenFor('live');
    // Only the app it cleared comes back: the day turn re-plans just those (not every app).
    expect(book.clearQuotaFailures()).toEqual([APP]);
    expect(book.clearQuotaFailures()).toEqual([]);
    expect(book.view(APP, live, clock.now()).state).toBe('healthy');
    expect(book.isFailing(APP)).toBe(false);
    expect(book.blockingKind(APP)).toBeUndefined();
    expect(book.lastError(APP)?.error).toBe(errors.quota);
    expect(book.view(STABLE_APP, undefined, clock.now()).state).toBe('config_error');
    expect(book.view(OTHER_APP, live, clock.now()).state).toBe('degraded');
  });

  it.each<['none' | 'live' | 'expired', AppState]>([
    ['none', 'warming'],
    ['live', 'healthy'],
    ['expired', 'unavailable'],
  ])('a cleared quota app with token %s reads %s', (liveness, expected) => {
    const { clock, book, record, tokenFor } = setup();
    record(APP, ['quota']);
    book.clearQuotaFailures();
    expect(book.view(APP, tokenFor(liveness), clock.now()).state).toBe(expected);
  });

  it('a quota error followed by a success is left alone', () => {
    const { book, record } = setup();
    record(APP, ['quota', 'success']);
    expect(book.clearQuotaFailures()).toEqual([]);
    expect(book.isFailing(APP)).toBe(false);
    expect(book.lastError(APP)?.error).toBe(errors.quota);
  });
});
