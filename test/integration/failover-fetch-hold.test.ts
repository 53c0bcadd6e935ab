import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixedApps } from '../../src/apps/app-directory.js';
import type { AppConfig } from '../../src/config/config.js';
import { createRedisClient, waitReady } from '../../src/redis/redis-clients.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { RedisTokenStore } from '../../src/redis/redis-token-store.js';
import { createRedlockLocks } from '../../src/redis/redlock-locks.js';
import { Secret } from '../../src/shared/secret.js';
import { StoreReconciler } from '../../src/token/store-reconciler.js';
import { createTokenCore, type TokenCore } from '../../src/token-core.js';
import { FakeClock } from '../support/fake-clock.js';
import { startRedis, type RedisNode } from '../support/redis-server.js';
import { ScriptedWeChat } from '../support/scripted-wechat.js';
import { until } from '../support/until.js';

const APP: AppConfig = {
  appId: 'wxfetchhold00001',
  mode: 'classic',
  secret: new Secret('fetch-hold-secret'),
  secretSource: 'inline',
  tickets: [],
};
const AHEAD_S = 300;
const LIFETIME_S = 7200;
/** As main.ts sets it: wechat.timeoutMs + redis.reconcileIntervalMs. */
const TIMEOUT_MS = 5_000;
const RECONCILE_MS = 2_000;
const GRACE_MS = TIMEOUT_MS + RECONCILE_MS;

interface Replica {
  readonly client: Redis;
  readonly store: RedisTokenStore;
  readonly core: TokenCore;
  readonly reconciler: StoreReconciler;
  /** Drops pub/sub deliveries of this value: what was published on the node that died reached no one. */
  deafTo: string | undefined;
}

/**
 * Issue 16, the race a Sentinel or Cluster promotion left: the primary dies while replica A
 * fetches, so its refresh lock and its token never reach the promoted node; A serves the new
 * token and writes it back once the store answers. Replica B, leader after the promotion, found
 * the old token due and fetched again first: WeChat then kept only the two newest tokens, and
 * every replica still on the old one (two rotations back) served a token WeChat refused.
 * Invariant 5 (a new token reaches every replica inside WeChat's overlap) fails that way; the
 * fix holds the new leader's fetch of a still-live token after a store outage.
 * Real Redis (paused with SIGSTOP for the outage), an injected clock for every lifetime.
 */
describe('a leader after a store outage (issue 16, invariant 5)', () => {
  let node: RedisNode;
  const opened: Replica[] = [];

  beforeAll(async () => {
    node = await startRedis();
  });

  afterEach(async () => {
    node.resume();
    await Promise.all(opened.splice(0).map((r) => r.store.close()));
  });

  afterAll(async () => {
    await node?.stop();
  });

  async function replica(keys: RedisKeys, clock: FakeClock, wechat: ScriptedWeChat) {
    const client = createRedisClient(node.url, {
      commandTimeoutMs: 300,
      connectionName: 'fetch-hold',
    });
    await waitReady(client, 5_000);
    const store = new RedisTokenStore([client], keys, clock);
    await store.start();
    const { locks } = createRedlockLocks([client], keys, clock);
    const core = createTokenCore({
      clock,
      random: () => 0,
      apps: fixedApps([APP]),
      wechat,
      store,
      locks,
      refresh: {
        aheadSeconds: AHEAD_S,
        stableWindowSeconds: 300,
        jitterRatio: 0,
        retryMinMs: 1000,
        retryMaxMs: 60_000,
        configErrorRetryMs: 600_000,
        forceMinIntervalMs: 0,
        forceDailyBudget: 1000,
      },
      lockTtlMs: 60_000,
      maxWaitMs: 2_000,
      isLeader: () => false,
    });
    store.subscribe((t) => (t.value === r.deafTo ? undefined : core.cache.offer(t)));
    const reconciler = new StoreReconciler({
      clock,
      apps: fixedApps([APP]),
      store,
      cache: core.cache,
      repair: (app) => core.refresher.repair(app),
      holdsUnstored: (appId) => core.refresher.holdsUnstored(appId),
      isLeader: () => false,
      stableFallback: (app) => core.refresher.fallback(app),
      stableFallbackMs: 150_000,
      intervalMs: RECONCILE_MS,
      log: () => undefined,
    });
    // As openCredentials wires it.
    core.engine.scheduler.setFetchHold({
      until: () => reconciler.fetchHoldUntil(GRACE_MS),
      fetchMs: TIMEOUT_MS,
    });
    const r: Replica = { client, store, core, reconciler, deafTo: undefined };
    opened.push(r);
    return r;
  }

  /**
   * A and B share token 1; it comes due; A's fetch of token 2 is in flight when the store
   * goes away (paused), so A's write fails and A serves token 2 unstored. B's reconcile pass
   * sees the outage. The store comes back without A's lock (the promotion lost it) and B
   * sees it again. B now becomes leader: its schedule starts with token 1 due.
   */
  async function strandedFetch(lifeLeftMs = AHEAD_S * 1000) {
    const clock = new FakeClock();
    const wechat = new ScriptedWeChat(clock);
    wechat.expiresInSeconds = LIFETIME_S;
    const keys = new RedisKeys(`test:${randomUUID()}:`);
    const a = await replica(keys, clock, wechat);
    const b = await replica(keys, clock, wechat);
    await until('both replicas subscribed', async () => {
      const reply = (await a.client.call('PUBSUB', 'NUMSUB', keys.events())) as [string, number];
      return Number(reply[1]) >= 2;
    });
    const first = (await a.core.refresher.refresh(APP, 'startup')).token;
    await until('b holds token 1', () => b.core.cache.get(APP.appId)?.value === first.value);
    await clock.advance(first.expiresAt - lifeLeftMs - clock.now());

    // The promoted replica's copy: token 1's record, and no refresh lock.
    const replicaCopy = await b.client.dumpBuffer(keys.record(APP.appId));
    let release!: () => void;
    wechat.gate = new Promise<void>((r) => (release = r));
    const pending = a.core.refresher.refresh(APP, 'schedule', { ifGeneration: first.generation });
    await until('a fetch in flight', () => wechat.tokenCalls === 2);
    node.pause();
    wechat.gate = undefined;
    release();
    const stranded = (await pending).token;
    b.deafTo = stranded.value;
    expect(a.core.refresher.holdsUnstored(APP.appId), 'a could not store token 2').toBe(true);
    await b.reconciler.reconcileOnce();
    expect(b.reconciler.storeReachable).toBe(false);
    node.resume();
    // Once a's connection answers, whatever it sent into the pause has run: undo it.
    await until(
      'the store answers',
      async () => (await a.client.ping().catch(() => '')) === 'PONG',
    );
    await b.client.restore(keys.record(APP.appId), 0, replicaCopy!, 'REPLACE');
    await b.client.del(keys.refreshLock(APP.appId));
    expect(b.core.cache.get(APP.appId)?.value, 'b still on token 1').toBe(first.value);
    await b.reconciler.reconcileOnce();
    expect(b.reconciler.storeReachable).toBe(true);
    const recoveredAt = clock.now();

    const leadership = new AbortController();
    const term = b.core.engine.scheduler.run(leadership.signal);
    const stop = async () => {
      leadership.abort();
      await term;
    };
    const plannedAt = () =>
      b.core.status.view(APP.appId, b.core.cache.get(APP.appId), clock.now()).nextRefreshAt;
    return { clock, wechat, a, b, first, stranded, recoveredAt, plannedAt, stop };
  }

  it('does not fetch a live token while a fetch that lost its lock may still be written back: it takes that token instead (one fetch per rotation)', async () => {
    const { clock, wechat, a, b, stranded, recoveredAt, plannedAt, stop } = await strandedFetch();
    try {
      // Without the hold, b fetched token 3 at once, and token 1 (still served by b) died.
      expect(plannedAt(), 'b plans its fetch after the grace').toBe(recoveredAt + GRACE_MS);
      await clock.advance(0);
      expect(wechat.tokenCalls, 'b fetched again before the write-back').toBe(2);

      b.deafTo = undefined;
      await a.reconciler.reconcileOnce();
      await until(
        'b serves the stranded token',
        () => b.core.cache.get(APP.appId)?.value === stranded.value,
      );
      await clock.advance(GRACE_MS + 1_000);
      expect(wechat.tokenCalls, 'the written-back token is not due: nothing fetched').toBe(2);
      expect(plannedAt()).toBe(stranded.expiresAt - AHEAD_S * 1000);
    } finally {
      await stop();
    }
  });

  it('the hold ends: with nothing written back, the leader fetches once the grace has passed', async () => {
    const { clock, wechat, b, stranded, recoveredAt, plannedAt, stop } = await strandedFetch();
    try {
      expect(plannedAt()).toBe(recoveredAt + GRACE_MS);
      await clock.advance(GRACE_MS - 100);
      expect(wechat.tokenCalls, 'held for the grace').toBe(2);
      await clock.advance(200);
      await until('b fetches token 3', () => wechat.tokenCalls === 3);
      await until('b serves a token newer than the stranded one', () => {
        const t = b.core.cache.get(APP.appId);
        return t !== undefined && t.value !== stranded.value && t.generation >= 2;
      });
    } finally {
      await stop();
    }
  });

  it('never holds a token so long that it would expire before a fetch completes', async () => {
    // Token 1 has less life left than the grace plus one fetch when the store comes back.
    const lifeLeftMs = TIMEOUT_MS + GRACE_MS / 2;
    const { clock, wechat, first, plannedAt, stop } = await strandedFetch(lifeLeftMs);
    try {
      expect(plannedAt(), 'the hold is cut short').toBe(first.expiresAt - TIMEOUT_MS);
      await clock.advance(first.expiresAt - TIMEOUT_MS - clock.now() - 100);
      expect(wechat.tokenCalls).toBe(2);
      await clock.advance(200);
      await until('the leader fetches before token 1 expires', () => wechat.tokenCalls === 3);
    } finally {
      await stop();
    }
  });
});
