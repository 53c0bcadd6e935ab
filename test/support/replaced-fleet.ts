import type { Clock } from '../../src/shared/clock.js';
import type { TokenRecord } from '../../src/token/token.js';
import type { TokenCache } from '../../src/token/token-cache.js';

/** Lifetime of the records below: 10 minutes. */
export const FLEET_LIFETIME_MS = 600_000;
/** The app whose refreshes move the sweepers' hands in `replacedFleet`. */
export const CHURN_APP = 'wxchurn000000001';

/** `appId`'s token of `generation`, valued `<appId>-<generation>`, fetched at `fetchedAt`. */
export function fleetRecord(appId: string, generation: number, fetchedAt: number): TokenRecord {
  return {
    appId,
    value: `${appId}-${generation}`,
    fetchedAt,
    expiresAt: fetchedAt + FLEET_LIFETIME_MS,
    generation,
  };
}

/**
 * Puts every app of `ids` on its second token (the first one held as previous until
 * FLEET_LIFETIME_MS from now) and returns `refreshOther(n)`: n fresh tokens of CHURN_APP, each
 * one applied token for the sweepers (previous tokens looked at per token applied).
 */
export function replacedFleet(cache: TokenCache, clock: Clock, ids: readonly string[]) {
  const t0 = clock.now();
  for (const a of ids) cache.offer(fleetRecord(a, 1, t0));
  for (const a of ids) cache.offer(fleetRecord(a, 2, t0 + FLEET_LIFETIME_MS / 2));
  let churn = 0;
  return {
    t0,
    refreshOther: (times: number): void => {
      for (let i = 0; i < times; i++) cache.offer(fleetRecord(CHURN_APP, ++churn, clock.now()));
    },
  };
}
