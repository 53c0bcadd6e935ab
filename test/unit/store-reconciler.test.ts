import { fixedApps } from '../../src/apps/app-directory.js';
import { describe, expect, it, vi } from 'vitest';
import { StoreUnavailableError } from '../../src/shared/errors.js';
import { StoreReconciler } from '../../src/token/store-reconciler.js';
import type { TokenRecord } from '../../src/token/token.js';
import { APP_ID, coreHarness } from '../support/core-harness.js';

type Harness = ReturnType<typeof coreHarness>;

function reconciler(
  h: Harness,
  read: (appId: string) => Promise<{ current: TokenRecord } | null>,
  isLeader = true,
) {
  const logs: string[] = [];
  const r = new StoreReconciler({
    clock: h.clock,
    apps: fixedApps([h.app]),
    store: { read },
    cache: h.cache,
    repair: (app) => h.refresher.repair(app),
    isLeader: () => isLeader,
    holdsUnstored: (appId) => h.refresher.holdsUnstored(appId),
    stableFallback: (app) => h.refresher.fallback(app),
    stableFallbackMs: 150_000,
    intervalMs: 2000,
    log: (_level, _obj, msg) => logs.push(msg),
  });
  return { r, logs };
}

const unreachable = async (): Promise<never> => {
  throw new StoreUnavailableError('read');
};

describe('StoreReconciler', () => {
  it('invariant 5: offers a newer stored record to the cache (a lost pub/sub message)', async () => {
    const h = coreHarness();
    await h.refresher.refresh(h.app, 'startup');
    const cached = h.cache.get(APP_ID)!;
    const newer = {
      ...cached,
      value: 'from-another-replica',
      generation: cached.generation + 1,
    };
    const { r } = reconciler(h, async () => ({ current: newer }));
    await r.reconcileOnce();
    expect(h.cache.get(APP_ID)).toEqual(newer);
  });

  it('logs once when the store becomes unreachable and once when it is back', async () => {
    const h = coreHarness();
    let down = true;
    const { r, logs } = reconciler(h, (id) => (down ? unreachable() : h.store.read(id)));
    await r.reconcileOnce();
    await r.reconcileOnce();
    expect(r.storeReachable).toBe(false);
    down = false;
    await r.reconcileOnce();
    expect(r.storeReachable).toBe(true);
    expect(logs.filter((l) => l.startsWith('store unreachable'))).toHaveLength(1);
    expect(logs.filter((l) => l.startsWith('store reachable again'))).toHaveLength(1);
  });

  it('store down at start (issue 11 §2): not warmed, retries with a backoff, warms once the store answers', async () => {
    const h = coreHarness();
    let down = true;
    const readsAt: number[] = [];
    const start = h.clock.now();
    const { r, logs } = reconciler(h, (id) => {
      readsAt.push(h.clock.now() - start);
      return down ? unreachable() : h.store.read(id);
    });
    await r.reconcileOnce(); // what main does before serving
    expect(r.warmed).toBe(false);
    expect(r.storeReachable).toBe(false);
    const ac = new AbortController();
    const running = r.run(ac.signal);
    await h.clock.advance(6_000);
    // 250, 500, 1000, then capped at the interval (2000): sooner than the interval while down.
    expect(readsAt).toEqual([0, 250, 750, 1750, 3750, 5750]);
    expect(r.warmed).toBe(false);
    down = false;
    await h.clock.advance(2_000);
    expect(r.warmed).toBe(true);
    expect(r.storeReachable).toBe(true);
    expect(logs.filter((l) => l.startsWith('store reachable again'))).toHaveLength(1);
    ac.abort();
    await running;
  });

  it('a first pass that reads every app warms the replica and logs nothing', async () => {
    const h = coreHarness();
    const { r, logs } = reconciler(h, (id) => h.store.read(id));
    expect(r.warmed).toBe(false);
    await r.reconcileOnce();
    expect(r.warmed).toBe(true);
    expect(logs).toEqual([]);
  });

  it('degraded classic mode: the store is down, nobody fetches (no storm)', async () => {
    const h = coreHarness({ mode: 'classic' });
    await h.refresher.refresh(h.app, 'startup');
    h.wechat.tokenCalls = 0;
    const { r } = reconciler(h, unreachable);
    await h.clock.advance(7_190_000); // the token is about to expire
    await r.reconcileOnce();
    expect(h.wechat.tokenCalls).toBe(0);
  });

  it('degraded stable mode: a token about to expire is refetched in normal mode, never forced', async () => {
    const h = coreHarness({ mode: 'stable' });
    await h.refresher.refresh(h.app, 'startup');
    const first = h.cache.get(APP_ID)!;
    h.wechat.stableCalls = 0;
    const { r } = reconciler(h, unreachable);
    await r.reconcileOnce(); // plenty of life left: nothing
    expect(h.wechat.stableCalls).toBe(0);
    await h.clock.advance(first.expiresAt - h.clock.now() - 100_000); // inside the fallback window
    h.wechat.invalidateAll(); // make the scripted WeChat rotate on the next normal call
    await r.reconcileOnce();
    expect(h.wechat.stableCalls).toBe(1);
    expect(h.wechat.stableForceCalls).toBe(0);
  });

  it.each([
    [true, 1],
    [false, 0],
  ])(
    'a store that lost the record is repaired by the leader only (leader %s → %d repairs)',
    async (leader, repairs) => {
      const h = coreHarness();
      await h.refresher.refresh(h.app, 'startup');
      const repair = vi.spyOn(h.refresher, 'repair');
      const { r } = reconciler(h, async () => null, leader);
      await r.reconcileOnce();
      expect(repair).toHaveBeenCalledTimes(repairs);
      expect(h.wechat.tokenCalls).toBe(1); // a repair never fetches
    },
  );
});

describe('StoreReconciler pacing (issue 15: 100,000 apps on Redis)', () => {
  it('a periodic pass reads at most recordsPerSecond records a second; the first pass is unpaced', async () => {
    const h = coreHarness();
    const apps = Array.from({ length: 1_000 }, (_, i) => ({ ...h.app, appId: `wxpace${i}` }));
    const reads: number[] = [];
    const r = new StoreReconciler({
      clock: h.clock,
      apps: fixedApps(apps),
      store: {
        read: async () => {
          reads.push(h.clock.now());
          return null;
        },
      },
      cache: h.cache,
      repair: async () => false,
      isLeader: () => false,
      stableFallback: async () => undefined,
      stableFallbackMs: 150_000,
      intervalMs: 2000,
      recordsPerSecond: 1000,
      log: () => undefined,
    });
    // The first pass (warming the cache at start) reads everything at once.
    const start = h.clock.now();
    await r.reconcileOnce();
    expect(reads).toHaveLength(1_000);
    expect(Math.max(...reads)).toBe(start);
    // A periodic pass: 1,000 records at 1,000/s take about a second, in batches.
    reads.length = 0;
    const term = new AbortController();
    const running = r.run(term.signal);
    await h.clock.advance(2_000); // the interval, then the pass starts
    for (let t = 0; t < 1_200; t += 50) await h.clock.advance(50);
    expect(reads).toHaveLength(1_000);
    const spread = Math.max(...reads) - Math.min(...reads);
    expect(spread).toBeGreaterThanOrEqual(700); // 4 batches of 256: 3 waits of 256 ms
    expect(spread).toBeLessThan(1_100);
    term.abort();
    await running;
  });
});

describe('StoreReconciler: a token fetched while the store was down (issue 16)', () => {
  it('is written back by the replica that fetched it, leader or not, once the store answers', async () => {
    const h = coreHarness();
    await h.refresher.refresh(h.app, 'startup');
    const stored = h.cache.get(APP_ID)!;
    // The write of the next token fails as in a Sentinel promotion: WeChat has it, the store not.
    const write = vi
      .spyOn(h.store, 'write')
      .mockRejectedValueOnce(new StoreUnavailableError('write'));
    await h.refresher.refresh(h.app, 'schedule', { ifGeneration: stored.generation });
    write.mockRestore();
    const fetched = h.cache.get(APP_ID)!;
    expect(fetched.generation).toBe(stored.generation + 1);
    expect((await h.store.read(APP_ID))?.current.generation).toBe(stored.generation);
    expect(h.refresher.holdsUnstored(APP_ID)).toBe(true);

    const { r, logs } = reconciler(h, (id) => h.store.read(id), false);
    await r.reconcileOnce();
    expect((await h.store.read(APP_ID))?.current.value).toBe(fetched.value);
    expect(logs).toContain('store had lost the token record; rewrote it from cache');
    expect(h.refresher.holdsUnstored(APP_ID)).toBe(false);
    expect(h.wechat.tokenCalls).toBe(2); // the write-back never fetches
  });

  it('a non-leader that stored its token does not repair others’ losses', async () => {
    const h = coreHarness();
    await h.refresher.refresh(h.app, 'startup');
    expect(h.refresher.holdsUnstored(APP_ID)).toBe(false);
    const repair = vi.spyOn(h.refresher, 'repair');
    const { r } = reconciler(h, async () => null, false);
    await r.reconcileOnce();
    expect(repair).not.toHaveBeenCalled();
  });
});
