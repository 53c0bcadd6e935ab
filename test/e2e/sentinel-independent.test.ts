import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runPythonHarness } from '../support/python-harness.js';

/**
 * Issue 16 "done means", observed by a harness that shares no code with wxtoken
 * (test/e2e/python/sentinel_harness.py: its own redis-server, sentinels, simulator and two
 * `wxtoken serve` whose `redis:` holds only `sentinels` and `sentinelName`; Debian's
 * python3-grpcio with requests hand-encoded from proto/). The primary is SIGKILLed while a
 * token fetch is in flight.
 */
const HARNESS = fileURLToPath(new URL('./python/sentinel_harness.py', import.meta.url));

interface Observations {
  served: number;
  invalid: number;
  errors: Record<string, number>;
  tokenCallsAfterKill: number;
  maxInFlight: number;
  promotionSeconds: number;
  recoverSeconds: number;
  lifetimeSeconds: number;
}

let observed: Observations;

beforeAll(async () => {
  observed = await runPythonHarness<Observations>(HARNESS, 'sentinel');
}, 150_000);

describe('issue 16 done-means, from an independent harness (Sentinel primary SIGKILLed)', () => {
  it('zero invalid tokens and no errors through the promotion', () => {
    expect(observed.served).toBeGreaterThan(100);
    expect(observed.invalid).toBe(0);
    expect(observed.errors).toEqual({});
  });

  it('rotation continues on the promoted primary, one fetch in flight at a time', () => {
    expect(observed.tokenCallsAfterKill).toBeGreaterThanOrEqual(1);
    expect(observed.maxInFlight).toBe(1);
    expect(observed.recoverSeconds).toBeGreaterThanOrEqual(observed.promotionSeconds);
  });
});
