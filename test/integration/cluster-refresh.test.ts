import { fixedApps } from '../../src/apps/app-directory.js';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config/config.js';
import type { TokenRecord } from '../../src/token/token.js';
import type { RefreshLocks } from '../../src/token/token-store.js';
import { createRedisClient, waitReady } from '../../src/redis/redis-clients.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { RedisTokenStore } from '../../src/redis/redis-token-store.js';
import { createRedlockLocks } from '../../src/redis/redlock-locks.js';
import { systemClock } from '../../src/shared/clock.js';
import { Secret } from '../../src/shared/secret.js';
import { StoreReconciler } from '../../src/token/store-reconciler.js';
import { createTokenCore, type TokenCore } from '../../src/token-core.js';
import type { AppCredentials, FetchedToken } from '../../src/wechat/wechat-client.js';
import { FakeClock } from '../support/fake-clock.js';
import { startRedisNodes, type RedisNode } from '../support/redis-server.js';
import { ScriptedWeChat } from '../support/scripted-wechat.js';
import { until } from '../support/until.js';

const APP: AppConfig = {
  appId: 'wxcluster0000001',
  mode: 'classic',
  secret: new Secret('cluster-secret'),
  secretSource: 'inline',
  tickets: [],
};
const LOCK_TTL_MS = 5_000;
/** Calls per replica in one herd. */
const HERD = 25;
/** Upstream latency: wide enough that the replicas' calls really overlap. */
const UPSTREAM_MS = 60;

/** FakeClock's shape on wall time, for ScriptedWeChat's sentAt (the cores run on systemClock). */
class WallClock extends FakeClock {
  override now(): number {
    return Date.now();
  }
}

/**
 * The one WeChat every replica talks to: ScriptedWeChat's tokens and counters, with real
 * latency, and a count of token requests in flight at once (invariant 1 says at most one).
 */
class SlowWeChat extends ScriptedWeChat {
  inFlight = 0;
  maxInFlight = 0;

  constructor() {
    super(new WallClock());
  }

  override async getToken(app: AppCredentials): Promise<FetchedToken> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      // sentAt is taken when the call starts; the answer comes after the latency.
      const [fetched] = await Promise.all([super.getToken(app), sleep(UPSTREAM_MS)]);
      return fetched;
    } finally {
      this.inFlight--;
    }
  }

  override async checkToken(accessToken: string): Promise<boolean> {
    const [valid] = await Promise.all([super.checkToken(accessToken), sleep(UPSTREAM_MS)]);
    return valid;
  }

  resetCounts(): void {
    this.tokenCalls = 0;
    this.checkCalls = 0;
    this.maxInFlight = 0;
  }
}

interface Replica {
  readonly name: string;
  readonly clients: Redis[];
  readonly store: RedisTokenStore;
  readonly core: TokenCore;
  readonly locks: RefreshLocks;
  /** Holds back pub/sub deliveries to this replica's cache (a replica starved under load). */
  readonly delivery: { held: TokenRecord[] | undefined };
}

describe.each([
  { topology: '1 node', count: 1 },
  { topology: '3 nodes', count: 3 },
])('replicas in one process on $topology of Redis', ({ count }) => {
  let nodes: RedisNode[] = [];
  const opened: Replica[] = [];

  beforeAll(async () => {
    nodes = await startRedisNodes(count);
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((r) => r.store.close()));
  });

  afterAll(async () => {
    await Promise.all(opened.splice(0).map((r) => r.store.close()));
    await Promise.all(nodes.map((n) => n.stop()));
  });

  /**
   * One replica as main.ts wires it in cluster mode: its own clients to every node, its own
   * RedisTokenStore (subscribed into its cache) and Redlock locks, the token core on the
   * system clock, and the WeChat all replicas share.
   */
  async function replica(name: string, keys: RedisKeys, wechat: SlowWeChat): Promise<Replica> {
    const clients = nodes.map((n, i) =>
      createRedisClient(n.url, { commandTimeoutMs: 500, connectionName: `${name}-${i}` }),
    );
    await Promise.all(clients.map((c) => waitReady(c, 5_000)));
    const store = new RedisTokenStore(clients, keys, systemClock);
    await store.start();
    const { locks } = createRedlockLocks(clients, keys, systemClock);
    const core = createTokenCore({
      clock: systemClock,
      random: () => 0.5,
      apps: fixedApps([APP]),
      wechat,
      store,
      locks,
      refresh: {
        aheadSeconds: 300,
        stableWindowSeconds: 300,
        jitterRatio: 0.2,
        retryMinMs: 1000,
        retryMaxMs: 60_000,
        configErrorRetryMs: 600_000,
        // The herds below are about coalescing, not the quota guard.
        forceMinIntervalMs: 0,
        forceDailyBudget: 1000,
      },
      lockTtlMs: LOCK_TTL_MS,
      maxWaitMs: 2_000,
      isLeader: () => false,
    });
    const delivery: Replica['delivery'] = { held: undefined };
    store.subscribe((t) => (delivery.held ? delivery.held.push(t) : core.cache.offer(t)));
    const r: Replica = { name, clients, store, core, locks, delivery };
    opened.push(r);
    return r;
  }

  /**
   * Two replicas on a key prefix of their own, both subscribed, sharing the first token
   * (fetched by `a`, delivered to `b` through pub/sub); upstream counters then reset.
   */
  async function twoReplicas() {
    const prefix = `test:${randomUUID()}:`;
    const keys = new RedisKeys(prefix);
    const wechat = new SlowWeChat();
    const a = await replica('a', keys, wechat);
    const b = await replica('b', keys, wechat);
    await until('both replicas subscribed on every node', async () => {
      const counts = await Promise.all(
        a.clients.map(async (c) => {
          const reply = (await c.call('PUBSUB', 'NUMSUB', keys.events())) as [string, number];
          return Number(reply[1]);
        }),
      );
      return counts.every((n) => n >= 2);
    });
    const first = (await a.core.refresher.refresh(APP, 'startup')).token;
    await until('the first token at b', () => b.core.cache.get(APP.appId)?.generation === 1);
    wechat.resetCounts();
    return { prefix, keys, wechat, a, b, first };
  }

  it('invariant 1: concurrent refreshes of one generation on both replicas cost exactly one upstream fetch, round after round', async () => {
    const { wechat, a, b } = await twoReplicas();
    for (let round = 1; round <= 5; round++) {
      const generation = a.core.cache.get(APP.appId)!.generation;
      const calls = [a, b].flatMap((r) =>
        Array.from({ length: HERD }, () =>
          r.core.refresher.refresh(APP, 'force', { ifGeneration: generation }),
        ),
      );
      const results = await Promise.all(calls);

      expect(wechat.tokenCalls, `round ${round}`).toBe(round);
      expect(wechat.maxInFlight).toBe(1);
      const fetched = results.filter((r) => r.outcome === 'fetched');
      // Every call of the fetching replica shares its one refresh (single flight).
      expect(fetched).toHaveLength(HERD);
      expect(results.filter((r) => r.outcome === 'superseded')).toHaveLength(HERD);
      const winner = fetched[0]!.token;
      expect(winner.generation).toBe(generation + 1);
      for (const r of results) expect(r.token).toEqual(winner);
      expect(a.core.cache.get(APP.appId)).toEqual(winner);
      expect(b.core.cache.get(APP.appId)).toEqual(winner);
      expect((await a.store.read(APP.appId))?.current).toEqual(winner);
    }
  });

  it('invariant 6: a herd reporting a token WeChat rejects, spread over both replicas, costs 1 check and 1 fetch cluster-wide', async () => {
    const { wechat, a, b, first } = await twoReplicas();
    wechat.invalidateAll();
    const replies = await Promise.all(
      [a, b].flatMap((r) =>
        Array.from({ length: HERD }, () => r.core.service.forceRefresh(APP.appId, first.value, '')),
      ),
    );

    expect(wechat.checkCalls).toBe(1);
    expect(wechat.tokenCalls).toBe(1);
    const fresh = a.core.cache.get(APP.appId)!;
    expect(fresh.generation).toBe(first.generation + 1);
    expect(fresh.value).not.toBe(first.value);
    expect(b.core.cache.get(APP.appId)).toEqual(fresh);
    for (const reply of replies) expect(reply).toEqual({ token: fresh, refreshed: true });
  });

  it('invariant 6: a herd reporting a token WeChat still accepts costs 1 check cluster-wide and no fetch; every reply refreshed=false', async () => {
    const { wechat, a, b, first } = await twoReplicas();
    const replies = await Promise.all(
      [a, b].flatMap((r) =>
        Array.from({ length: HERD }, () => r.core.service.forceRefresh(APP.appId, first.value, '')),
      ),
    );

    expect(wechat.checkCalls).toBe(1);
    expect(wechat.tokenCalls).toBe(0);
    for (const reply of replies) expect(reply).toEqual({ token: first, refreshed: false });
    expect(a.core.cache.get(APP.appId)).toEqual(first);
    expect(b.core.cache.get(APP.appId)).toEqual(first);
  });

  it('one token per generation after keys are lost: a write flushed before a slow replica saw it, that replica fetches again; every replica ends on the later token WeChat kept (issue 16, FLUSHALL under load)', async () => {
    const { wechat, a, b, first } = await twoReplicas();
    const reconciler = (r: Replica, leader: boolean) =>
      new StoreReconciler({
        clock: systemClock,
        apps: fixedApps([APP]),
        store: r.store,
        cache: r.core.cache,
        repair: (app) => r.core.refresher.repair(app),
        holdsUnstored: (appId) => r.core.refresher.holdsUnstored(appId),
        isLeader: () => leader,
        stableFallback: (app) => r.core.refresher.fallback(app),
        stableFallbackMs: 150_000,
        intervalMs: 1_000,
        log: () => undefined,
      });
    // b is starved: a's next write reaches it only later.
    b.delivery.held = [];
    const x = (await a.core.refresher.refresh(APP, 'schedule', { ifGeneration: first.generation }))
      .token;
    expect(x.generation).toBe(first.generation + 1);
    await Promise.all(a.clients.map((c) => c.flushall()));
    // b, now leading (the lease went with the flush), finds its token due and the store empty.
    const y = (await b.core.refresher.refresh(APP, 'schedule', { ifGeneration: first.generation }))
      .token;
    expect(wechat.tokenCalls).toBe(2);
    expect(y.value).not.toBe(x.value);
    expect(y.fetchedAt).toBeGreaterThan(x.fetchedAt);
    // Numbered from b's cache and an empty store: the same generation as x. WeChat keeps y.
    expect(y.generation).toBe(x.generation);
    const late = b.delivery.held;
    b.delivery.held = undefined;
    for (const t of late) b.core.cache.offer(t);

    // The late x never replaces y at b; a moves to y by pub/sub or at its next reconcile.
    expect(b.core.cache.get(APP.appId)?.value).toBe(y.value);
    await until('a serves y', async () => {
      await reconciler(a, false).reconcileOnce();
      return a.core.cache.get(APP.appId)?.value === y.value;
    });
    expect((await a.store.read(APP.appId))?.current.value).toBe(y.value);
    expect(wechat.tokenCalls).toBe(2);
  });

  it("invariant 2 after FLUSHALL mid-fetch: the fetcher's lock vanished, its write is fenced, it re-stores the token above every cache (not at generation 1, which every replica ignored)", async () => {
    const { wechat, a, b } = await twoReplicas();
    for (let i = 0; i < 2; i++) {
      const g = a.core.cache.get(APP.appId)!.generation;
      await a.core.refresher.refresh(APP, 'schedule', { ifGeneration: g });
    }
    const before = a.core.cache.get(APP.appId)!;
    await until('b on the same token', () => b.core.cache.get(APP.appId)?.value === before.value);
    let release!: () => void;
    wechat.gate = new Promise<void>((r) => (release = r));
    const pending = a.core.refresher.refresh(APP, 'schedule', { ifGeneration: before.generation });
    await until('the fetch in flight', () => wechat.inFlight === 1);
    await Promise.all(a.clients.map((c) => c.flushall()));
    wechat.gate = undefined;
    release();
    const { token } = await pending;

    expect(token.value).not.toBe(before.value);
    expect(token.generation).toBe(before.generation + 1);
    expect((await a.store.read(APP.appId))?.current).toEqual(token);
    expect(a.core.cache.get(APP.appId)).toEqual(token);
    await until('b serves it', () => b.core.cache.get(APP.appId)?.value === token.value);
  });

  it('repair: two values share a generation and the store holds the earlier one: the replica holding the later one (not the leader) writes it one generation above, and every replica follows', async () => {
    const { wechat, a, b, first } = await twoReplicas();
    const reconciler = (r: Replica, leader: boolean) =>
      new StoreReconciler({
        clock: systemClock,
        apps: fixedApps([APP]),
        store: r.store,
        cache: r.core.cache,
        repair: (app) => r.core.refresher.repair(app),
        isLeader: () => leader,
        stableFallback: (app) => r.core.refresher.fallback(app),
        stableFallbackMs: 150_000,
        intervalMs: 1_000,
        log: () => undefined,
      });
    // x (earlier) is stored; y (later, same generation) reached only b's cache, as
    // when a store that had y was flushed and a replica that still held x wrote it back.
    const generation = first.generation + 1;
    const now = Date.now();
    const x: TokenRecord = { ...first, value: 'x-earlier', fetchedAt: now, generation };
    const y: TokenRecord = { ...first, value: 'y-later', fetchedAt: now + 50, generation };
    b.delivery.held = [];
    const lock = await a.locks.tryAcquire(APP.appId, LOCK_TTL_MS);
    await a.store.write(x, lock!);
    await a.locks.release(lock!);
    await until('a holds x (pub/sub)', () => a.core.cache.get(APP.appId)?.value === x.value);
    expect(b.core.cache.offer(y)).toBe(true);
    expect(b.core.cache.offer(x), 'x never replaces the later y').toBe(false);
    b.delivery.held = undefined;

    await reconciler(b, false).reconcileOnce();
    const stored = (await a.store.read(APP.appId))!.current;
    expect(stored).toEqual({ ...y, generation: generation + 1 });
    expect(b.core.cache.get(APP.appId)).toEqual(stored);
    await until('a serves y', () => a.core.cache.get(APP.appId)?.value === y.value);
    expect(wechat.tokenCalls).toBe(0);
  });

  it('repair: after FLUSHALL a non-leader writes nothing; the leader rewrites the cached token, with no upstream call', async () => {
    const { prefix, keys, wechat, a, b, first } = await twoReplicas();
    const logs: string[] = [];
    const reconciler = (r: Replica, leader: boolean) =>
      new StoreReconciler({
        clock: systemClock,
        apps: fixedApps([APP]),
        store: r.store,
        cache: r.core.cache,
        repair: (app) => r.core.refresher.repair(app),
        isLeader: () => leader,
        stableFallback: (app) => r.core.refresher.fallback(app),
        stableFallbackMs: 150_000,
        intervalMs: 1_000,
        log: (_level, _obj, msg) => logs.push(`${r.name}: ${msg}`),
      });
    const keysLeft = async () =>
      (await Promise.all(a.clients.map((c) => c.keys(`${prefix}*`)))).flat();

    await Promise.all(a.clients.map((c) => c.flushall()));
    expect(await a.store.read(APP.appId)).toBeNull();

    await reconciler(b, false).reconcileOnce();
    expect(await keysLeft()).toEqual([]);
    expect(b.core.cache.get(APP.appId)).toEqual(first);

    await reconciler(a, true).reconcileOnce();
    expect((await b.store.read(APP.appId))?.current).toEqual(first);
    expect(logs).toEqual(['a: store had lost the token record; rewrote it from cache']);
    expect(wechat.tokenCalls).toBe(0);
    expect(wechat.checkCalls).toBe(0);
    // A majority holds it again (a fenced write needs the lock on a majority only).
    const generations = await Promise.all(
      a.clients.map((c) => c.hget(keys.record(APP.appId), 'generation')),
    );
    expect(generations.filter((g) => g === String(first.generation)).length).toBeGreaterThanOrEqual(
      Math.floor(count / 2) + 1,
    );
  });
});
