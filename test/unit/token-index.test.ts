import { describe, expect, it } from 'vitest';
import { AppDirectory } from '../../src/apps/app-directory.js';
import type { AppConfig } from '../../src/config/config.js';
import { TokenIndex } from '../../src/gateway/token-index.js';
import { Secret } from '../../src/shared/secret.js';
import type { TokenRecord } from '../../src/token/token.js';
import { TokenCache } from '../../src/token/token-cache.js';
import { FakeClock } from '../support/fake-clock.js';

const LIFETIME_MS = 600_000;
const app = (appId: string): AppConfig => ({
  appId,
  mode: 'classic',
  secret: new Secret('s'),
  secretSource: 'inline',
  tickets: [],
});
const record = (appId: string, generation: number, fetchedAt: number): TokenRecord => ({
  appId,
  value: `${appId}-${generation}`,
  fetchedAt,
  expiresAt: fetchedAt + LIFETIME_MS,
  generation,
});

describe('TokenIndex (the gateway opens pass-through only for tokens wxtoken holds)', () => {
  const ids = Array.from({ length: 50 }, (_, i) => `wxindex${String(i).padStart(9, '0')}`);
  function fleet() {
    const clock = new FakeClock();
    const cache = new TokenCache(clock);
    const index = new TokenIndex(cache, new AppDirectory([...ids, 'wxchurn000000001'].map(app)));
    const t0 = clock.now();
    for (const a of ids) cache.offer(record(a, 1, t0));
    for (const a of ids) cache.offer(record(a, 2, t0 + 300_000));
    let churn = 0;
    const refreshOther = (times: number): void => {
      for (let i = 0; i < times; i++) {
        cache.offer(record('wxchurn000000001', ++churn, clock.now()));
      }
    };
    return { clock, cache, index, refreshOther };
  }

  it('knows current and previous (overlap) tokens, and no expired one', async () => {
    const { clock, index } = fleet();
    expect(ids.every((a) => index.appOf(`${a}-2`, clock.now()) === a)).toBe(true);
    expect(ids.every((a) => index.appOf(`${a}-1`, clock.now()) === a)).toBe(true);
    expect(index.appOf('wxindex000000000-3', clock.now())).toBeUndefined();
    await clock.advance(LIFETIME_MS);
    expect(index.appOf(`${ids[0]}-1`, clock.now())).toBeUndefined();
    expect(index.appOf(`${ids[0]}-2`, clock.now())).toBe(ids[0]);
  });

  it('forgets a previous token once the cache dropped it after its expiry (memory per app)', async () => {
    const { clock, cache, index, refreshOther } = fleet();
    expect(index.size).toBe(100);
    await clock.advance(LIFETIME_MS);
    // Two rounds of 16 entries a refresh: the cache's hand, then the index's.
    const refreshes = 2 * Math.ceil(51 / 16);
    refreshOther(refreshes);
    expect(ids.filter((a) => cache.previous(a) !== undefined)).toEqual([]);
    // Each app's current value, and the refreshing app's current and (live) previous one.
    expect(index.size).toBe(ids.length + 2);
    expect(ids.every((a) => index.appOf(`${a}-2`, clock.now()) === a)).toBe(true);
    expect(index.appOf(`wxchurn000000001-${refreshes - 1}`, clock.now())).toBe('wxchurn000000001');
  });
});
