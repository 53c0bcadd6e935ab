import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runPythonHarness } from '../support/python-harness.js';

/**
 * Issue 12 "done means", observed by a harness that shares no code with wxtoken
 * (test/e2e/python/ticket_harness.py: Debian's python3-grpcio with requests hand-encoded from
 * proto/, urllib for the simulator's control routes, its own processes): three replicas on one
 * Redis, continuous GetTicket load, the first replica SIGKILLed halfway.
 */
const HARNESS = fileURLToPath(new URL('./python/ticket_harness.py', import.meta.url));

interface Counters {
  calls: number;
  accepted: number;
  rejectedDeadToken: number;
  maxInFlight: number;
}

interface Observations {
  served: Record<string, number>;
  servedDead: number;
  unknownTickets: number;
  errors: Record<string, number>;
  counters: Record<string, Counters>;
  minGapSeconds: number | null;
  fetchesAfterKill: Record<string, number>;
  lifetimeSeconds: number;
  aheadSeconds: number;
  runSeconds: number;
  signatureOk: boolean;
  noTicketsStatus: string | null;
}

let observed: Observations;

beforeAll(async () => {
  observed = await runPythonHarness<Observations>(HARNESS, 'tickets');
}, 150_000);

describe('issue 12 done-means, from an independent harness (3 replicas, one SIGKILLed)', () => {
  it('every ticket served is alive at the simulator and one it issued (invariant 3 per credential)', () => {
    expect(observed.served.jsapi).toBeGreaterThan(100);
    expect(observed.served.wx_card).toBeGreaterThan(100);
    expect(observed.servedDead).toBe(0);
    expect(observed.unknownTickets).toBe(0);
    expect(observed.errors).toEqual({});
  });

  it('one getticket per ticket lifetime and type cluster-wide, never two in flight, never with a dead token (invariants 1, 4)', () => {
    for (const type of ['jsapi', 'wx_card']) {
      const c = observed.counters[type]!;
      expect(c.maxInFlight, type).toBe(1);
      expect(c.rejectedDeadToken, type).toBe(0);
      // Rotation went on after the SIGKILL: the second half alone spans two or more lifetimes.
      expect(observed.fetchesAfterKill[type], type).toBeGreaterThanOrEqual(2);
    }
    // No two fetches of one type closer than a lifetime minus the refresh window (and jitter).
    expect(observed.minGapSeconds).not.toBeNull();
    expect(observed.minGapSeconds!).toBeGreaterThan(
      observed.lifetimeSeconds - observed.aheadSeconds * 1.5,
    );
  });

  it("SignJsapi verifies with the simulator's jsapi ticket; an app without tickets is FAILED_PRECONDITION", () => {
    expect(observed.signatureOk).toBe(true);
    expect(observed.noTicketsStatus).toBe('FAILED_PRECONDITION');
  });
});
