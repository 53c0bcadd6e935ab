import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient, waitReady } from '../../src/redis/redis-clients.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { createRedlockLocks } from '../../src/redis/redlock-locks.js';
import { systemClock } from '../../src/shared/clock.js';
import { StoreUnavailableError } from '../../src/shared/errors.js';
import { startRedisNodes, type RedisNode } from '../support/redis-server.js';
import { timed } from '../support/timed.js';

const COMMAND_TIMEOUT_MS = 500;
/** A hang check, not a benchmark: an unreachable quorum must settle, and well before this. */
const SETTLE_LIMIT_MS = 3_000;
const TTL_MS = 5_000;

/** Polls `attempt` until it yields a value (errors count as "not yet"), for reconnects. */
async function eventually<T>(attempt: () => Promise<T | null>, timeoutMs = 8_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`no success within ${timeoutMs} ms`);
    await sleep(100);
  }
}

describe.each([
  { topology: '1 node', count: 1 },
  { topology: '3 nodes', count: 3 },
])('Redlock lease and refresh locks on $topology', ({ count }) => {
  const quorum = Math.floor(count / 2) + 1;
  // Topology-specific cases are registered only on their topology (not reported as skipped).
  const onlyOn = (n: number): typeof it =>
    n === count ? it : ((() => undefined) as unknown as typeof it);
  let nodes: RedisNode[] = [];
  let clients: Redis[] = [];
  const stopped = new Set<RedisNode>();
  const paused = new Set<RedisNode>();

  beforeAll(async () => {
    nodes = await startRedisNodes(count);
    clients = nodes.map((n) =>
      createRedisClient(n.url, { commandTimeoutMs: COMMAND_TIMEOUT_MS, connectionName: 'test' }),
    );
    await Promise.all(clients.map((c) => waitReady(c, 5_000)));
  });

  // Tests that take nodes down bring them back, so the next test starts on a healthy topology.
  afterEach(async () => {
    for (const node of paused) node.resume();
    paused.clear();
    await Promise.all([...stopped].map((node) => node.restart()));
    stopped.clear();
    await Promise.all(clients.map((c) => waitReady(c, 5_000)));
  });

  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await Promise.all(nodes.map((n) => n.stop()));
  });

  /** Two replicas' worth of locks over the same nodes, on a key prefix of their own. */
  function contenders() {
    const keys = new RedisKeys(`test:${randomUUID()}:`);
    return {
      keys,
      a: createRedlockLocks(clients, keys, systemClock),
      b: createRedlockLocks(clients, keys, systemClock),
    };
  }

  const stop = async (node: RedisNode): Promise<void> => {
    stopped.add(node);
    await node.stop();
  };
  const pause = (node: RedisNode): void => {
    paused.add(node);
    node.pause();
  };

  it('invariant 7: a held lease refuses other contenders until released, then the next one takes it at once', async () => {
    const { a, b } = contenders();
    const held = await a.lease.tryAcquire(TTL_MS);
    expect(held).not.toBeNull();
    expect(await b.lease.tryAcquire(TTL_MS)).toBeNull();
    expect(await a.lease.tryAcquire(TTL_MS)).toBeNull();

    await a.lease.release(held!);
    const next = await b.lease.tryAcquire(TTL_MS);
    expect(next).not.toBeNull();
    expect(next!.value).not.toBe(held!.value);
  });

  it('invariant 1: one refresh lock holder per app; release lets the next fetcher in at once', async () => {
    const { a, b } = contenders();
    const held = await a.locks.tryAcquire('wx-app', TTL_MS);
    expect(held).toMatchObject({ appId: 'wx-app' });
    expect(await b.locks.tryAcquire('wx-app', TTL_MS)).toBeNull();

    await a.locks.release(held!);
    expect(await b.locks.tryAcquire('wx-app', TTL_MS)).toMatchObject({ appId: 'wx-app' });
  });

  onlyOn(1)(
    'a release the store could not answer (a promotion) is retried when this process next takes the key (issue 16)',
    async () => {
      const { keys, b } = contenders();
      const own = createRedisClient(nodes[0]!.url, {
        commandTimeoutMs: COMMAND_TIMEOUT_MS,
        connectionName: 'test-own',
      });
      expect(await waitReady(own, 5_000)).toBe(true);
      const a = createRedlockLocks([own], keys, systemClock);
      const held = await a.locks.tryAcquire('wx-app', TTL_MS);
      expect(held).not.toBeNull();
      // The connection is gone when the release is sent (as while ioredis looks for the new
      // primary): the release fails at once and the key stays until its TTL.
      own.disconnect(true);
      await a.locks.release(held!);
      expect(await waitReady(own, 5_000)).toBe(true);
      expect(await b.locks.tryAcquire('wx-app', TTL_MS)).toBeNull();
      // A gives its stale lock back first, instead of waiting out its own TTL.
      // (Well inside TTL_MS: waiting out the stale lock would not pass.)
      const again = await eventually(() => a.locks.tryAcquire('wx-app', TTL_MS), TTL_MS / 3);
      expect(again.value).not.toBe(held!.value);
      own.disconnect();
    },
  );

  it('invariant 2 (fencing contract): a majority of nodes store exactly handle.value under the lock key', async () => {
    const { keys, a } = contenders();
    const before = Date.now();
    const lock = await a.locks.tryAcquire('wx-app', TTL_MS);
    const lease = await a.lease.tryAcquire(TTL_MS);

    const lockValues = await Promise.all(clients.map((c) => c.get(keys.refreshLock('wx-app'))));
    const leaseValues = await Promise.all(clients.map((c) => c.get(keys.leader())));
    expect(lockValues.filter((v) => v === lock!.value).length).toBeGreaterThanOrEqual(quorum);
    expect(leaseValues.filter((v) => v === lease!.value).length).toBeGreaterThanOrEqual(quorum);
    // Validity is the TTL minus drift, counted from before the request.
    expect(lock!.expiresAt).toBeGreaterThan(Date.now());
    expect(lock!.expiresAt).toBeLessThanOrEqual(before + TTL_MS);
  });

  it('extend moves expiresAt forward, keeps the value and renews the key in Redis', async () => {
    const { keys, a } = contenders();
    const lease = await a.lease.tryAcquire(1_000);
    await sleep(50);

    const lease2 = await a.lease.extend(lease!, TTL_MS);
    expect(lease2!.value).toBe(lease!.value);
    expect(lease2!.expiresAt).toBeGreaterThan(lease!.expiresAt + 3_000);
    // Renewed on a majority: the extension counts once a quorum answered, so a slow node may
    // still hold the old TTL when this reads (seen once with two test files at a time).
    const pttls = await Promise.all(clients.map((c) => c.pttl(keys.leader())));
    expect(pttls.filter((ms) => ms > 1_000).length).toBeGreaterThanOrEqual(quorum);
  });

  it('extend after the TTL passed returns null, and another contender acquires', async () => {
    const { a, b } = contenders();
    const lease = await a.lease.tryAcquire(300);
    expect(await a.locks.tryAcquire('wx-app', 300)).not.toBeNull();
    await sleep(400);

    expect(await a.lease.extend(lease!, TTL_MS)).toBeNull();
    expect(await b.lease.tryAcquire(TTL_MS)).not.toBeNull();
    expect(await b.locks.tryAcquire('wx-app', TTL_MS)).not.toBeNull();
  });

  it('extend of a released handle returns null; release never throws (twice, or a stranger handle)', async () => {
    const { a, b } = contenders();
    const lease = await a.lease.tryAcquire(TTL_MS);
    await a.lease.release(lease!);
    await expect(a.lease.release(lease!)).resolves.toBeUndefined();
    expect(await a.lease.extend(lease!, TTL_MS)).toBeNull();

    // A stranger's value deletes nothing: the holder keeps its lease.
    const held = await b.lease.tryAcquire(TTL_MS);
    await expect(
      a.lease.release({ value: 'not-ours', expiresAt: Date.now() + TTL_MS }),
    ).resolves.toBeUndefined();
    expect(await a.lease.tryAcquire(TTL_MS)).toBeNull();
    expect(await b.lease.extend(held!, TTL_MS)).not.toBeNull();
  });

  it('a lock that arrives already expired is not trusted: null, and its key is given back', async () => {
    const keys = new RedisKeys(`test:${randomUUID()}:`);
    // This host's clock runs a TTL ahead of the one Redlock measured validity with.
    const late = createRedlockLocks(clients, keys, {
      ...systemClock,
      now: () => Date.now() + TTL_MS,
    });
    expect(await late.lease.tryAcquire(TTL_MS)).toBeNull();
    expect(await late.locks.tryAcquire('wx-app', TTL_MS)).toBeNull();
    const left = await Promise.all(
      clients.map((c) => c.exists(keys.leader(), keys.refreshLock('wx-app'))),
    );
    expect(left).toEqual(clients.map(() => 0));
    expect(
      await createRedlockLocks(clients, keys, systemClock).lease.tryAcquire(TTL_MS),
    ).not.toBeNull();
  });

  it('the lease and per-app locks are independent keys; two apps are independent', async () => {
    const { a, b } = contenders();
    const lease = await a.lease.tryAcquire(TTL_MS);
    const lockA = await b.locks.tryAcquire('wx-a', TTL_MS);
    const lockB = await a.locks.tryAcquire('wx-b', TTL_MS);
    expect([lease, lockA, lockB].every((h) => h !== null)).toBe(true);

    expect(await b.locks.tryAcquire('wx-b', TTL_MS)).toBeNull();
    await a.locks.release(lockB!);
    // Releasing one app's lock touched neither the other app's lock nor the lease.
    expect(await a.locks.tryAcquire('wx-a', TTL_MS)).toBeNull();
    expect(await b.lease.tryAcquire(TTL_MS)).toBeNull();
    expect(await b.locks.tryAcquire('wx-b', TTL_MS)).not.toBeNull();
  });

  onlyOn(3)('one node stopped: acquire, extend and release still work on 2 of 3', async () => {
    const { a, b } = contenders();
    await stop(nodes[0]!);

    const lease = await a.lease.tryAcquire(TTL_MS);
    expect(lease).not.toBeNull();
    expect(await b.lease.tryAcquire(TTL_MS)).toBeNull();
    const extended = await a.lease.extend(lease!, TTL_MS);
    expect(extended!.expiresAt).toBeGreaterThanOrEqual(lease!.expiresAt);
    await a.lease.release(extended!);
    expect(await b.lease.tryAcquire(TTL_MS)).not.toBeNull();
  });

  onlyOn(3)('one node frozen (SIGSTOP): a majority still answers', async () => {
    const { a, b } = contenders();
    pause(nodes[1]!);

    const lock = await a.locks.tryAcquire('wx-app', TTL_MS);
    expect(lock).not.toBeNull();
    expect(await b.locks.tryAcquire('wx-app', TTL_MS)).toBeNull();
    const lease = await a.lease.tryAcquire(TTL_MS);
    expect(await a.lease.extend(lease!, TTL_MS)).not.toBeNull();
    await a.locks.release(lock!);
    expect(await b.locks.tryAcquire('wx-app', TTL_MS)).not.toBeNull();
  });

  onlyOn(3)(
    'two nodes killed: tryAcquire throws StoreUnavailableError without hanging, extend returns null; restarted nodes serve again',
    async () => {
      const { a, b } = contenders();
      const lease = await a.lease.tryAcquire(TTL_MS);
      await stop(nodes[1]!);
      await stop(nodes[2]!);

      const acquire = await timed(() => b.locks.tryAcquire('wx-app', TTL_MS));
      expect(acquire.ms).toBeLessThan(SETTLE_LIMIT_MS);
      expect(acquire.result.status).toBe('rejected');
      expect((acquire.result as PromiseRejectedResult).reason).toBeInstanceOf(
        StoreUnavailableError,
      );

      const extend = await timed(() => a.lease.extend(lease!, TTL_MS));
      expect(extend.ms).toBeLessThan(SETTLE_LIMIT_MS);
      expect(extend.result).toEqual({ status: 'fulfilled', value: null });

      await Promise.all([nodes[1]!.restart(), nodes[2]!.restart()]);
      stopped.clear();
      expect(await eventually(() => b.locks.tryAcquire('wx-app', TTL_MS))).toMatchObject({
        appId: 'wx-app',
      });
      expect(await eventually(() => b.lease.tryAcquire(TTL_MS))).not.toBeNull();
    },
  );

  onlyOn(3)(
    'two nodes frozen (SIGSTOP): tryAcquire throws StoreUnavailableError within the command timeouts; resumed nodes serve again',
    async () => {
      const { a } = contenders();
      const lease = await a.lease.tryAcquire(TTL_MS);
      pause(nodes[0]!);
      pause(nodes[2]!);

      const acquire = await timed(() => a.locks.tryAcquire('wx-app', TTL_MS));
      expect(acquire.ms).toBeLessThan(SETTLE_LIMIT_MS);
      expect((acquire.result as PromiseRejectedResult).reason).toBeInstanceOf(
        StoreUnavailableError,
      );
      const extend = await timed(() => a.lease.extend(lease!, TTL_MS));
      expect(extend.ms).toBeLessThan(SETTLE_LIMIT_MS);
      expect(extend.result).toEqual({ status: 'fulfilled', value: null });

      nodes[0]!.resume();
      nodes[2]!.resume();
      paused.clear();
      expect(await eventually(() => a.locks.tryAcquire('wx-app', TTL_MS))).not.toBeNull();
    },
  );

  onlyOn(3)(
    'a holder seen on the only live node answers null (contended), not unavailable',
    async () => {
      const { a, b } = contenders();
      await a.lease.tryAcquire(TTL_MS);
      await stop(nodes[0]!);
      await stop(nodes[1]!);
      expect(await b.lease.tryAcquire(TTL_MS)).toBeNull();
    },
  );

  onlyOn(1)(
    'node frozen (SIGSTOP): tryAcquire throws StoreUnavailableError within the command timeouts, extend returns null; resumed node serves again',
    async () => {
      const { a } = contenders();
      const lease = await a.lease.tryAcquire(TTL_MS);
      pause(nodes[0]!);

      const acquire = await timed(() => a.locks.tryAcquire('wx-app', TTL_MS));
      expect(acquire.ms).toBeLessThan(SETTLE_LIMIT_MS);
      expect((acquire.result as PromiseRejectedResult).reason).toBeInstanceOf(
        StoreUnavailableError,
      );
      const extend = await timed(() => a.lease.extend(lease!, TTL_MS));
      expect(extend.ms).toBeLessThan(SETTLE_LIMIT_MS);
      expect(extend.result).toEqual({ status: 'fulfilled', value: null });

      nodes[0]!.resume();
      paused.clear();
      expect(await eventually(() => a.locks.tryAcquire('wx-app', TTL_MS))).toMatchObject({
        appId: 'wx-app',
      });
    },
  );

  onlyOn(1)(
    'node killed: tryAcquire throws StoreUnavailableError at once; restarted node serves again',
    async () => {
      const { a } = contenders();
      await stop(nodes[0]!);

      const acquire = await timed(() => a.lease.tryAcquire(TTL_MS));
      expect(acquire.ms).toBeLessThan(SETTLE_LIMIT_MS);
      expect((acquire.result as PromiseRejectedResult).reason).toBeInstanceOf(
        StoreUnavailableError,
      );

      await nodes[0]!.restart();
      stopped.clear();
      expect(await eventually(() => a.lease.tryAcquire(TTL_MS))).not.toBeNull();
    },
  );
});
