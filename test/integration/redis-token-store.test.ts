import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient, waitReady } from '../../src/redis/redis-clients.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { RedisTokenStore } from '../../src/redis/redis-token-store.js';
import { createRedlockLocks } from '../../src/redis/redlock-locks.js';
import { systemClock } from '../../src/shared/clock.js';
import { StoreUnavailableError } from '../../src/shared/errors.js';
import type { TokenRecord } from '../../src/token/token.js';
import {
  FencedWriteError,
  type LockHandle,
  type StoreHealth,
} from '../../src/token/token-store.js';
import { startRedisNodes, type RedisNode } from '../support/redis-server.js';
import { timed } from '../support/timed.js';
import { until } from '../support/until.js';

const COMMAND_TIMEOUT_MS = 500;
/** A hang check, not a benchmark: an operation without quorum must settle well before this. */
const SETTLE_LIMIT_MS = 3_000;
const LOCK_TTL_MS = 10_000;
const APP = 'wxstore000000001';
const PROPAGATION_WRITES = 50;

/**
 * The hash tag Redis Cluster hashes a key by (cluster spec, "Hash tags"): the text between the
 * first '{' and the next '}' when it is not empty; otherwise the whole key.
 */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  if (close === -1 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
}

function token(generation: number, accessToken = `tok-${generation}-${randomUUID()}`): TokenRecord {
  const now = Date.now();
  return { appId: APP, value: accessToken, expiresAt: now + 7_200_000, fetchedAt: now, generation };
}

describe.each([
  { topology: '1 node', count: 1 },
  { topology: '3 nodes', count: 3 },
])('RedisTokenStore on $topology', ({ topology, count }) => {
  // Topology-specific cases are registered only on their topology (not reported as skipped).
  const onlyOn = (n: number): typeof it =>
    n === count ? it : ((() => undefined) as unknown as typeof it);
  let nodes: RedisNode[] = [];
  const stopped = new Set<RedisNode>();
  /** Every store a test opened (each owns its clients); closed after the test. */
  const opened: RedisTokenStore[] = [];

  beforeAll(async () => {
    nodes = await startRedisNodes(count);
  });

  // Tests that stop nodes bring them back (empty), so the next test starts on a healthy topology.
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await Promise.all([...stopped].map((n) => n.restart()));
    stopped.clear();
  });

  afterAll(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await Promise.all(nodes.map((n) => n.stop()));
  });

  /**
   * One replica's view of the store: its own clients to every node, the store, and the real
   * Redlock refresh locks on the same clients. `keys` is shared by the replicas of one test and
   * unique to it (style.md point 19).
   */
  async function replica(keys: RedisKeys, name: string, readyTimeoutMs = 5_000) {
    const clients = nodes.map((n, i) =>
      createRedisClient(n.url, {
        commandTimeoutMs: COMMAND_TIMEOUT_MS,
        connectionName: `test-${name}-${i}`,
      }),
    );
    await Promise.all(clients.map((c) => waitReady(c, readyTimeoutMs)));
    const store = new RedisTokenStore(clients, keys, systemClock);
    opened.push(store);
    await store.start();
    const { locks } = createRedlockLocks(clients, keys, systemClock);
    return { clients, store, locks };
  }

  const freshKeys = (): RedisKeys => new RedisKeys(`test:${randomUUID()}:`);

  /** Resolves once every node has `subscribers` subscriptions on the events channel. */
  async function subscribed(clients: readonly Redis[], keys: RedisKeys, subscribers: number) {
    await until(`${subscribers} subscribers on ${keys.events()}`, async () => {
      const counts = await Promise.all(
        clients.map(async (c) => {
          const reply = (await c.call('PUBSUB', 'NUMSUB', keys.events())) as [string, number];
          return Number(reply[1]);
        }),
      );
      return counts.every((n) => n >= subscribers);
    });
  }

  const rawRecords = (clients: readonly Redis[], keys: RedisKeys) =>
    Promise.all(clients.map((c) => c.hgetall(keys.record(APP))));
  const rawLocks = (clients: readonly Redis[], keys: RedisKeys) =>
    Promise.all(clients.map((c) => c.get(keys.refreshLock(APP))));

  const stop = async (node: RedisNode): Promise<void> => {
    stopped.add(node);
    await node.stop();
  };

  /** The refusal a write ends with (the test fails if it resolves). */
  async function refusal(write: Promise<void>): Promise<FencedWriteError> {
    const err = await write.then(
      () => new Error('write was accepted'),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FencedWriteError);
    return err as FencedWriteError;
  }

  it('invariant 2: the lock holder writes; read returns current, then previous after a second token, with generations', async () => {
    const keys = freshKeys();
    const { store, locks } = await replica(keys, 'a');
    expect(await store.read(APP)).toBeNull();

    const lock = await locks.tryAcquire(APP, LOCK_TTL_MS);
    expect(lock).not.toBeNull();
    const first = token(1);
    await store.write(first, lock!);
    expect(await store.read(APP)).toEqual({ current: first });

    const second = token(2);
    await store.write(second, lock!);
    expect(await store.read(APP)).toEqual({ current: second, previous: first });

    // The same token under a new generation (a repair) does not make it its own previous.
    const again = { ...second, generation: 3 };
    await store.write(again, lock!);
    expect(await store.read(APP)).toEqual({ current: again, previous: first });
    await locks.release(lock!);
  });

  it('invariant 2: writes without the lock are refused with lock_not_held and change nothing (no lock, another holder, released, expired)', async () => {
    const keys = freshKeys();
    const a = await replica(keys, 'a');
    const b = await replica(keys, 'b');
    const received: TokenRecord[] = [];
    b.store.subscribe((t) => received.push(t));
    await subscribed(a.clients, keys, 2);

    const setup = await a.locks.tryAcquire(APP, LOCK_TTL_MS);
    const stored = token(5);
    await a.store.write(stored, setup!);
    await a.locks.release(setup!);
    await until('the setup write to arrive', () => received.length > 0);
    received.length = 0;
    const before = await a.store.read(APP);
    const rawBefore = await rawRecords(a.clients, keys);

    const cases: { name: string; lock: () => Promise<LockHandle> }[] = [
      {
        name: 'no lock at all',
        lock: async () => ({ appId: APP, value: randomUUID(), expiresAt: Date.now() + 10_000 }),
      },
      {
        name: "someone else's lock",
        lock: async () => {
          // b holds the lock; a presents a value of its own.
          expect(await b.locks.tryAcquire(APP, LOCK_TTL_MS)).not.toBeNull();
          return { appId: APP, value: randomUUID(), expiresAt: Date.now() + 10_000 };
        },
      },
      {
        name: 'a released lock',
        lock: async () => {
          const held = await a.locks.tryAcquire(APP, LOCK_TTL_MS);
          await a.locks.release(held!);
          // Redlock resolves at quorum; wait for the last node's delete too.
          await until('released everywhere', async () =>
            (await rawLocks(a.clients, keys)).every((v) => v === null),
          );
          return held!;
        },
      },
      {
        name: 'an expired lock',
        lock: async () => {
          const held = await a.locks.tryAcquire(APP, 300);
          await sleep(400);
          return held!;
        },
      },
    ];
    for (const c of cases) {
      const lock = await c.lock();
      const err = await refusal(a.store.write(token(6), lock));
      expect(err, c.name).toMatchObject({
        appId: APP,
        reason: 'lock_not_held',
        attemptedGeneration: 6,
        storedGeneration: 5,
      });
      expect(await a.store.read(APP), c.name).toEqual(before);
      expect(await rawRecords(a.clients, keys), c.name).toEqual(rawBefore);
      // Free the lock key (b's lock in the second case) so the next case starts unlocked.
      for (const client of a.clients) await client.del(keys.refreshLock(APP));
    }
    await sleep(100);
    // Only generation 6 was refused. (The setup write is published by every node, so its
    // later copies may still arrive after the reset above: they are not what is checked.)
    expect(
      received.filter((t) => t.generation === 6),
      'a refused write publishes nothing',
    ).toEqual([]);
  });

  it('invariant 2: a generation equal to or lower than the stored one is refused with stale_generation', async () => {
    const keys = freshKeys();
    const { store, locks } = await replica(keys, 'a');
    const lock = await locks.tryAcquire(APP, LOCK_TTL_MS);
    const stored = token(7);
    await store.write(stored, lock!);

    for (const generation of [7, 6, 1]) {
      const err = await refusal(store.write(token(generation), lock!));
      expect(err).toMatchObject({
        reason: 'stale_generation',
        attemptedGeneration: generation,
        storedGeneration: 7,
      });
    }
    expect(await store.read(APP)).toEqual({ current: stored });
  });

  it('an app record and its lock share one Redis Cluster hash tag; apps differ; the leader key is separate', () => {
    const keys = new RedisKeys('wxtoken:');
    const tagA = hashTag(keys.record('wx-a'));
    expect(tagA).toBe('app:wx-a');
    expect(hashTag(keys.refreshLock('wx-a'))).toBe(tagA);
    expect(hashTag(keys.verdict('wx-a', 'f1ngerprint'))).toBe(tagA);
    expect(hashTag(keys.record('wx-b'))).toBe('app:wx-b');
    expect(hashTag(keys.refreshLock('wx-b'))).toBe('app:wx-b');
    expect(hashTag(keys.leader())).not.toBe(tagA);
    expect(hashTag(keys.leader())).not.toBe('app:wx-b');
  });

  it('invariant 5: every write reaches another replica through pub/sub with the exact record (prints p50/p99)', async () => {
    const keys = freshKeys();
    const writer = await replica(keys, 'writer');
    const reader = await replica(keys, 'reader');
    const arrivals = new Map<number, { at: number; token: TokenRecord }>();
    reader.store.subscribe((t) => {
      // On N nodes each write is announced N times; the first one counts.
      if (!arrivals.has(t.generation))
        arrivals.set(t.generation, { at: performance.now(), token: t });
    });
    await subscribed(writer.clients, keys, 2);

    const lock = await writer.locks.tryAcquire(APP, 30_000);
    const delays: number[] = [];
    for (let g = 1; g <= PROPAGATION_WRITES; g++) {
      const written = token(g);
      const start = performance.now();
      await writer.store.write(written, lock!);
      await until(`generation ${g} at the reader`, () => arrivals.has(g), 2_000);
      const arrival = arrivals.get(g)!;
      expect(arrival.token).toEqual(written);
      delays.push(arrival.at - start);
    }
    await writer.locks.release(lock!);
    const p50 = percentile(delays, 50);
    const p99 = percentile(delays, 99);
    console.log(
      `[${topology}] pub/sub write→other replica over ${delays.length} writes: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${Math.max(...delays).toFixed(2)} ms`,
    );
    // Reported, not asserted as a speed (design.md "Testing"); the bound is a hang check.
    expect(p99).toBeLessThan(2_000);
  });

  it('invariant 5: a replica started while a node was down subscribes there once the node is back', async () => {
    const keys = freshKeys();
    await stop(nodes[0]!);
    const reader = await replica(keys, 'reader', 200);
    const received: TokenRecord[] = [];
    reader.store.subscribe((t) => received.push(t));
    await sleep(1_500); // several reconnect attempts against the dead node
    await nodes[0]!.restart();
    stopped.delete(nodes[0]!);

    const writer = await replica(keys, 'writer');
    // The writer's own subscription and the reader's, on every node.
    await subscribed(writer.clients, keys, 2);
    const lock = await writer.locks.tryAcquire(APP, LOCK_TTL_MS);
    const written = token(1);
    await writer.store.write(written, lock!);
    await writer.locks.release(lock!);
    await until('the write at the reader', () => received.length > 0, 2_000);
    expect(received[0]).toEqual(written);

    // And after a restart of a node it was subscribed on.
    await nodes[0]!.restart();
    await until('writer reconnected', () => writer.clients[0]!.status === 'ready');
    await subscribed(writer.clients, keys, 2);
    received.length = 0;
    const relock = await writer.locks.tryAcquire(APP, LOCK_TTL_MS);
    const second = token(2);
    await writer.store.write(second, relock!);
    await until('the second write at the reader', () => received.length > 0, 2_000);
    expect(received[0]).toEqual(second);
  });

  it('check bookkeeping (invariant 6): numbered cluster-wide, per fingerprint and app; an older verdict never replaces a newer one', async () => {
    const keys = freshKeys();
    const a = await replica(keys, 'a');
    const b = await replica(keys, 'b');
    expect(await b.store.checkState(APP, 'fp-1')).toEqual({ sent: 0 });

    expect(await a.store.beginCheck(APP, 'fp-1')).toBe(1);
    expect(await b.store.checkState(APP, 'fp-1')).toEqual({ sent: 1 });
    expect(await b.store.beginCheck(APP, 'fp-1')).toBe(2);
    await a.store.recordVerdict(APP, 'fp-1', { seq: 2, valid: false });
    await b.store.recordVerdict(APP, 'fp-1', { seq: 1, valid: true }); // late: ignored
    expect(await a.store.checkState(APP, 'fp-1')).toEqual({
      sent: 2,
      latest: { seq: 2, valid: false },
    });
    expect(await b.store.checkState(APP, 'fp-2')).toEqual({ sent: 0 });
    expect(await b.store.checkState('wx-other', 'fp-1')).toEqual({ sent: 0 });
  });

  it("health() is 'ok' with every node up", async () => {
    const { store } = await replica(freshKeys(), 'a');
    expect(store.health()).toBe('ok');
  });

  onlyOn(3)("health() is 'degraded' with one node stopped and 'down' with two", async () => {
    const { store } = await replica(freshKeys(), 'a');
    const healthBecomes = (h: StoreHealth) => until(`health ${h}`, () => store.health() === h);
    await stop(nodes[0]!);
    await healthBecomes('degraded');
    await stop(nodes[1]!);
    await healthBecomes('down');
    await Promise.all([nodes[0]!.restart(), nodes[1]!.restart()]);
    stopped.clear();
    await healthBecomes('ok');
  });

  onlyOn(1)("health() is 'down' with the node stopped", async () => {
    const { store } = await replica(freshKeys(), 'a');
    await stop(nodes[0]!);
    await until('health down', () => store.health() === 'down');
  });

  onlyOn(3)(
    'a node that missed a write does not hide the previous token (ties go to the fuller copy)',
    async () => {
      const keys = freshKeys();
      const { clients, store, locks } = await replica(keys, 'a');
      const lock = await locks.tryAcquire(APP, LOCK_TTL_MS);
      const first = token(1);
      await store.write(first, lock!);
      // Node 0 (the first answer read sees) misses the first write, then gets the second.
      await clients[0]!.del(keys.record(APP));
      const second = token(2);
      await store.write(second, lock!);
      expect(await clients[0]!.hget(keys.record(APP), 'prev_token')).toBeNull();
      expect(await store.read(APP)).toEqual({ current: second, previous: first });
    },
  );

  onlyOn(3)('one node stopped: write and read still succeed', async () => {
    const keys = freshKeys();
    const { store, locks } = await replica(keys, 'a');
    await stop(nodes[2]!);

    const lock = await locks.tryAcquire(APP, LOCK_TTL_MS);
    expect(lock).not.toBeNull();
    const first = token(1);
    await store.write(first, lock!);
    const second = token(2);
    await store.write(second, lock!);
    expect(await store.read(APP)).toEqual({ current: second, previous: first });
  });

  onlyOn(3)(
    'one node restarted empty while the others hold generation N: read returns N; the next write still lands',
    async () => {
      const keys = freshKeys();
      const { clients, store, locks } = await replica(keys, 'a');
      const lock = await locks.tryAcquire(APP, LOCK_TTL_MS);
      const first = token(1);
      const n = token(2);
      await store.write(first, lock!);
      await store.write(n, lock!);
      await locks.release(lock!);

      let latest = n;
      // Node 0 first (the first answer read sees), then node 1: an empty answer never wins.
      for (const index of [0, 1]) {
        await nodes[index]!.restart();
        await until('client reconnected', () => clients[index]!.status === 'ready');
        expect(await clients[index]!.exists(keys.record(APP))).toBe(0);
        expect((await store.read(APP))?.current).toEqual(latest);

        // The holder's next write still reaches a majority. (Not necessarily the empty node:
        // Redlock grants at quorum, so the lock may land there after the write.)
        const relock = await locks.tryAcquire(APP, LOCK_TTL_MS);
        const next = token(latest.generation + 1);
        await store.write(next, relock!);
        await locks.release(relock!);
        expect(await store.read(APP)).toEqual({ current: next, previous: latest });
        const generations = await Promise.all(
          clients.map((c) => c.hget(keys.record(APP), 'generation')),
        );
        expect(
          generations.filter((g) => g === String(next.generation)).length,
        ).toBeGreaterThanOrEqual(2);
        latest = next;
      }
    },
  );

  onlyOn(3)(
    'two nodes stopped: write and read throw StoreUnavailableError quickly (no hang)',
    async () => {
      const keys = freshKeys();
      const { store, locks } = await replica(keys, 'a');
      const lock = await locks.tryAcquire(APP, LOCK_TTL_MS);
      await store.write(token(1), lock!);
      await stop(nodes[0]!);
      await stop(nodes[1]!);

      const write = await timed(() => store.write(token(2), lock!));
      const read = await timed(() => store.read(APP));
      for (const [what, op] of [
        ['write', write],
        ['read', read],
      ] as const) {
        expect(op.ms, what).toBeLessThan(SETTLE_LIMIT_MS);
        expect(op.result.status, what).toBe('rejected');
        expect((op.result as PromiseRejectedResult).reason, what).toBeInstanceOf(
          StoreUnavailableError,
        );
      }
    },
  );

  onlyOn(1)(
    'node stopped: write and read throw StoreUnavailableError quickly (no hang)',
    async () => {
      const keys = freshKeys();
      const { store, locks } = await replica(keys, 'a');
      const lock = await locks.tryAcquire(APP, LOCK_TTL_MS);
      await stop(nodes[0]!);

      const write = await timed(() => store.write(token(1), lock!));
      const read = await timed(() => store.read(APP));
      for (const op of [write, read]) {
        expect(op.ms).toBeLessThan(SETTLE_LIMIT_MS);
        expect((op.result as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
      }
    },
  );
});
