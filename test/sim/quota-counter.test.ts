import { describe, expect, it } from 'vitest';
import { QuotaCounter, beijingDay } from '../../src/sim/quota-counter.js';

describe('beijingDay (wechat-api.md §11: quotas roll over at 00:00 Beijing, UTC+8)', () => {
  it.each([
    ['15:59:59.999 UTC is still the same Beijing day', '2026-11-25T15:59:59.999Z', 0],
    ['16:00 UTC is Beijing midnight', '2026-11-25T16:00:00.000Z', 1],
    ['00:00 UTC is 08:00 Beijing, same day as 16:00 UTC the day before', '2026-11-26T00:00:00Z', 1],
    ['23:59 Beijing', '2026-11-26T15:59:00Z', 1],
  ])('%s', (_name, iso, offset) => {
    const base = beijingDay(Date.parse('2026-11-25T04:00:00Z'));
    expect(beijingDay(Date.parse(iso)) - base).toBe(offset);
  });
});

describe('QuotaCounter', () => {
  it('refuses past the limit without counting the refusal, and starts over in a new period', () => {
    const counter = new QuotaCounter((now) => Math.floor(now / 100));
    expect([1, 2, 3].map(() => counter.tryTake(0, 2))).toEqual([true, true, false]);
    expect(counter.used(50)).toBe(2);
    expect(counter.tryTake(100, 2)).toBe(true);
    expect(counter.used(100)).toBe(1);
  });

  it('applies a raised limit to the current period', () => {
    const counter = new QuotaCounter(() => 0);
    counter.tryTake(0, 1);
    expect(counter.tryTake(0, 1)).toBe(false);
    expect(counter.tryTake(0, 2)).toBe(true);
  });
});
