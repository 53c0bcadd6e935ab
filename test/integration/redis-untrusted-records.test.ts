import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient, waitReady } from '../../src/redis/redis-clients.js';
import { AtRestCipher, type ValueCipher } from '../../src/redis/at-rest-cipher.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { RedisTokenStore, type RecordTrust } from '../../src/redis/redis-token-store.js';
import { createRedlockLocks } from '../../src/redis/redlock-locks.js';
import { systemClock } from '../../src/shared/clock.js';
import type { TokenRecord } from '../../src/token/token.js';
import { startRedis, type RedisNode } from '../support/redis-server.js';
import { until } from '../support/until.js';

/**
 * Issue 11 §4 "Redis is not trusted blindly", against a real redis-server: whoever can write
 * to Redis must not be able to serve a token to every replica, nor freeze an app.
 */
const APP = 'wxtrust000000001';
const APP_B = 'wxtrust000000002';

/** A record as the pub/sub announcement carries it (the value travels as `accessToken`). */
function wire({ value, ...rest }: TokenRecord): string {
  return JSON.stringify({ ...rest, accessToken: value });
}

describe('RedisTokenStore drops untrusted records (issue 11 §4, invariants 2 and 3)', () => {
  let node: RedisNode;
  const closers: (() => Promise<void>)[] = [];
  const dropped: string[] = [];
  const trust: RecordTrust = {
    isConfigured: (appId) => appId === APP || appId === APP_B,
    onUntrusted: (appId, reason, source) => dropped.push(`${source}:${reason}`),
  };

  beforeAll(async () => {
    node = await startRedis();
  });
  afterAll(async () => {
    for (const close of closers) await close();
    await node.stop();
  });

  async function replica(keys: RedisKeys, cipher?: ValueCipher) {
    const client = createRedisClient(node.url, {
      commandTimeoutMs: 1_000,
      connectionName: 'test-untrusted',
    });
    await waitReady(client, 5_000);
    const store = new RedisTokenStore([client], keys, systemClock, cipher, trust);
    await store.start();
    closers.push(() => store.close());
    const { locks } = createRedlockLocks([client], keys, systemClock);
    const seen: TokenRecord[] = [];
    store.subscribe((t) => seen.push(t));
    await until('subscribed', async () => {
      const reply = (await client.call('PUBSUB', 'NUMSUB', keys.events())) as [string, number];
      return Number(reply[1]) >= 1;
    });
    return { client, store, locks, seen };
  }

  const good = (generation: number, accessToken = `tok_${randomUUID()}`): TokenRecord => {
    const now = Date.now();
    return {
      appId: APP,
      value: accessToken,
      expiresAt: now + 7_200_000,
      fetchedAt: now,
      generation,
    };
  };

  it('a PUBLISHed forged token (unknown app, year-long life, 2^53 generation, 64 KiB value) reaches no listener, and is counted', async () => {
    dropped.length = 0;
    const keys = new RedisKeys(`test:${randomUUID()}:`);
    const { client, seen } = await replica(keys);
    const now = Date.now();
    const forged = [
      { ...good(5), appId: 'wxattacker000001' },
      { ...good(5), expiresAt: now + 365 * 86_400_000 },
      { ...good(2 ** 53) },
      { ...good(-1) },
      { ...good(1.5) },
      { ...good(5), fetchedAt: now + 86_400_000, expiresAt: now + 86_400_000 + 7_000_000 },
      { ...good(5), value: 'x'.repeat(65_536) },
      { ...good(5), value: 'has space\n' },
    ];
    for (const f of forged) await client.publish(keys.events(), wire(f));
    // A legitimate message after them proves the subscriber got every one of them in order.
    await client.publish(keys.events(), wire(good(6, 'tok_real')));
    await until('the real message', () => seen.some((t) => t.value === 'tok_real'));
    expect(seen.map((t) => t.value)).toEqual(['tok_real']);
    expect(dropped).toEqual([
      'message:unknown_app',
      'message:lifetime_too_long',
      'message:bad_generation',
      'message:bad_generation',
      'message:bad_generation',
      'message:fetched_in_future',
      'message:bad_token',
      'message:bad_token',
    ]);
  });

  it('a stored record forged at generation 2^53 reads as absent, and the lock holder repairs it with a fenced write', async () => {
    dropped.length = 0;
    const keys = new RedisKeys(`test:${randomUUID()}:`);
    const { client, store, locks } = await replica(keys);
    const now = Date.now();
    await client.hset(keys.record(APP), {
      token: 'tok_forged',
      generation: String(2 ** 53),
      expires_at: String(now + 7_200_000),
      fetched_at: String(now),
    });
    expect(await store.read(APP)).toBeNull();
    expect(dropped).toEqual(['read:bad_generation']);

    const lock = await locks.tryAcquire(APP, 10_000);
    expect(lock).not.toBeNull();
    await store.write(good(1, 'tok_repaired'), lock!);
    expect((await store.read(APP))?.current).toMatchObject({
      value: 'tok_repaired',
      generation: 1,
    });
    // The fence holds again for the legitimate record (invariant 2): generation 1 is not > 1.
    await expect(store.write(good(1, 'tok_again'), lock!)).rejects.toThrow();
    await store.write(good(2, 'tok_next'), lock!);
    expect((await store.read(APP))?.current.value).toBe('tok_next');
    await locks.release(lock!);
  });

  it('with redis.encryption: a sealed token copied from app B to app A, or a plaintext one, is refused, counted, and repaired', async () => {
    dropped.length = 0;
    const keys = new RedisKeys(`test:${randomUUID()}:`);
    const cipher = new AtRestCipher(new Map([['k1', randomBytes(32)]]), 'k1');
    const { client, store, locks } = await replica(keys, cipher);
    const lockB = await locks.tryAcquire(APP_B, 10_000);
    await store.write({ ...good(3, 'tok_of_b'), appId: APP_B }, lockB!);
    await locks.release(lockB!);
    // An attacker with Redis access copies B's sealed token into A's record.
    const sealedB = await client.hget(keys.record(APP_B), 'token');
    const now = Date.now();
    await client.hset(keys.record(APP), {
      token: sealedB!,
      generation: '7',
      expires_at: String(now + 7_200_000),
      fetched_at: String(now),
    });
    expect(await store.read(APP)).toBeNull();
    await client.hset(keys.record(APP), { token: 'tok_plaintext' });
    expect(await store.read(APP)).toBeNull();
    expect(dropped).toEqual(['read:bad_seal', 'read:bad_seal']);
    expect((await store.read(APP_B))?.current.value).toBe('tok_of_b');
    // The lock holder's write replaces the refused record although it claims generation 7.
    const lock = await locks.tryAcquire(APP, 10_000);
    await store.read(APP);
    await store.write(good(1, 'tok_repaired'), lock!);
    await locks.release(lock!);
    const repaired = await store.read(APP);
    expect(repaired?.current).toMatchObject({ value: 'tok_repaired', generation: 1 });
    expect(repaired?.previous).toBeUndefined();
  });
});
