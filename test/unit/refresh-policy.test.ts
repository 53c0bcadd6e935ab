import { describe, expect, it } from 'vitest';
import {
  beijingDayKey,
  nextBeijingMidnight,
  nextRefreshAt,
  retryDelayMs,
  type RefreshPolicy,
} from '../../src/refresher/refresh-policy.js';

const policy: RefreshPolicy = {
  aheadSeconds: 300,
  stableWindowSeconds: 300,
  jitterRatio: 0.2,
  retryMinMs: 1000,
  retryMaxMs: 60_000,
};
const T0 = 1_800_000_000_000;
const token = (lifetimeS: number) => ({ fetchedAt: T0, expiresAt: T0 + lifetimeS * 1000 });

// Invariant 4 (refresh ahead): when the leader refreshes, as a table.
describe('nextRefreshAt (invariant 4: refresh ahead)', () => {
  it.each([
    // mode, lifetime s, random, expected seconds after fetch
    ['classic', 7200, 0, 7200 - 300],
    ['classic', 7200, 1, 7200 - 300 - 60], // full jitter: 20 % of the ahead window earlier
    ['classic', 7200, 0.5, 7200 - 300 - 30],
    ['classic', 3600, 0, 3600 - 300], // honours a shorter expires_in
    ['classic', 400, 0, 400 - 200], // window capped at half the lifetime
    ['classic', 6, 0, 3], // tiny test lifetimes never loop
    ['stable', 7200, 0, 7200 - 240], // inside WeChat's last-300 s window, at 80 %
    ['stable', 7200, 1, 7200 - 222], // jitter moves it later, never before the window
    ['stable', 345, 0, 345 - 240], // a stable token handed out mid-life
    ['stable', 200, 0, 200 - 160], // window capped at the lifetime
  ] as const)(
    '%s, lifetime %d s, random %d → refresh %d s after fetch',
    (mode, life, r, expected) => {
      const at = nextRefreshAt(token(life), mode, policy, () => r);
      expect((at - T0) / 1000).toBeCloseTo(expected, 6);
    },
  );

  it('classic: always before expiry and never before the fetch, whatever the jitter', () => {
    for (const life of [1, 6, 60, 301, 7200]) {
      for (const r of [0, 0.3, 0.999]) {
        const at = nextRefreshAt(token(life), 'classic', policy, () => r);
        expect(at).toBeLessThan(T0 + life * 1000);
        expect(at).toBeGreaterThanOrEqual(T0);
      }
    }
  });

  it('stable: always inside the rotation window, where a normal-mode call rotates', () => {
    for (const r of [0, 0.5, 0.999]) {
      const at = nextRefreshAt(token(7200), 'stable', policy, () => r);
      expect(T0 + 7200_000 - at).toBeLessThan(300_000);
      expect(T0 + 7200_000 - at).toBeGreaterThan(0);
    }
  });
});

describe('retryDelayMs (invariant 4: capped exponential backoff)', () => {
  it.each([
    [1, 1, 1000],
    [2, 1, 2000],
    [3, 1, 4000],
    [7, 1, 60_000], // capped
    [50, 1, 60_000],
    [1, 0, 500], // jitter keeps at least half
    [3, 0, 2000],
  ])('attempt %d, random %d → %d ms', (attempt, r, expected) => {
    expect(retryDelayMs(attempt, policy, () => r)).toBe(expected);
  });

  it('retries before a live token expires: at most half the remaining life', () => {
    expect(retryDelayMs(10, policy, () => 1, 20_000)).toBe(10_000);
    expect(retryDelayMs(10, policy, () => 1, 400)).toBe(500); // floor: half retryMin
  });

  it('once the token is dead the cap is the configured maximum', () => {
    expect(retryDelayMs(10, policy, () => 1, -5)).toBe(60_000);
  });
});

describe('Beijing day (WeChat quota day)', () => {
  it('turns at 16:00 UTC', () => {
    const beforeMidnight = Date.UTC(2026, 10, 25, 15, 59, 59);
    const afterMidnight = Date.UTC(2026, 10, 25, 16, 0, 0);
    expect(beijingDayKey(afterMidnight)).toBe(beijingDayKey(beforeMidnight) + 1);
    expect(nextBeijingMidnight(beforeMidnight)).toBe(afterMidnight);
    expect(nextBeijingMidnight(afterMidnight)).toBe(afterMidnight + 86_400_000);
  });
});
