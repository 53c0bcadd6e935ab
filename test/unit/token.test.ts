import { describe, expect, it } from 'vitest';
import { isLive, isServable, type TokenRecord } from '../../src/token/token.js';

const T0 = 1_800_000_000_000;
const token = (lifetimeMs: number): TokenRecord => ({
  appId: 'wx',
  value: 't',
  fetchedAt: T0,
  expiresAt: T0 + lifetimeMs,
  generation: 1,
});

// Invariant 3: never serve a dead token, nor one that dies before the caller can use it.
describe('isLive / isServable (invariant 3)', () => {
  it.each([
    // lifetime ms, now offset ms, live, servable
    [7_200_000, 7_198_000, true, true], // 2 s left: margin is capped at 1 s
    [7_200_000, 7_199_000, true, false], // exactly the 1 s margin left
    [7_200_000, 7_200_000, false, false], // at expires_at: dead
    [4_000, 3_900, true, true], // 4 s token: margin 80 ms
    [4_000, 3_930, true, false],
    [4_000, 4_001, false, false],
  ])('lifetime %d ms, %d ms after fetch: live %s, servable %s', (life, at, live, servable) => {
    expect(isLive(token(life), T0 + at)).toBe(live);
    expect(isServable(token(life), T0 + at)).toBe(servable);
  });

  it('nothing is servable when there is no token', () => {
    expect(isServable(undefined, T0)).toBe(false);
  });
});
