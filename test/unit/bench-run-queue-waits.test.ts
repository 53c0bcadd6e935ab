import { describe, expect, it } from 'vitest';
import { RunQueueWaits, runDelayNs } from '../../bench/run-queue-waits.js';

/**
 * The scale benchmark tells a stall caused by the machine (a server thread waiting for a core)
 * from one caused by server work with Linux's per-thread schedstat: a misread field would blame
 * the machine, or the server, wrongly.
 */
describe('run-queue waits (bench: /proc/<pid>/task/<tid>/schedstat)', () => {
  it('reads the run-queue wait, the second of three fields', () => {
    expect(runDelayNs('1882409 7304 12\n')).toBe(7304);
    expect(runDelayNs('  5 0 1 ')).toBe(0);
  });

  it('refuses a line that is not schedstat', () => {
    expect(runDelayNs('')).toBeUndefined();
    expect(runDelayNs('12 34')).toBeUndefined();
    expect(runDelayNs('12 x 3')).toBeUndefined();
  });

  it('fails loudly for a process it cannot read', () => {
    expect(() => RunQueueWaits.start(2 ** 22 + 1)).toThrow(
      /run-queue waits need \/proc\/\d+\/task/,
    );
  });

  it('reads this process on this kernel', async () => {
    const waits = RunQueueWaits.start(process.pid, 5);
    const from = Date.now();
    await new Promise((r) => setTimeout(r, 60));
    const s = waits.between(from, Date.now() + 1);
    waits.stop();
    expect(s.mainMs).toBeGreaterThanOrEqual(0);
    expect(s.helperMs).toBeGreaterThanOrEqual(0);
    expect(Number.isFinite(s.mainTotalMs)).toBe(true);
    expect(s.mainTotalMs).toBeGreaterThanOrEqual(0);
  });
});
