import { describe, expect, it } from 'vitest';
import { TokenCache } from '../../src/token/token-cache.js';
import type { TokenRecord } from '../../src/token/token.js';
import { FakeClock, flushPromises } from '../support/fake-clock.js';
import { CHURN_APP, FLEET_LIFETIME_MS, replacedFleet } from '../support/replaced-fleet.js';

const APP = 'wxcache000000001';
const OTHER_APP = 'wxcache000000002';
const clock = new FakeClock();

const token = (generation: number, value = `token-${generation}`, appId = APP) => ({
  appId,
  value,
  fetchedAt: clock.now(),
  expiresAt: clock.now() + 7_200_000,
  generation,
});

describe('TokenCache.offer (invariant 5: late or duplicate notifications never roll back)', () => {
  it.each([
    // offered generations in arrival order → applied flags, final generation
    ['in order', [1, 2, 3], [true, true, true], 3],
    ['a duplicate', [1, 1], [true, false], 1],
    ['a late older one', [1, 3, 2], [true, true, false], 3],
    ['a gap then the skipped one', [2, 4, 3], [true, true, false], 4],
    [
      'a reconcile poll repeating every token',
      [1, 1, 2, 2, 2],
      [true, false, true, false, false],
      2,
    ],
  ])('%s: %j → applied %j, current generation %d', (_, offered, applied, final) => {
    const cache = new TokenCache();
    expect(offered.map((g) => cache.offer(token(g)))).toEqual(applied);
    expect(cache.get(APP)).toEqual(token(final));
  });

  it('one generation, two values (the store lost a record): the later fetch wins whatever the arrival order; the same value again is a duplicate', () => {
    const earlier = { ...token(16, 'fetched-first'), fetchedAt: clock.now() };
    const later = { ...token(16, 'fetched-50ms-later'), fetchedAt: clock.now() + 50 };
    const a = new TokenCache();
    expect([a.offer(earlier), a.offer(later), a.offer(earlier)]).toEqual([true, true, false]);
    expect(a.get(APP)).toEqual(later);
    expect(a.previous(APP)).toEqual(earlier);
    const b = new TokenCache();
    expect([b.offer(later), b.offer(earlier), b.offer(later)]).toEqual([true, false, false]);
    expect(b.get(APP)).toEqual(later);
    // A higher generation still wins over a later fetch time.
    expect(b.offer({ ...token(17, 'next'), fetchedAt: clock.now() - 1 })).toBe(true);
  });

  it('get() is undefined before any token', () => {
    expect(new TokenCache().get(APP)).toBeUndefined();
  });

  it('keeps apps apart', () => {
    const cache = new TokenCache();
    cache.offer(token(5));
    expect(cache.offer(token(1, 'other', OTHER_APP))).toBe(true);
    expect(cache.get(APP)?.generation).toBe(5);
    expect(cache.get(OTHER_APP)?.generation).toBe(1);
  });
});

describe('TokenCache.previous (the token still valid at WeChat during the overlap)', () => {
  it('is undefined until a token is replaced', () => {
    const cache = new TokenCache();
    cache.offer(token(1));
    expect(cache.previous(APP)).toBeUndefined();
  });

  it('tracks the token each new one replaced', () => {
    const cache = new TokenCache();
    cache.offer(token(1));
    cache.offer(token(2));
    expect(cache.previous(APP)).toEqual(token(1));
    cache.offer(token(3));
    expect(cache.previous(APP)).toEqual(token(2));
  });

  it('a refused (older) offer does not touch previous', () => {
    const cache = new TokenCache();
    cache.offer(token(1));
    cache.offer(token(3));
    cache.offer(token(2));
    expect(cache.previous(APP)).toEqual(token(1));
  });

  it('a newer generation of the same access_token (stable mode) keeps the earlier previous', () => {
    const cache = new TokenCache();
    cache.offer(token(1, 'A'));
    cache.offer(token(2, 'B'));
    cache.offer(token(3, 'B'));
    expect(cache.get(APP)).toEqual(token(3, 'B'));
    expect(cache.previous(APP)).toEqual(token(1, 'A'));
  });
});

describe('TokenCache.subscribe', () => {
  it('calls a listener for every applied token of its app only', () => {
    const cache = new TokenCache();
    const got: number[] = [];
    cache.subscribe(APP, (t) => got.push(t.generation));
    cache.offer(token(1));
    cache.offer(token(1)); // duplicate: not applied
    cache.offer(token(9, 'other', OTHER_APP));
    cache.offer(token(2));
    expect(got).toEqual([1, 2]);
  });

  it('does not replay the current token to a new listener', () => {
    const cache = new TokenCache();
    cache.offer(token(1));
    const got: TokenRecord[] = [];
    cache.subscribe(APP, (t) => got.push(t));
    expect(got).toEqual([]);
  });

  it('stops calling a listener once it unsubscribes; others keep listening', () => {
    const cache = new TokenCache();
    const a: number[] = [];
    const b: number[] = [];
    const unsubscribeA = cache.subscribe(APP, (t) => a.push(t.generation));
    cache.subscribe(APP, (t) => b.push(t.generation));
    cache.offer(token(1));
    unsubscribeA();
    cache.offer(token(2));
    expect(a).toEqual([1]);
    expect(b).toEqual([1, 2]);
  });
});

describe('TokenCache.waitFor', () => {
  const live = (t: TokenRecord) => t.expiresAt > clock.now();

  it('resolves at once with an already-cached token that is accepted', async () => {
    const cache = new TokenCache();
    cache.offer(token(1));
    await expect(cache.waitFor(APP, live, new AbortController().signal)).resolves.toEqual(token(1));
  });

  it('resolves with a later token when the cached one is not accepted', async () => {
    const cache = new TokenCache();
    cache.offer(token(1));
    const waiting = cache.waitFor(APP, (t) => t.generation > 1, new AbortController().signal);
    let settled = false;
    void waiting.finally(() => (settled = true));
    await flushPromises();
    expect(settled).toBe(false);
    cache.offer(token(2));
    await expect(waiting).resolves.toEqual(token(2));
  });

  it('resolves with the first token when nothing was cached yet', async () => {
    const cache = new TokenCache();
    const waiting = cache.waitFor(APP, live, new AbortController().signal);
    cache.offer(token(1, 'x', OTHER_APP)); // another app's token does not count
    cache.offer(token(1));
    await expect(waiting).resolves.toEqual(token(1));
  });

  it('skips tokens it does not accept, and stops listening once settled', async () => {
    const cache = new TokenCache();
    const offeredToAccept: number[] = [];
    const waiting = cache.waitFor(
      APP,
      (t) => {
        offeredToAccept.push(t.generation);
        return t.generation >= 3;
      },
      new AbortController().signal,
    );
    cache.offer(token(1));
    cache.offer(token(2));
    cache.offer(token(3));
    await expect(waiting).resolves.toEqual(token(3));
    cache.offer(token(4));
    expect(offeredToAccept).toEqual([1, 2, 3]);
  });

  it('rejects with the signal reason when it aborts first, and stops listening', async () => {
    const cache = new TokenCache();
    const controller = new AbortController();
    let calls = 0;
    const waiting = cache.waitFor(
      APP,
      () => {
        calls++;
        return true;
      },
      controller.signal,
    );
    const reason = new Error('deadline exceeded');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    cache.offer(token(1));
    expect(calls).toBe(0);
  });

  it('rejects at once when the signal is already aborted and nothing acceptable is cached', async () => {
    const cache = new TokenCache();
    const reason = new Error('cancelled');
    await expect(cache.waitFor(APP, live, AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  it('an already-cached accepted token wins over an already-aborted signal', async () => {
    const cache = new TokenCache();
    cache.offer(token(1));
    await expect(cache.waitFor(APP, live, AbortSignal.abort())).resolves.toEqual(token(1));
  });
});

describe('TokenCache with a clock: a previous token is dropped after its own expiry', () => {
  const apps = Array.from({ length: 100 }, (_, i) => `wxsweep${String(i).padStart(9, '0')}`);
  /** 100 apps on their second token, and an app whose refreshes move the sweep's hand. */
  function fleet(withClock: boolean) {
    const fake = new FakeClock();
    const cache = withClock ? new TokenCache(fake) : new TokenCache();
    return { fake, cache, ...replacedFleet(cache, fake, apps) };
  }
  // Every applied token moves the hand 16 entries: one round of 101 previous tokens.
  const ROUND = Math.ceil(101 / 16);

  it('keeps every previous token through its life (the overlap: still valid at WeChat)', async () => {
    const { fake, cache, t0, refreshOther } = fleet(true);
    await fake.advance(FLEET_LIFETIME_MS - 1);
    refreshOther(3 * ROUND);
    expect(apps.every((a) => cache.previous(a)?.value === `${a}-1`)).toBe(true);
    expect(fake.now()).toBeLessThan(t0 + FLEET_LIFETIME_MS);
  });

  it('drops them within one round of the hand once they expire, and nothing else', async () => {
    const { fake, cache, refreshOther } = fleet(true);
    await fake.advance(FLEET_LIFETIME_MS);
    refreshOther(ROUND);
    expect(apps.filter((a) => cache.previous(a) !== undefined)).toEqual([]);
    // Current tokens are untouched, and so is the live previous token of the refreshing app.
    expect(apps.every((a) => cache.get(a)?.generation === 2)).toBe(true);
    expect(cache.previous(CHURN_APP)?.generation).toBe(ROUND - 1);
  });

  it('without a clock, keeps them until the next replacement', async () => {
    const { fake, cache, refreshOther } = fleet(false);
    await fake.advance(2 * FLEET_LIFETIME_MS);
    refreshOther(3 * ROUND);
    expect(apps.every((a) => cache.previous(a)?.generation === 1)).toBe(true);
  });
});
