import { describe, expect, it } from 'vitest';
import { AppDirectory } from '../../src/apps/app-directory.js';
import type { AppConfig } from '../../src/config/config.js';
import { TokenIndex } from '../../src/gateway/token-index.js';
import { Secret } from '../../src/shared/secret.js';
import { TokenCache } from '../../src/token/token-cache.js';
import { FakeClock } from '../support/fake-clock.js';
import {
  CHURN_APP,
  FLEET_LIFETIME_MS,
  fleetRecord,
  replacedFleet,
} from '../support/replaced-fleet.js';

const app = (appId: string): AppConfig => ({
  appId,
  mode: 'classic',
  secret: new Secret('s'),
  secretSource: 'inline',
  tickets: [],
});

/**
 * Tokens applied for one round of the index's sweep that deletes `deleted` values: each looks
 * at 32 of its 1,024 places, a deletion taking the place of one (the pair shifted into the
 * hole is looked at next).
 */
const indexRound = (deleted: number): number => Math.ceil((1024 + deleted) / 32);

describe('TokenIndex (the gateway opens pass-through only for tokens wxtoken holds)', () => {
  const ids = Array.from({ length: 50 }, (_, i) => `wxindex${String(i).padStart(9, '0')}`);
  function fleet() {
    const clock = new FakeClock();
    const cache = new TokenCache(clock);
    // CHURN_APP is not a gateway app: its tokens only move the sweepers' hands.
    const index = new TokenIndex(cache, new AppDirectory(ids.map(app)), clock);
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
    // A round of the cache's hand (16 previous tokens a token applied: 51 with the churning
    // app's), then one of the index's (32 of its 1,024 places a token applied) after it.
    refreshOther(Math.ceil(51 / 16) + indexRound(ids.length));
    expect(ids.filter((a) => cache.previous(a) !== undefined)).toEqual([]);
    // Each app's current value only: the expired ones went with their records.
    expect(index.size).toBe(ids.length);
    expect(ids.every((a) => index.appOf(`${a}-2`, clock.now()) === a)).toBe(true);
    expect(index.appOf(`${CHURN_APP}-1`, clock.now())).toBeUndefined();
  });

  it('forgets what the cache drops for an app that left, at once or by the sweep', () => {
    const { clock, cache, index, refreshOther } = fleet();
    // Joined at run time, as authorizers do (configured apps are never removed).
    const directory = new AppDirectory([]);
    for (const a of ids) directory.add(app(a));
    const tracked = new TokenIndex(cache, directory, clock);
    expect(tracked.size).toBe(2 * ids.length);
    // Removed from the gateway while the cache still holds its tokens: deleted at once.
    directory.remove(ids[0]!);
    expect(tracked.size).toBe(2 * ids.length - 2);
    expect(tracked.appOf(`${ids[0]}-2`, clock.now())).toBeUndefined();
    // Dropped by the cache first (an unauthorized authorizer), then removed: by the sweep.
    cache.drop(ids[1]!);
    directory.remove(ids[1]!);
    expect(tracked.appOf(`${ids[1]}-2`, clock.now())).toBeUndefined();
    refreshOther(indexRound(2));
    expect(tracked.size).toBe(2 * ids.length - 4);
    expect(index.size).toBe(2 * ids.length - 2);
  });
  it('refuses a token replaced twice at once, and forgets it after its expiry', async () => {
    const { clock, cache, index, refreshOther, t0 } = fleet();
    const a = ids[0]!;
    // Two forced refreshes: -2 becomes previous, then -3 replaces it; -2 is held no more. Both
    // new tokens expire after every value of the fleet.
    cache.offer(fleetRecord(a, 3, t0 + FLEET_LIFETIME_MS));
    cache.offer(fleetRecord(a, 4, t0 + FLEET_LIFETIME_MS));
    expect(index.appOf(`${a}-2`, clock.now())).toBeUndefined();
    expect(index.appOf(`${a}-3`, clock.now())).toBe(a);
    expect(index.appOf(`${a}-4`, clock.now())).toBe(a);
    expect(index.size).toBe(2 * ids.length + 2);
    await clock.advance(1.5 * FLEET_LIFETIME_MS);
    refreshOther(indexRound(2 * ids.length));
    // Every value of the fleet has expired and gone, a's -2 with them; -3 and -4 are kept.
    expect(index.size).toBe(2);
    expect(index.appOf(`${a}-4`, clock.now())).toBe(a);
  });

  it('answers a token by its own bytes: a lookup of another string of the same app misses', () => {
    const { clock, index } = fleet();
    const a = ids[0]!;
    expect(index.appOf(`${a}-2 `, clock.now())).toBeUndefined();
    expect(index.appOf(`${a}-`, clock.now())).toBeUndefined();
    expect(index.appOf('', clock.now())).toBeUndefined();
    expect(index.appOf('x'.repeat(10_000), clock.now())).toBeUndefined();
  });
});
