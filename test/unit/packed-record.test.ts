import { describe, expect, it } from 'vitest';
import {
  packedExpiresAt,
  packedValue,
  packRecord,
  unpackRecord,
} from '../../src/token/packed-record.js';
import { MemoryTokenStore } from '../../src/token/memory-token-store.js';
import { TokenCache } from '../../src/token/token-cache.js';
import type { CredentialRecord } from '../../src/token/token.js';
import { FakeClock } from '../support/fake-clock.js';

const APP = 'wxpacked00000001';

const record = (over: Partial<CredentialRecord> = {}): CredentialRecord => ({
  appId: APP,
  value: 'ACCESS_TOKEN_value',
  expiresAt: 1_796_592_207_000,
  fetchedAt: 1_796_585_007_000,
  generation: 7,
  ...over,
});

// Invariant 3 (served only before expires_at) and invariant 5 (generations only move forward)
// rest on the times and the generation coming back exactly as they went in.
describe('packed records: what the cache and the embedded store keep per app', () => {
  it.each([
    ['an ordinary token', record()],
    ['a value with colons, a newline and non-ASCII', record({ value: 'a:b::c\n令牌:' })],
    ['a value that is only colons', record({ value: ':::' })],
    ['an empty value', record({ value: '' })],
    ['fractional and very large times', record({ expiresAt: 1.5e21 + 0.25, fetchedAt: 0.1 })],
    ['a generation past 2^31', record({ generation: 2 ** 40 + 3 })],
    ['a negative time (a clock before 1970 in a test)', record({ fetchedAt: -1, expiresAt: -5 })],
    ['times at zero', record({ fetchedAt: 0, expiresAt: 0 })],
    ['the largest exact integer time', record({ expiresAt: Number.MAX_SAFE_INTEGER })],
    ['a time past the exact integers', record({ expiresAt: 2 ** 60 })],
  ])('%s comes back equal', (_, r) => {
    const packed = packRecord(r);
    expect(unpackRecord(r.appId, packed)).toEqual(r);
    expect(packedExpiresAt(packed)).toBe(r.expiresAt);
    expect(packedValue(packed)).toBe(r.value);
  });

  it('the cache and the embedded store hand out equal records, each read a new object', async () => {
    const clock = new FakeClock();
    const store = new MemoryTokenStore(clock);
    const cache = new TokenCache(clock);
    store.subscribe((t) => cache.offer(t));
    const first = record({ value: 'first:1', fetchedAt: clock.now(), generation: 1 });
    const second = record({ value: 'second:2', fetchedAt: clock.now() + 1, generation: 2 });
    for (const r of [first, second]) {
      const lock = await store.tryAcquire(APP, 10_000);
      await store.write(r, lock!);
      await store.release(lock!);
    }
    expect(cache.get(APP)).toEqual(second);
    expect(cache.previous(APP)).toEqual(first);
    expect(cache.get(APP)).not.toBe(cache.get(APP));
    expect(await store.read(APP)).toEqual({ current: second, previous: first });
    expect([...cache.tokens()]).toEqual([second]);
    expect([first, second].map((r) => cache.holds(APP, r.value))).toEqual([true, true]);
    expect(cache.holds(APP, 'second')).toBe(false);
    expect(cache.holds('wxpacked00000002', second.value)).toBe(false);
  });
});
