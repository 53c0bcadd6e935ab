import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient, waitReady } from '../../src/redis/redis-clients.js';
import { RedisForceBudget } from '../../src/redis/redis-force-budget.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { ForceBudget } from '../../src/refresher/force-budget.js';
import { RefreshRateLimitedError, StoreUnavailableError } from '../../src/shared/errors.js';
import { FakeClock } from '../support/fake-clock.js';
import { startRedisNodes, type RedisNode } from '../support/redis-server.js';

/**
 * Invariant 6's quota guard across replicas (issue 11 §3): the forced-fetch budget lives in
 * Redis, so three replicas together get the configured budget, not three times it; on three
 * independent masters a majority decides.
 */

const APP = 'wxbudget00000001';
let nodes: RedisNode[];
const clientsOf: Redis[][] = [];

beforeAll(async () => {
  nodes = await startRedisNodes(3);
});

afterAll(async () => {
  for (const cs of clientsOf) for (const c of cs) c.disconnect();
  for (const n of nodes ?? []) await n.stop();
});

/** `replicas` budgets sharing `nodeCount` Redis nodes under one fresh key prefix. */
async function replicas(
  n: number,
  nodeCount: number,
  limits = { forceMinIntervalMs: 1, forceDailyBudget: 5 },
) {
  const keys = new RedisKeys(`budget-${randomUUID()}:`);
  const clock = new FakeClock();
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const clients = nodes.slice(0, nodeCount).map((node, j) =>
        createRedisClient(node.url, {
          commandTimeoutMs: 500,
          connectionName: `budget-${i}-${j}`,
        }),
      );
      clientsOf.push(clients);
      await Promise.all(clients.map((c) => waitReady(c, 3_000)));
      return new RedisForceBudget(clients, keys, limits, clock);
    }),
  );
}

/** One forced fetch as the refresher does it: check, then (the fetch), then consume. */
async function tryForce(budget: {
  check: RedisForceBudget['check'];
  consume: RedisForceBudget['consume'];
}) {
  try {
    await budget.check(APP, 'classic');
  } catch (err) {
    if (err instanceof RefreshRateLimitedError) return err.limit;
    throw err;
  }
  await budget.consume(APP, 'classic');
  return 'fetched';
}

describe.each([
  ['1 Redis node', 1],
  ['3 independent masters', 3],
])('forced-fetch budget on %s', (_name, nodeCount) => {
  it('three replicas together are allowed the daily budget once, not three times (before: 3 x 5 = 15)', async () => {
    const budgets = await replicas(3, nodeCount);
    const outcomes: string[] = [];
    for (let round = 0; round < 6; round++) {
      for (const b of budgets) {
        outcomes.push(await tryForce(b));
        await new Promise((r) => setTimeout(r, 3)); // past the 1 ms minimum interval
      }
    }
    expect(outcomes.filter((o) => o === 'fetched')).toHaveLength(5);
    expect(outcomes.filter((o) => o === 'daily_budget')).toHaveLength(13);
    for (const b of budgets) expect(b.remaining(APP, 'classic')).toBe(0);
  });

  it('the minimum interval holds across replicas, on the Redis server clock', async () => {
    const [a, b] = await replicas(2, nodeCount, {
      forceMinIntervalMs: 60_000,
      forceDailyBudget: 50,
    });
    expect(await tryForce(a!)).toBe('fetched');
    const err = await b!.check(APP, 'classic').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefreshRateLimitedError);
    expect((err as RefreshRateLimitedError).limit).toBe('min_interval');
    expect((err as RefreshRateLimitedError).retryAfterMs).toBeGreaterThan(59_000);
  });
});

it('the in-memory budget of the embedded mode is per process (what each replica did alone before)', async () => {
  const clock = new FakeClock();
  const limits = { forceMinIntervalMs: 1, forceDailyBudget: 5 };
  const local = [
    new ForceBudget(limits, clock),
    new ForceBudget(limits, clock),
    new ForceBudget(limits, clock),
  ];
  let fetched = 0;
  for (let round = 0; round < 6; round++) {
    for (const b of local) {
      if ((await tryForce(b)) === 'fetched') fetched++;
      await clock.advance(2);
    }
  }
  expect(fetched).toBe(15);
});

it('without a majority of nodes a forced fetch is refused (it costs quota; UNAVAILABLE)', async () => {
  const [budget] = await replicas(1, 3);
  await nodes[1]!.stop();
  await nodes[2]!.stop();
  try {
    await expect(budget!.check(APP, 'classic')).rejects.toBeInstanceOf(StoreUnavailableError);
  } finally {
    await nodes[1]!.restart();
    await nodes[2]!.restart();
  }
});
