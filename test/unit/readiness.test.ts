import { describe, expect, it } from 'vitest';
import { READINESS_INTERVAL_MS, startReadiness } from '../../src/server/readiness.js';
import { TokenCache } from '../../src/token/token-cache.js';
import { isServable, type TokenRecord } from '../../src/token/token.js';
import { FakeClock } from '../support/fake-clock.js';

/**
 * Per-app health (grpc.health.v1 service = app id) follows each app's token without a pass over
 * every app each second (issue 15 item 5: that pass held a 100,000-app event loop ~80 ms a
 * second). What must hold: an app turns NOT_SERVING within one tick of its token ceasing to be
 * servable, with no event at all; a new token turns it SERVING at once; and a tick only looks
 * at the apps whose token is about to end.
 */
const APPS = Array.from({ length: 50 }, (_, i) => `wxready${String(i).padStart(4, '0')}`);

function setup() {
  const clock = new FakeClock();
  const cache = new TokenCache();
  const statuses = new Map<string, string>();
  let looks = 0;
  const token = (appId: string, generation: number, lifetimeMs: number): TokenRecord => ({
    appId,
    value: `v-${appId}-${generation}`,
    generation,
    fetchedAt: clock.now(),
    expiresAt: clock.now() + lifetimeMs,
  });
  // Tokens of 1 to 50 minutes: one ends every minute.
  APPS.forEach((appId, i) => cache.offer(token(appId, 1, (i + 1) * 60_000)));
  const readiness = startReadiness({
    clock,
    grpc: {
      setServing: (s) => statuses.set('', s),
      setAppServing: (appId, s) => statuses.set(appId, s),
    },
    appIds: APPS,
    cache,
    hasLiveToken: (appId) => {
      looks++;
      return isServable(cache.get(appId), clock.now());
    },
    isReady: () => true,
    onReady: () => undefined,
  });
  return { clock, cache, statuses, token, readiness, looks: () => looks };
}

describe('readiness per app (issue 15 item 5)', () => {
  it('an app turns NOT_SERVING within a tick of its token ending, with no event; a new token turns it SERVING at once', async () => {
    const { clock, cache, statuses, token, readiness } = setup();
    expect(APPS.every((a) => statuses.get(a) === 'SERVING')).toBe(true);
    // 2.5 minutes: the 1- and 2-minute tokens have ended, the others not.
    await clock.advance(150_000);
    expect(statuses.get(APPS[0]!)).toBe('NOT_SERVING');
    expect(statuses.get(APPS[1]!)).toBe('NOT_SERVING');
    expect(statuses.get(APPS[2]!)).toBe('SERVING');
    // The end of a token is seen within one tick of it (servable until 1 s before its expiry).
    await clock.advance(180_000 - 150_000 - 1000 - 1);
    expect(statuses.get(APPS[2]!)).toBe('SERVING');
    await clock.advance(READINESS_INTERVAL_MS + 1);
    expect(statuses.get(APPS[2]!)).toBe('NOT_SERVING');
    cache.offer(token(APPS[0]!, 2, 60_000));
    expect(statuses.get(APPS[0]!)).toBe('SERVING');
    await clock.advance(61_000);
    expect(statuses.get(APPS[0]!)).toBe('NOT_SERVING');
    expect(statuses.get('')).toBe('SERVING');
    readiness.stop();
  });

  it('a tick looks only at the apps whose token is about to end, not at every app', async () => {
    const { clock, looks, readiness } = setup();
    const atStart = looks();
    expect(atStart).toBe(APPS.length);
    // 10 minutes of 1 s ticks (600 ticks): 10 tokens end, each looked at a tick or two.
    await clock.advance(600_000);
    expect(looks() - atStart).toBeGreaterThanOrEqual(10);
    expect(looks() - atStart).toBeLessThanOrEqual(3 * 10);
    readiness.stop();
  });
});
