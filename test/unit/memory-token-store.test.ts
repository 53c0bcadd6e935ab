import { describe, expect, it } from 'vitest';
import { MemoryTokenStore } from '../../src/token/memory-token-store.js';
import type { TokenRecord } from '../../src/token/token.js';
import { FencedWriteError, type LockHandle } from '../../src/token/token-store.js';
import { FakeClock } from '../support/fake-clock.js';

const APP = 'wxstore000000001';
const OTHER_APP = 'wxstore000000002';
const LOCK_TTL_MS = 15_000;
const LIFETIME_MS = 7_200_000;

function setup() {
  const clock = new FakeClock();
  const store = new MemoryTokenStore(clock);
  const seen: TokenRecord[] = [];
  store.subscribe((t) => seen.push(t));
  const token = (generation: number, value = `token-${generation}`, appId = APP) => ({
    appId,
    value,
    fetchedAt: clock.now(),
    expiresAt: clock.now() + LIFETIME_MS,
    generation,
  });
  const acquire = async (appId = APP): Promise<LockHandle> => {
    const handle = await store.tryAcquire(appId, LOCK_TTL_MS);
    expect(handle, `lock for ${appId} should be free`).not.toBeNull();
    return handle!;
  };
  return { clock, store, seen, token, acquire };
}

/** The refusal `write` threw, or fails the test when it was accepted. */
async function refusal(write: Promise<void>): Promise<FencedWriteError> {
  const err: unknown = await write.then(
    () => expect.fail('the write should have been refused'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FencedWriteError);
  return err as FencedWriteError;
}

describe('MemoryTokenStore writes (invariant 2: fenced writes)', () => {
  it('accepts a write by the lock holder with a growing generation and reads it back', async () => {
    const { store, seen, token, acquire } = setup();
    const lock = await acquire();
    await store.write(token(1), lock);
    expect(await store.read(APP)).toEqual({ current: token(1) });
    expect(seen).toEqual([token(1)]);
  });

  it('keeps the replaced token as previous after a second token (overlap)', async () => {
    const { store, token, acquire } = setup();
    const lock = await acquire();
    await store.write(token(1), lock);
    await store.write(token(2), lock);
    expect(await store.read(APP)).toEqual({ current: token(2), previous: token(1) });
    await store.write(token(3), lock);
    expect(await store.read(APP)).toEqual({ current: token(3), previous: token(2) });
  });

  it('a newer generation of the same access_token (stable mode) keeps the earlier previous', async () => {
    const { store, token, acquire } = setup();
    const lock = await acquire();
    await store.write(token(1, 'A'), lock);
    await store.write(token(2, 'B'), lock);
    await store.write(token(3, 'B'), lock);
    expect(await store.read(APP)).toEqual({ current: token(3, 'B'), previous: token(1, 'A') });
  });

  it('reads null for an app never written', async () => {
    const { store } = setup();
    expect(await store.read(APP)).toBeNull();
  });

  it.each([
    ['an equal generation', 5, 5],
    ['a lower generation', 5, 4],
    ['generation 0 after 1', 1, 0],
  ])('refuses %s as stale_generation; the stored token stays', async (_, stored, attempted) => {
    const { store, seen, token, acquire } = setup();
    const lock = await acquire();
    await store.write(token(stored), lock);
    const err = await refusal(store.write(token(attempted, 'late-token'), lock));
    expect(err).toMatchObject({
      name: 'FencedWriteError',
      appId: APP,
      reason: 'stale_generation',
      attemptedGeneration: attempted,
      storedGeneration: stored,
    });
    expect(await store.read(APP)).toEqual({ current: token(stored) });
    expect(seen).toEqual([token(stored)]);
  });

  it('refuses a holder whose lock expired (GC pause past the ttl) as lock_not_held; nothing written', async () => {
    const { clock, store, seen, token, acquire } = setup();
    const lock = await acquire();
    await clock.advance(LOCK_TTL_MS);
    const err = await refusal(store.write(token(1), lock));
    expect(err).toMatchObject({
      reason: 'lock_not_held',
      attemptedGeneration: 1,
      storedGeneration: null,
    });
    expect(await store.read(APP)).toBeNull();
    expect(seen).toEqual([]);
  });

  it('accepts a write just before the lock expires', async () => {
    const { clock, store, token, acquire } = setup();
    const lock = await acquire();
    await clock.advance(LOCK_TTL_MS - 1);
    await store.write(token(1), lock);
    expect((await store.read(APP))?.current).toEqual(token(1));
  });

  it('refuses a former holder once another replica re-acquired the lock (lock_not_held)', async () => {
    const { clock, store, seen, token, acquire } = setup();
    const first = await acquire();
    const t1 = token(1);
    await store.write(t1, first);
    await clock.advance(LOCK_TTL_MS);
    const second = await acquire();
    const t2 = token(2);
    await store.write(t2, second);
    // The first holder wakes up from its pause and tries to write a newer generation.
    const err = await refusal(store.write(token(3, 'zombie'), first));
    expect(err).toMatchObject({ reason: 'lock_not_held', storedGeneration: 2 });
    expect(await store.read(APP)).toEqual({ current: t2, previous: t1 });
    expect(seen).toEqual([t1, t2]);
  });

  it('refuses a former holder after it released the lock and someone else took it', async () => {
    const { store, token, acquire } = setup();
    const first = await acquire();
    await store.release(first);
    const second = await acquire();
    expect(second.value).not.toBe(first.value);
    expect((await refusal(store.write(token(1), first))).reason).toBe('lock_not_held');
    await store.write(token(1), second);
  });

  it('refuses a write after the holder released the lock, even with nobody else holding it', async () => {
    const { store, token, acquire } = setup();
    const lock = await acquire();
    await store.release(lock);
    expect((await refusal(store.write(token(1), lock))).reason).toBe('lock_not_held');
    expect(await store.read(APP)).toBeNull();
  });

  it("refuses a write fenced by another app's lock (lock_not_held)", async () => {
    const { store, seen, token, acquire } = setup();
    const otherLock = await acquire(OTHER_APP);
    expect((await refusal(store.write(token(1), otherLock))).reason).toBe('lock_not_held');
    // Even while this app's lock is held by someone: the handle must be for the token's app.
    await acquire(APP);
    expect((await refusal(store.write(token(1), otherLock))).reason).toBe('lock_not_held');
    expect(await store.read(APP)).toBeNull();
    expect(seen).toEqual([]);
  });

  it('refuses a forged handle that names the app but not the holder value', async () => {
    const { store, token, acquire } = setup();
    const real = await acquire();
    const forged: LockHandle = { ...real, value: 'not-the-holder' };
    expect((await refusal(store.write(token(1), forged))).reason).toBe('lock_not_held');
  });

  it('checks the lock before the generation (a non-holder learns nothing about the store)', async () => {
    const { clock, store, token, acquire } = setup();
    const lock = await acquire();
    await store.write(token(5), lock);
    await clock.advance(LOCK_TTL_MS);
    const err = await refusal(store.write(token(5), lock));
    expect(err.reason).toBe('lock_not_held');
  });

  it('keeps apps apart: generations are per app', async () => {
    const { store, token, acquire } = setup();
    await store.write(token(7), await acquire(APP));
    await store.write(token(1, 'other', OTHER_APP), await acquire(OTHER_APP));
    expect((await store.read(APP))?.current.generation).toBe(7);
    expect((await store.read(OTHER_APP))?.current.generation).toBe(1);
  });
});

describe('MemoryTokenStore refresh locks (invariant 1: single fetcher)', () => {
  it('tryAcquire returns null while the lock is held, without waiting', async () => {
    const { store, acquire } = setup();
    const lock = await acquire();
    expect(lock).toMatchObject({ appId: APP });
    expect(await store.tryAcquire(APP, LOCK_TTL_MS)).toBeNull();
  });

  it('the handle expires ttl after acquisition on the store clock', async () => {
    const { clock, store } = setup();
    const lock = await store.tryAcquire(APP, LOCK_TTL_MS);
    expect(lock?.expiresAt).toBe(clock.now() + LOCK_TTL_MS);
  });

  it.each([
    ['1 ms before expiry', LOCK_TTL_MS - 1, false],
    ['at expiry', LOCK_TTL_MS, true],
    ['long after expiry', LOCK_TTL_MS * 10, true],
  ])('tryAcquire %s: acquired=%s', async (_, elapsedMs, acquired) => {
    const { clock, store, acquire } = setup();
    await acquire();
    await clock.advance(elapsedMs);
    const second = await store.tryAcquire(APP, LOCK_TTL_MS);
    expect(second !== null).toBe(acquired);
  });

  it('tryAcquire succeeds at once after the holder releases', async () => {
    const { store, acquire } = setup();
    await store.release(await acquire());
    expect(await store.tryAcquire(APP, LOCK_TTL_MS)).not.toBeNull();
  });

  it("one app's lock does not block another app's", async () => {
    const { store, acquire } = setup();
    await acquire(APP);
    expect(await store.tryAcquire(OTHER_APP, LOCK_TTL_MS)).not.toBeNull();
  });

  it('release by a former holder does not release the current holder', async () => {
    const { clock, store, token, acquire } = setup();
    const first = await acquire();
    await clock.advance(LOCK_TTL_MS);
    const second = await acquire();
    await store.release(first);
    expect(await store.tryAcquire(APP, LOCK_TTL_MS)).toBeNull();
    await store.write(token(1), second); // the current holder still writes
  });

  it('release by a forged handle does not release', async () => {
    const { store, acquire } = setup();
    const lock = await acquire();
    await store.release({ ...lock, value: 'someone-else' });
    expect(await store.tryAcquire(APP, LOCK_TTL_MS)).toBeNull();
  });
});

describe('MemoryTokenStore subscribers (invariant 2: only accepted writes are published)', () => {
  it('calls subscribers once per accepted write, never for refused ones', async () => {
    const { clock, store, token, acquire } = setup();
    const got: number[] = [];
    store.subscribe((t) => got.push(t.generation));
    const lock = await acquire();
    await store.write(token(1), lock);
    await refusal(store.write(token(1), lock)); // stale
    await store.write(token(2), lock);
    await clock.advance(LOCK_TTL_MS);
    await refusal(store.write(token(3), lock)); // lock expired
    expect(got).toEqual([1, 2]);
  });

  it('stops calling a subscriber after it unsubscribes', async () => {
    const { store, token, acquire } = setup();
    const got: number[] = [];
    const unsubscribe = store.subscribe((t) => got.push(t.generation));
    const lock = await acquire();
    await store.write(token(1), lock);
    unsubscribe();
    await store.write(token(2), lock);
    expect(got).toEqual([1]);
  });

  it('close() drops every subscriber', async () => {
    const { store, seen, token, acquire } = setup();
    await store.close();
    await store.write(token(1), await acquire());
    expect(seen).toEqual([]);
  });
});

describe('MemoryTokenStore: previous tokens past their expiry are dropped', () => {
  it('reads a previous token back through its life and not after the writes that follow its expiry', async () => {
    const { clock, store, token, acquire } = setup();
    const apps = Array.from({ length: 40 }, (_, i) => `wxstoresweep${String(i).padStart(4, '0')}`);
    const put = async (record: TokenRecord): Promise<void> => {
      const lock = await acquire(record.appId);
      await store.write(record, lock);
      await store.release(lock);
    };
    for (const a of apps) await put(token(1, `${a}-1`, a));
    for (const a of apps) await put(token(2, `${a}-2`, a));
    const previousOf = async (a: string) => (await store.read(a))?.previous?.value;
    let g = 0;
    const writeOther = async (times: number): Promise<void> => {
      for (let i = 0; i < times; i++) await put(token(++g));
    };
    await writeOther(10);
    expect(await Promise.all(apps.map(previousOf))).toEqual(apps.map((a) => `${a}-1`));
    await clock.advance(LIFETIME_MS);
    // 16 entries a write: one round of the 41 previous tokens.
    await writeOther(Math.ceil(41 / 16));
    expect((await Promise.all(apps.map(previousOf))).filter(Boolean)).toEqual([]);
    expect(
      (await Promise.all(apps.map((a) => store.read(a)))).map((r) => r?.current.value),
    ).toEqual(apps.map((a) => `${a}-2`));
    // The app still writing keeps its live previous token.
    expect((await store.read(APP))?.previous?.generation).toBe(g - 1);
  });
});
