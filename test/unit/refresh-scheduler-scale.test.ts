import { fixedApps } from '../../src/apps/app-directory.js';
import { describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config/config.js';
import { DueQueue } from '../../src/refresher/due-queue.js';
import { Secret } from '../../src/shared/secret.js';
import { MemoryTokenStore } from '../../src/token/memory-token-store.js';
import { createTokenCore } from '../../src/token-core.js';
import type { AppCredentials, FetchedToken } from '../../src/wechat/wechat-client.js';
import { FakeClock } from '../support/fake-clock.js';
import { ScriptedWeChat } from '../support/scripted-wechat.js';
import { UNIT_REFRESH } from '../support/core-harness.js';
import { seeded } from '../support/seeded.js';

/** ScriptedWeChat whose token calls take `latencyMs` of fake time and count how many overlap. */
class SlowWeChat extends ScriptedWeChat {
  inFlight = 0;
  maxInFlight = 0;
  readonly calledAt: number[] = [];

  constructor(
    private readonly fake: FakeClock,
    private readonly latencyMs: number,
  ) {
    super(fake);
  }

  override async getToken(app: AppCredentials): Promise<FetchedToken> {
    this.calledAt.push(this.fake.now());
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      const token = await super.getToken(app);
      await this.fake.sleep(this.latencyMs);
      return token;
    } finally {
      this.inFlight--;
    }
  }
}

function fleet(count: number, maxConcurrentFetches: number) {
  const clock = new FakeClock();
  const wechat = new SlowWeChat(clock, 50);
  const apps: AppConfig[] = Array.from({ length: count }, (_, i) => ({
    appId: `wxfleet${String(i).padStart(6, '0')}`,
    mode: 'classic',
    secret: new Secret('s'),
    secretSource: 'inline',
    tickets: [],
  }));
  const store = new MemoryTokenStore(clock);
  const core = createTokenCore({
    clock,
    random: seeded(7),
    apps: fixedApps(apps),
    wechat,
    store,
    locks: store,
    refresh: UNIT_REFRESH,
    maxConcurrentFetches,
    lockTtlMs: 15_000,
    maxWaitMs: 5_000,
    isLeader: () => true,
  });
  return { clock, wechat, apps, ...core };
}

describe('RefreshScheduler with many apps', () => {
  it('startup: 1,000 apps get a token with never more than maxConcurrentFetches in flight', async () => {
    const f = fleet(1000, 8);
    const leadership = new AbortController();
    const done = f.scheduler.run(leadership.signal);
    await f.clock.advance(0);
    expect(f.wechat.inFlight).toBe(8);
    await f.clock.advance(10_000); // 1000 / 8 × 50 ms = 6.25 s
    expect(f.wechat.tokenCalls).toBe(1000);
    expect(f.wechat.maxInFlight).toBe(8);
    expect(f.apps.every((a) => f.service.peek(a.appId))).toBe(true);
    // Idle apps wait in one queue under one timer, not one timer each.
    expect(f.clock.pendingTimers()).toBe(1);
    leadership.abort();
    await done;
    expect(f.clock.pendingTimers()).toBe(0);
  });

  it('invariant 4: scheduled waves spread over the jitter window, one fetch per app per lifetime, no lapse', async () => {
    const f = fleet(1000, 64);
    const leadership = new AbortController();
    const done = f.scheduler.run(leadership.signal);
    await f.clock.advance(2_000);
    const startup = f.wechat.tokenCalls;
    expect(startup).toBe(1000);
    for (let s = 0; s < 3 * 7200; s += 60) {
      await f.clock.advance(60_000);
      const now = f.clock.now();
      expect(f.apps.every((a) => (f.service.peek(a.appId)?.expiresAt ?? 0) > now)).toBe(true);
    }
    // Three lifetimes of 7200 s, each app refreshed 300–360 s ahead: three waves of 1,000.
    expect(f.wechat.tokenCalls).toBe(4000);
    const wave1 = f.wechat.calledAt.slice(1000, 2000);
    const spread = Math.max(...wave1) - Math.min(...wave1);
    expect(spread).toBeGreaterThan(50_000); // jitterRatio 0.2 × 300 s = 60 s window
    expect(spread).toBeLessThan(62_000);
    leadership.abort();
    await done;
  });

  it('an app still queued when another refresh writes its token is not fetched again', async () => {
    const f = fleet(1000, 8);
    const leadership = new AbortController();
    const done = f.scheduler.run(leadership.signal);
    await f.clock.advance(0);
    const last = f.apps[999]!;
    await Promise.all([f.refresher.refresh(last, 'operator'), f.clock.advance(100)]);
    await f.clock.advance(10_000);
    expect(f.wechat.tokenCalls).toBe(1000); // 999 scheduled + 1 operator refresh
    leadership.abort();
    await done;
  });

  it('rejects a maxConcurrentFetches that is not a positive integer', () => {
    expect(() => fleet(1, 0)).toThrow(RangeError);
  });

  it('invariant 7: leadership ending mid-startup drops the queued fetches at once', async () => {
    const f = fleet(1000, 8);
    const leadership = new AbortController();
    const done = f.scheduler.run(leadership.signal);
    await f.clock.advance(0);
    leadership.abort();
    await f.clock.advance(100); // the 8 fetches in flight finish; nothing else starts
    await done;
    expect(f.wechat.tokenCalls).toBe(8);
    await f.clock.advance(3_600_000);
    expect(f.wechat.tokenCalls).toBe(8);
    expect(f.clock.pendingTimers()).toBe(0);
  });
});

describe('DueQueue', () => {
  it('pops keys in due order, after moves and deletes', () => {
    const q = new DueQueue<string>();
    const random = seeded(3);
    const due = new Map<string, number>();
    for (let i = 0; i < 500; i++) {
      const key = `k${i % 200}`;
      if (random() < 0.2) {
        q.delete(key);
        due.delete(key);
      } else {
        const at = Math.floor(random() * 10_000);
        q.set(key, at);
        due.set(key, at);
      }
    }
    expect(q.size).toBe(due.size);
    expect(q.popDue(-1)).toBeUndefined();
    const popped: number[] = [];
    for (let k = q.popDue(Infinity); k !== undefined; k = q.popDue(Infinity)) {
      popped.push(due.get(k)!);
    }
    expect(popped).toEqual([...due.values()].sort((a, b) => a - b));
  });

  it('stays ordered while it grows to 20,000 keys and drops back to a few (slots reused)', () => {
    const q = new DueQueue<number>();
    const random = seeded(11);
    const due = new Map<number, number>();
    for (let k = 0; k < 20_000; k++) {
      const at = Math.floor(random() * 1e12) + 1.8e12; // ms timestamps, not small integers
      q.set(k, at);
      due.set(k, at);
    }
    for (let k = 0; k < 20_000; k += 3) {
      const at = Math.floor(random() * 1e12) + 1.8e12;
      q.set(k, at); // moves, earlier and later
      due.set(k, at);
    }
    for (let k = 0; k < 19_990; k++) {
      expect(q.delete(k)).toBe(true);
      due.delete(k);
    }
    expect(q.delete(0)).toBe(false);
    expect(q.size).toBe(10);
    for (let k = 30_000; k < 35_000; k++) {
      const at = Math.floor(random() * 1e12) + 1.8e12; // new keys in the freed slots
      q.set(k, at);
      due.set(k, at);
    }
    expect(q.size).toBe(5010);
    const popped: number[] = [];
    for (let k = q.popDue(Infinity); k !== undefined; k = q.popDue(Infinity))
      popped.push(due.get(k)!);
    expect(popped).toEqual([...due.values()].sort((a, b) => a - b));
    expect(q.peekAt()).toBeUndefined();
  });
});

describe('DueQueue: popped keys keep their slot (no map churn in a refresh wave)', () => {
  it('a popped key is queued again by set, in order, and delete then forgets it', () => {
    const q = new DueQueue<string>();
    for (let i = 0; i < 100; i++) q.set(`k${i}`, 1000 + i);
    const first: string[] = [];
    for (let k = q.popDue(1049); k !== undefined; k = q.popDue(1049)) first.push(k);
    expect(first).toEqual(Array.from({ length: 50 }, (_, i) => `k${i}`));
    expect(q.size).toBe(50);
    // Popped keys are not queued: deleting one says so, and it is gone for good.
    expect(q.delete('k0')).toBe(false);
    expect(q.delete('k0')).toBe(false);
    // The others come back (later than the rest), mixed with a key never seen before.
    for (let i = 1; i < 50; i++) q.set(`k${i}`, 5000 - i);
    q.set('new', 4000);
    q.set('k99', 3000); // a queued key moved earlier
    expect(q.size).toBe(100);
    const order: string[] = [];
    for (let k = q.popDue(Infinity); k !== undefined; k = q.popDue(Infinity)) order.push(k);
    expect(order).toEqual([
      ...Array.from({ length: 49 }, (_, i) => `k${50 + i}`),
      'k99',
      'new',
      ...Array.from({ length: 49 }, (_, i) => `k${49 - i}`),
    ]);
    expect(q.peekAt()).toBeUndefined();
  });

  it('round after round of pop and set keeps the order of a reference model', () => {
    const q = new DueQueue<number>();
    const random = seeded(5);
    const due = new Map<number, number>();
    for (let k = 0; k < 2000; k++) {
      const at = Math.floor(random() * 1e6);
      q.set(k, at);
      due.set(k, at);
    }
    let now = 0;
    for (let round = 0; round < 20; round++) {
      now += 100_000;
      const popped: number[] = [];
      for (let k = q.popDue(now); k !== undefined; k = q.popDue(now)) popped.push(k);
      const expected = [...due].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1]);
      expect(popped.map((k) => due.get(k))).toEqual(expected.map(([, at]) => at));
      for (const k of popped) {
        const at = now + Math.floor(random() * 1e6);
        q.set(k, at);
        due.set(k, at);
      }
      expect(q.size).toBe(due.size);
    }
  });
});
