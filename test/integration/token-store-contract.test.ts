import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient, waitReady } from '../../src/redis/redis-clients.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { RedisTokenStore } from '../../src/redis/redis-token-store.js';
import { createRedlockLocks } from '../../src/redis/redlock-locks.js';
import { systemClock } from '../../src/shared/clock.js';
import { MemoryTokenStore } from '../../src/token/memory-token-store.js';
import type { CredentialRecord } from '../../src/token/token.js';
import {
  FencedWriteError,
  type RefreshLocks,
  type TokenStore,
} from '../../src/token/token-store.js';
import { startRedis, type RedisNode } from '../support/redis-server.js';
import { until } from '../support/until.js';

/**
 * One contract, every store: the same cases run against the embedded store and against Redis,
 * for the access_token's keys and for a ticket kind's (design.md: "same code paths above the
 * store/lease interfaces"; invariants 1, 2 and 6 hold per credential).
 */
const APP = 'wxcontract000001';

interface Subject {
  readonly store: TokenStore;
  readonly locks: RefreshLocks;
}

let redis: RedisNode;
const clients: Redis[] = [];
const stores: TokenStore[] = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const s of stores) await s.close();
  await redis?.stop();
});

async function redisSubject(credential: string): Promise<Subject> {
  const client = createRedisClient(redis.url, {
    commandTimeoutMs: 1000,
    connectionName: 'contract',
  });
  await waitReady(client, 5_000);
  clients.push(client);
  const keys = new RedisKeys(`contract:${randomUUID()}:`).forCredential(credential);
  const store = new RedisTokenStore([client], keys, systemClock);
  await store.start();
  stores.push(store);
  await subscribed(client, keys.events());
  return { store, locks: createRedlockLocks([client], keys, systemClock).locks };
}

/** Resolves once the store's subscriber listens on `channel` (a message sent earlier is lost). */
function subscribed(client: Redis, channel: string): Promise<unknown> {
  return until(`a subscriber on ${channel}`, async () => {
    const reply = (await client.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
    return Number(reply[1]) >= 1;
  });
}

function memorySubject(): Subject {
  const store = new MemoryTokenStore(systemClock);
  return { store, locks: store };
}

const record = (
  generation: number,
  value = `v-${generation}-${randomUUID()}`,
): CredentialRecord => {
  const now = Date.now();
  return { appId: APP, value, expiresAt: now + 7_200_000, fetchedAt: now, generation };
};

describe.each([
  { name: 'memory', open: async () => memorySubject() },
  { name: 'Redis, access_token keys', open: () => redisSubject('') },
  { name: 'Redis, jsapi ticket keys', open: () => redisSubject('ticket:jsapi') },
])('TokenStore contract: $name', ({ open }) => {
  let s: Subject;
  beforeAll(async () => {
    s = await open();
  });

  it('invariant 1: the refresh lock has one holder until released', async () => {
    const app = `${APP}-lock-${randomUUID().slice(0, 8)}`;
    const held = await s.locks.tryAcquire(app, 10_000);
    expect(held).not.toBeNull();
    expect(await s.locks.tryAcquire(app, 10_000)).toBeNull();
    await s.locks.release(held!);
    const again = await s.locks.tryAcquire(app, 10_000);
    expect(again).not.toBeNull();
    await s.locks.release(again!);
  });

  it('invariant 2: a write needs the lock and a larger generation; the replaced value becomes previous', async () => {
    const lock = (await s.locks.tryAcquire(APP, 10_000))!;
    const first = record(1);
    const second = record(2);
    await s.store.write(first, lock);
    await s.store.write(second, lock);
    await expect(s.store.write(record(2), lock)).rejects.toBeInstanceOf(FencedWriteError);
    await s.locks.release(lock);
    await expect(s.store.write(record(3), lock)).rejects.toMatchObject({
      reason: 'lock_not_held',
    });
    const stored = await s.store.read(APP);
    expect(stored?.current).toEqual(second);
    expect(stored?.previous).toEqual(first);
  });

  it('every accepted write reaches subscribers; refused ones never do', async () => {
    const seen: CredentialRecord[] = [];
    const unsubscribe = s.store.subscribe((r) => seen.push(r));
    const lock = (await s.locks.tryAcquire(APP, 10_000))!;
    const next = record(((await s.store.read(APP))?.current.generation ?? 0) + 1);
    await s.store.write(next, lock);
    await s.store.write(record(1), lock).catch(() => undefined);
    await s.locks.release(lock);
    await until('the write announced', () => seen.some((r) => r.value === next.value));
    expect(seen.map((r) => r.generation)).toEqual([next.generation]);
    unsubscribe();
  });

  it('invariant 6: checks are numbered in order and an older verdict never replaces a newer one', async () => {
    const fp = randomUUID();
    expect(await s.store.checkState(APP, fp)).toEqual({ sent: 0 });
    expect(await s.store.beginCheck(APP, fp)).toBe(1);
    expect(await s.store.beginCheck(APP, fp)).toBe(2);
    await s.store.recordVerdict(APP, fp, { seq: 2, valid: false });
    await s.store.recordVerdict(APP, fp, { seq: 1, valid: true });
    expect(await s.store.checkState(APP, fp)).toEqual({
      sent: 2,
      latest: { seq: 2, valid: false },
    });
  });
});

describe('credential kinds do not share records (Redis)', () => {
  it("a ticket kind's records, locks and events are apart from the access_token's under the same prefix", async () => {
    const client = createRedisClient(redis.url, {
      commandTimeoutMs: 1000,
      connectionName: 'kinds',
    });
    await waitReady(client, 5_000);
    clients.push(client);
    const keys = new RedisKeys(`kinds:${randomUUID()}:`);
    const tokenStore = new RedisTokenStore([client], keys, systemClock);
    const ticketKeys = keys.forCredential('ticket:jsapi');
    const ticketStore = new RedisTokenStore(
      [client],
      ticketKeys,
      systemClock,
      undefined,
      undefined,
      false,
    );
    await tokenStore.start();
    await ticketStore.start();
    stores.push(ticketStore, tokenStore);
    const tokenLocks = createRedlockLocks([client], keys, systemClock).locks;
    const ticketLocks = createRedlockLocks([client], ticketKeys, systemClock).locks;
    const heard: string[] = [];
    tokenStore.subscribe((r) => heard.push(`token:${r.value}`));
    ticketStore.subscribe((r) => heard.push(`ticket:${r.value}`));

    for (const channel of [keys.events(), ticketKeys.events()]) await subscribed(client, channel);
    const tokenLock = (await tokenLocks.tryAcquire(APP, 10_000))!;
    // The ticket's lock is free while the token's is held: a ticket fetch never waits on a token fetch.
    const ticketLock = (await ticketLocks.tryAcquire(APP, 10_000))!;
    expect(ticketLock).not.toBeNull();
    await tokenStore.write(record(1, 'the-token'), tokenLock);
    await ticketStore.write(record(1, 'the-ticket'), ticketLock);
    // A lock of one kind does not let anyone write the other kind's record.
    await expect(ticketStore.write(record(2), tokenLock)).rejects.toBeInstanceOf(FencedWriteError);
    expect((await tokenStore.read(APP))?.current.value).toBe('the-token');
    expect((await ticketStore.read(APP))?.current.value).toBe('the-ticket');
    await until('both announced', () => heard.length >= 2);
    expect(heard.sort()).toEqual(['ticket:the-ticket', 'token:the-token']);
    expect(keys.record(APP)).toMatch(/\{app:wxcontract000001\}:token$/);
    expect(ticketKeys.record(APP)).toMatch(/\{app:wxcontract000001\}:ticket:jsapi$/);
    expect(ticketKeys.events()).not.toBe(keys.events());
    await tokenLocks.release(tokenLock);
    await ticketLocks.release(ticketLock);
  });
});
