import { describe, expect, it } from 'vitest';
import { LeaderElector, type LeaderElectorOptions } from '../../src/leader/leader-elector.js';
import type { Lease, LeaseHandle } from '../../src/leader/lease.js';
import { MemoryLease } from '../../src/leader/memory-lease.js';
import { FakeClock } from '../support/fake-clock.js';

const TTL_MS = 10_000;
const RENEW_MS = 3_000;
const RETRY_MS = 1_000;

/** What a scripted lease call does; `call` counts from 1 per method. */
type Step = 'grant' | 'lost' | 'hang' | 'throw';
interface Script {
  tryAcquire?: (call: number) => Step;
  extend?: (call: number) => Step;
}

/** A Lease whose answers follow a script, for failures MemoryLease cannot produce. */
function scriptedLease(clock: FakeClock, script: Script = {}) {
  const calls = { tryAcquire: 0, extend: 0, released: [] as LeaseHandle[] };
  let seq = 0;
  const answer = (step: Step, ttlMs: number, value?: string): Promise<LeaseHandle | null> => {
    switch (step) {
      case 'grant':
        return Promise.resolve({
          value: value ?? `lease-${++seq}`,
          expiresAt: clock.now() + ttlMs,
        });
      case 'lost':
        return Promise.resolve(null);
      case 'hang':
        return new Promise<never>(() => undefined);
      case 'throw':
        return Promise.reject(new Error('redis: connection lost'));
    }
  };
  const lease: Lease = {
    tryAcquire: (ttlMs) => {
      const call = ++calls.tryAcquire;
      return answer(script.tryAcquire?.(call) ?? 'grant', ttlMs);
    },
    extend: (handle, ttlMs) => {
      const call = ++calls.extend;
      return answer(script.extend?.(call) ?? 'grant', ttlMs, handle.value);
    },
    release: async (handle) => {
      calls.released.push(handle);
    },
  };
  return { lease, calls };
}

/** Counts calls on a real lease, passing them through. */
function counted(inner: Lease) {
  const calls = { tryAcquire: 0, extend: 0, release: 0 };
  const lease: Lease = {
    tryAcquire: (ttl) => (calls.tryAcquire++, inner.tryAcquire(ttl)),
    extend: (h, ttl) => (calls.extend++, inner.extend(h, ttl)),
    release: (h) => (calls.release++, inner.release(h)),
  };
  return { lease, calls };
}

/**
 * Runs an elector whose leader-only work runs until its signal aborts, recording
 * what happened with times relative to the start.
 */
function startElector(clock: FakeClock, lease: Lease, options: Partial<LeaderElectorOptions> = {}) {
  const t0 = clock.now();
  const log: string[] = [];
  const signals: AbortSignal[] = [];
  const errors: unknown[] = [];
  const at = () => clock.now() - t0;
  const elector: LeaderElector = new LeaderElector({
    lease,
    clock,
    ttlMs: TTL_MS,
    renewIntervalMs: RENEW_MS,
    retryIntervalMs: RETRY_MS,
    onStartedLeading: (signal) => {
      signals.push(signal);
      log.push(`started@${at()}`);
      return new Promise<void>((resolve) =>
        signal.addEventListener(
          'abort',
          () => {
            log.push(`work aborted@${at()}`);
            resolve();
          },
          { once: true },
        ),
      );
    },
    onStoppedLeading: () => log.push(`stopped@${at()} isLeader=${elector.isLeader()}`),
    onError: (err) => errors.push(err),
    ...options,
  });
  const shutdown = new AbortController();
  const done = elector.run(shutdown.signal);
  let finished = false;
  void done.then(() => (finished = true));
  return {
    elector,
    log,
    signals,
    errors,
    done,
    isFinished: () => finished,
    /** Aborts run()'s signal, as SIGTERM does. */
    shutdown: () => shutdown.abort(),
    stop: async () => {
      shutdown.abort();
      await done;
    },
  };
}

describe('LeaderElector (invariant 7: leadership is a lease)', () => {
  it('becomes leader and hands onStartedLeading a live signal', async () => {
    const clock = new FakeClock();
    const e = startElector(clock, new MemoryLease(clock));
    await clock.advance(0);
    expect(e.elector.isLeader()).toBe(true);
    expect(e.log).toEqual(['started@0']);
    expect(e.signals[0]?.aborted).toBe(false);
    await e.stop();
  });

  it('extends the lease every renewIntervalMs, well before it lapses', async () => {
    const clock = new FakeClock();
    const { lease, calls } = counted(new MemoryLease(clock));
    const e = startElector(clock, lease);
    await clock.advance(RENEW_MS - 1);
    expect(calls.extend).toBe(0);
    await clock.advance(1);
    expect(calls.extend).toBe(1);
    await clock.advance(10 * RENEW_MS - 1);
    expect(calls.extend).toBe(10);
    // Ten renewals later: still the one leadership, never interrupted.
    expect(calls.tryAcquire).toBe(1);
    expect(e.log).toEqual(['started@0']);
    expect(e.signals[0]?.aborted).toBe(false);
    await e.stop();
  });

  it('when an extension reports the lease lost, aborts the work at once, stops leading and retries', async () => {
    const clock = new FakeClock();
    const { lease, calls } = scriptedLease(clock, { extend: (n) => (n === 2 ? 'lost' : 'grant') });
    const e = startElector(clock, lease);
    await clock.advance(2 * RENEW_MS);
    expect(e.elector.isLeader()).toBe(false);
    expect(e.signals[0]?.aborted).toBe(true);
    expect(e.log).toEqual([
      'started@0',
      `work aborted@${2 * RENEW_MS}`,
      `stopped@${2 * RENEW_MS} isLeader=false`,
    ]);
    expect(calls.released).toEqual([]); // nothing to release: the lease is gone
    // A follower again: it tries to acquire after retryIntervalMs and leads anew.
    await clock.advance(RETRY_MS);
    expect(calls.tryAcquire).toBe(2);
    expect(e.elector.isLeader()).toBe(true);
    expect(e.log.at(-1)).toBe(`started@${2 * RENEW_MS + RETRY_MS}`);
    expect(e.signals[1]?.aborted).toBe(false);
    await e.stop();
  });

  it('when an extension throws, reports it to onError and stops leading at once', async () => {
    const clock = new FakeClock();
    const { lease } = scriptedLease(clock, {
      extend: () => 'throw',
      tryAcquire: (n) => (n === 1 ? 'grant' : 'lost'),
    });
    const e = startElector(clock, lease);
    await clock.advance(RENEW_MS);
    expect(e.errors).toEqual([new Error('redis: connection lost')]);
    expect(e.elector.isLeader()).toBe(false);
    expect(e.log).toEqual([
      'started@0',
      `work aborted@${RENEW_MS}`,
      `stopped@${RENEW_MS} isLeader=false`,
    ]);
    await e.stop();
  });

  it('when an extension hangs, stops leading by the time the lease would lapse (watchdog)', async () => {
    const clock = new FakeClock();
    // Two renewals land, the third never returns (a partition with no socket timeout).
    const { lease, calls } = scriptedLease(clock, {
      extend: (n) => (n <= 2 ? 'grant' : 'hang'),
      tryAcquire: (n) => (n === 1 ? 'grant' : 'lost'),
    });
    const e = startElector(clock, lease);
    const lapsesAt = 2 * RENEW_MS + TTL_MS; // expiry granted by the last landed extension
    await clock.advance(3 * RENEW_MS);
    expect(calls.extend).toBe(3);
    expect(e.elector.isLeader()).toBe(true);
    await clock.advance(lapsesAt - 3 * RENEW_MS - 1);
    expect(e.signals[0]?.aborted).toBe(false);
    await clock.advance(1);
    expect(e.signals[0]?.aborted).toBe(true);
    expect(e.elector.isLeader()).toBe(false);
    expect(e.log).toEqual([
      'started@0',
      `work aborted@${lapsesAt}`,
      `stopped@${lapsesAt} isLeader=false`,
    ]);
    // It is a follower again, trying to acquire, and still shuts down cleanly.
    await clock.advance(RETRY_MS);
    expect(calls.tryAcquire).toBe(2);
    await e.stop();
    expect(e.isFinished()).toBe(true);
  });

  it('a shutdown during a hung extension still finishes, at the latest when the lease lapses', async () => {
    const clock = new FakeClock();
    const { lease } = scriptedLease(clock, { extend: () => 'hang' });
    const e = startElector(clock, lease);
    await clock.advance(RENEW_MS + 1);
    e.shutdown();
    await clock.advance(TTL_MS - RENEW_MS - 2);
    expect(e.isFinished()).toBe(false); // still waiting on the extension it sent
    await clock.advance(1);
    await e.done;
    expect(e.elector.isLeader()).toBe(false);
    expect(e.log).toEqual([
      'started@0',
      `work aborted@${TTL_MS}`,
      `stopped@${TTL_MS} isLeader=false`,
    ]);
  });

  it('on shutdown stops the work, then releases the lease so a contender acquires at once', async () => {
    const clock = new FakeClock();
    const memory = new MemoryLease(clock);
    const { lease, calls } = counted(memory);
    const e = startElector(clock, lease);
    await clock.advance(RENEW_MS + 1);
    expect(await memory.tryAcquire(TTL_MS)).toBeNull(); // held by the leader
    await e.stop();
    expect(calls.release).toBe(1);
    expect(e.elector.isLeader()).toBe(false);
    expect(e.log).toEqual([
      'started@0',
      `work aborted@${RENEW_MS + 1}`,
      `stopped@${RENEW_MS + 1} isLeader=false`,
    ]);
    // No time has passed: the lease is free now, not TTL later.
    expect(await memory.tryAcquire(TTL_MS)).not.toBeNull();
  });

  it('releases the lease only after leader-only work has finished', async () => {
    const clock = new FakeClock();
    const order: string[] = [];
    const memory = new MemoryLease(clock);
    const lease: Lease = {
      tryAcquire: (ttl) => memory.tryAcquire(ttl),
      extend: (h, ttl) => memory.extend(h, ttl),
      release: (h) => (order.push('release'), memory.release(h)),
    };
    const e = startElector(clock, lease, {
      onStartedLeading: async (signal) => {
        await clock.sleep(60_000, signal).catch(() => undefined);
        await clock.sleep(500); // drains in-flight writes after the abort
        order.push('work finished');
      },
      onStoppedLeading: () => order.push('stopped'),
    });
    await clock.advance(RENEW_MS);
    e.shutdown();
    await clock.advance(500);
    await e.done;
    expect(order).toEqual(['work finished', 'stopped', 'release']);
  });

  it('a shutdown while following resolves without touching the lease', async () => {
    const clock = new FakeClock();
    const { lease, calls } = scriptedLease(clock, { tryAcquire: () => 'lost' });
    const e = startElector(clock, lease);
    await clock.advance(3 * RETRY_MS);
    expect(calls.tryAcquire).toBe(4); // at 0, 1 s, 2 s, 3 s
    await e.stop();
    expect(calls.released).toEqual([]);
    expect(e.log).toEqual([]);
  });

  it('a tryAcquire that throws is reported to onError and retried after renewIntervalMs (an outage does not multiply retries)', async () => {
    const clock = new FakeClock();
    const { lease, calls } = scriptedLease(clock, {
      tryAcquire: (n) => (n <= 2 ? 'throw' : 'grant'),
    });
    const e = startElector(clock, lease);
    await clock.advance(0);
    expect(e.errors).toHaveLength(1);
    expect(e.elector.isLeader()).toBe(false);
    await clock.advance(RETRY_MS);
    expect(calls.tryAcquire).toBe(1); // not yet: errors back off to the renew interval
    await clock.advance(RENEW_MS - RETRY_MS);
    expect(e.errors).toHaveLength(2);
    await clock.advance(RENEW_MS);
    expect(calls.tryAcquire).toBe(3);
    expect(e.errors).toEqual([
      new Error('redis: connection lost'),
      new Error('redis: connection lost'),
    ]);
    expect(e.elector.isLeader()).toBe(true);
    expect(e.log).toEqual([`started@${2 * RENEW_MS}`]);
    await e.stop();
  });

  it('without retryIntervalMs a follower retries a held lease every min(renewIntervalMs, 250 ms)', async () => {
    const clock = new FakeClock();
    const { lease, calls } = scriptedLease(clock, { tryAcquire: () => 'lost' });
    const e = startElector(clock, lease, { retryIntervalMs: undefined });
    const every = Math.min(RENEW_MS, 250);
    await clock.advance(3 * every);
    expect(calls.tryAcquire).toBe(4);
    await e.stop();
  });

  it('a failure thrown by leader-only work goes to onError and ends that leadership cleanly', async () => {
    const clock = new FakeClock();
    const { lease } = scriptedLease(clock);
    const boom = new Error('scheduler crashed');
    const e = startElector(clock, lease, { onStartedLeading: () => Promise.reject(boom) });
    await clock.advance(RENEW_MS);
    expect(e.errors).toEqual([boom]);
    await e.stop();
    expect(e.isFinished()).toBe(true);
  });
});

describe('LeaderElector: two replicas on one lease (invariant 7: one leader, fast takeover)', () => {
  it('the second stays follower while the first leads, and takes over at its next retry after a shutdown', async () => {
    const clock = new FakeClock();
    const shared = new MemoryLease(clock);
    const a = startElector(clock, shared);
    await clock.advance(0);
    const b = startElector(clock, shared);
    for (let i = 0; i < 50; i++) {
      await clock.advance(TTL_MS / 5);
      expect([a.elector.isLeader(), b.elector.isLeader()]).toEqual([true, false]);
    }
    expect(b.log).toEqual([]);
    await a.stop();
    expect(a.elector.isLeader()).toBe(false);
    await clock.advance(RETRY_MS);
    expect(b.elector.isLeader()).toBe(true);
    expect(b.signals[0]?.aborted).toBe(false);
    await b.stop();
  });

  it('when the leader is cut off from the lease, the follower takes over once it lapses, never both at once', async () => {
    const clock = new FakeClock();
    const shared = new MemoryLease(clock);
    let partitioned = false;
    const aLease: Lease = {
      tryAcquire: (ttl) =>
        partitioned ? Promise.reject(new Error('partition')) : shared.tryAcquire(ttl),
      extend: (h, ttl) =>
        partitioned ? Promise.reject(new Error('partition')) : shared.extend(h, ttl),
      release: (h) => shared.release(h),
    };
    const a = startElector(clock, aLease);
    await clock.advance(0);
    const b = startElector(clock, shared);
    await clock.advance(RENEW_MS); // a extended at t=RENEW: the lease now lapses at RENEW + TTL
    partitioned = true;
    const lapsesAt = clock.now() + TTL_MS;
    let bLeadsAt: number | undefined;
    for (let step = 0; step < 2 * TTL_MS; step += 100) {
      await clock.advance(100);
      expect(a.elector.isLeader() && b.elector.isLeader()).toBe(false);
      if (bLeadsAt === undefined && b.elector.isLeader()) bLeadsAt = clock.now();
    }
    expect(a.elector.isLeader()).toBe(false);
    expect(bLeadsAt).toBeGreaterThanOrEqual(lapsesAt);
    expect(bLeadsAt).toBeLessThanOrEqual(lapsesAt + RETRY_MS);
    await a.stop();
    await b.stop();
  });
});
