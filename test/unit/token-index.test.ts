import { describe, expect, it } from 'vitest';
import { AppDirectory } from '../../src/apps/app-directory.js';
import type { AppConfig } from '../../src/config/config.js';
import { TokenIndex } from '../../src/gateway/token-index.js';
import { Secret } from '../../src/shared/secret.js';
import { TokenCache } from '../../src/token/token-cache.js';
import { FakeClock } from '../support/fake-clock.js';
import { CHURN_APP, FLEET_LIFETIME_MS, replacedFleet } from '../support/replaced-fleet.js';

const app = (appId: string): AppConfig => ({
  appId,
  mode: 'classic',
  secret: new Secret('s'),
  secretSource: 'inline',
  tickets: [],
});

describe('TokenIndex (the gateway opens pass-through only for tokens wxtoken holds)', () => {
  const ids = Array.from({ length: 50 }, (_, i) => `wxindex${String(i).padStart(9, '0')}`);
  function fleet() {
    const clock = new FakeClock();
    const cache = new TokenCache(clock);
    const index = new TokenIndex(cache, new AppDirectory([...ids, CHURN_APP].map(app)));
    return { clock, cache, index, ...replacedFleet(cache, clock, ids) };
  }

  it('knows current and previous (overlap) tokens, and no expired one', async () => {
    const { clock, index } = fleet();
    expect(ids.every((a) => index.appOf(`${a}-2`, clock.now()) === a)).toBe(true);
    expect(ids.every((a) => index.appOf(`${a}-1`, clock.now()) === a)).toBe(true);
    expect(index.appOf('wxindex000000000-3', clock.now())).toBeUndefined();
    await clock.advance(FLEET_LIFETIME_MS);
    expect(index.appOf(`${ids[0]}-1`, clock.now())).toBeUndefined();
    expect(index.appOf(`${ids[0]}-2`, clock.now())).toBe(ids[0]);
  });

  it('forgets a previous token once the cache dropped it after its expiry (memory per app)', async () => {
    const { clock, cache, index, refreshOther } = fleet();
    expect(index.size).toBe(100);
    await clock.advance(FLEET_LIFETIME_MS);
    // Two rounds of 16 entries a refresh: the cache's hand, then the index's.
    const refreshes = 2 * Math.ceil(51 / 16);
    refreshOther(refreshes);
    expect(ids.filter((a) => cache.previous(a) !== undefined)).toEqual([]);
    // Each app's current value, and the refreshing app's current and (live) previous one.
    expect(index.size).toBe(ids.length + 2);
    expect(ids.every((a) => index.appOf(`${a}-2`, clock.now()) === a)).toBe(true);
    expect(index.appOf(`${CHURN_APP}-${refreshes - 1}`, clock.now())).toBe(CHURN_APP);
  });
});
