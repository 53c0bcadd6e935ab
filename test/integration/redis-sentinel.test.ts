import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { ConfigError } from '../../src/config/config-error.js';
import { parseConfig } from '../../src/config/load-config.js';
import { createRedisBackend, type Backend } from '../../src/redis/redis-backend.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { systemClock } from '../../src/shared/clock.js';
import { createLogger } from '../../src/shared/logger.js';
import type { TokenRecord } from '../../src/token/token.js';
import type { LockHandle } from '../../src/token/token-store.js';
import { startSentinelSetup, type SentinelSetup } from '../support/redis-sentinel.js';
import { until, waitFor } from '../support/until.js';

/**
 * Issue 16 item 1: the Redis backend on a Sentinel-managed primary (1 primary, 2 replicas,
 * 3 sentinels, real processes). Commands, pub/sub and locks follow a promotion; a lock and a
 * record lost with the old primary (never replicated) cannot let a stale writer through.
 */
const APP = 'wxsentinel000001';
const LOCK_TTL_MS = 10_000;
const log = createLogger({ level: 'silent' });

let setup: SentinelSetup;
let config: Config;
const backends: Backend[] = [];

function token(generation: number): TokenRecord {
  const now = Date.now();
  const value = `tok-${generation}-${randomUUID()}`;
  return { appId: APP, value, expiresAt: now + 7_200_000, fetchedAt: now, generation };
}

async function backend(): Promise<Backend> {
  const b = await createRedisBackend(config, systemClock, log);
  backends.push(b);
  return b;
}

/** A raw connection to one data node (outside the product). */
async function onNode<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** Retries `op` until the store answers again (it fails fast during a promotion). */
function once<T>(what: string, op: () => Promise<T | null>): Promise<T> {
  return waitFor(what, async () => (await op().catch(() => null)) ?? undefined, 20_000, 25);
}

beforeAll(async () => {
  setup = await startSentinelSetup();
  config = parseConfig(
    {
      redis: {
        sentinels: setup.sentinels,
        sentinelName: setup.name,
        keyPrefix: `test:${randomUUID()}:`,
        commandTimeoutMs: 500,
      },
      apps: [{ appId: APP, mode: 'classic', secretEnv: 'WX_SECRET' }],
    },
    {
      env: { WX_SECRET: 'f00dfeedcafebabe0123456789abcdef' },
      readFile: () => '',
      warn: () => undefined,
    },
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(backends.map((b) => b.store.close()));
  await setup?.stop();
});

describe('Redis Sentinel (issue 16)', () => {
  it('commands, pub/sub, the refresh lock and the lease follow the promoted primary', async () => {
    const a = await backend();
    const b = await backend();
    expect(a.topology).toBe('sentinel');
    const first = await setup.primaryPort();
    expect(a.primary()).toBe(`127.0.0.1:${first}`);
    const seenByB: TokenRecord[] = [];
    b.store.subscribe((t) => seenByB.push(t));
    const events = new RedisKeys(config.redis.keyPrefix).events();
    await until('both subscribers on the primary', async () => {
      const reply = await onNode(first, (r) => r.call('PUBSUB', 'NUMSUB', events));
      return Number((reply as [string, number])[1]) >= 2;
    });
    const lock = (await a.locks.tryAcquire(APP, LOCK_TTL_MS))!;
    expect(lock).not.toBeNull();
    await a.store.write(token(1), lock);
    await a.locks.release(lock);
    await until('B saw generation 1 by pub/sub', () => seenByB.some((t) => t.generation === 1));
    const lease = (await a.lease.tryAcquire(LOCK_TTL_MS))!;
    expect(lease).not.toBeNull();

    const { newPort } = await setup.killPrimary();

    // The lease was replicated before the kill: the holder keeps it on the new primary (a
    // failed extension ends the lease for good, so the store is awaited first).
    // Each replica's client finds the new primary on its own schedule (a reconnect backoff).
    for (const x of [a, b]) {
      await once('the new primary answers', async () => ({ r: await x.store.read(APP) }));
    }
    const extended = (await a.lease.extend(lease, LOCK_TTL_MS))!;
    expect(extended).not.toBeNull();
    expect(await b.lease.tryAcquire(LOCK_TTL_MS)).toBeNull();
    await a.lease.release(extended);
    // Commands and locks reach the new primary; the record survived (replicated).
    const lock2 = await once('the refresh lock on the new primary', () =>
      a.locks.tryAcquire(APP, LOCK_TTL_MS),
    );
    expect((await b.store.read(APP))?.current.generation).toBe(1);
    await a.store.write(token(2), lock2);
    expect(a.primary()).toBe(`127.0.0.1:${newPort}`);
    // B's subscriber reconnected to the new primary and subscribed again.
    await until('B saw generation 2 by pub/sub after the failover', () =>
      seenByB.some((t) => t.generation === 2),
    );
    await a.locks.release(lock2);
  }, 60_000);

  it('a lock and a write lost in the promotion: the stale holder is fenced, the record is written back', async () => {
    const a = await backend();
    const b = await backend();
    const gen = (
      (await once(
        'a read',
        async () => (await a.store.read(APP)) ?? { current: { generation: 0 } },
      )) as {
        current: { generation: number };
      }
    ).current.generation;
    const primary = await setup.primaryPort();
    // Freeze the replicas and cut their links, then take the lock and write: neither can
    // reach a replica before the primary dies, exactly the asynchronous-replication loss.
    const replicas = setup.nodes.filter((n) => n.port !== primary);
    for (const r of replicas) r.pause();
    let lock: LockHandle | null;
    try {
      await onNode(primary, (r) => r.call('CLIENT', 'KILL', 'TYPE', 'replica'));
      lock = await a.locks.tryAcquire(APP, LOCK_TTL_MS);
      expect(lock).not.toBeNull();
    } catch (err) {
      for (const r of replicas) r.resume();
      throw err;
    }
    const lost = token(gen + 1);
    await a.store.write(lost, lock!);
    await setup.killPrimary(() => {
      for (const r of replicas) r.resume();
    });

    // The new primary never saw the lock or the write: A's lock is gone, so A is fenced, and
    // B can take the lock. (The leader repairs the record from its cache, as after a flush.)
    const current = await once('a read on the new primary', async () => ({
      stored: await a.store.read(APP),
    }));
    await once('B reaches the new primary', async () => ({ r: await b.store.read(APP) }));
    expect(current.stored?.current.generation ?? 0).toBeLessThan(lost.generation);
    await expect(a.store.write(token(gen + 2), lock!)).rejects.toMatchObject({
      reason: 'lock_not_held',
    });
    const lockB = (await b.locks.tryAcquire(APP, LOCK_TTL_MS))!;
    expect(lockB).not.toBeNull();
    await b.store.write(lost, lockB);
    expect((await a.store.read(APP))?.current.value).toBe(lost.value);
    await b.locks.release(lockB);
  }, 60_000);
});

describe('Redis Sentinel with passwords (issue 16: sentinelPasswordEnv, passwordFile)', () => {
  const DATA_PW = `data-${randomUUID()}`;
  const SENTINEL_PW = `sentinel-${randomUUID()}`;
  let secured: SentinelSetup;
  const opened: Backend[] = [];

  const configWith = (dataPassword: string): Config =>
    parseConfig(
      {
        redis: {
          sentinels: secured.sentinels,
          sentinelName: secured.name,
          sentinelPasswordEnv: 'WX_SENTINEL_PW',
          passwordFile: '/run/secrets/redis',
          keyPrefix: `test:${randomUUID()}:`,
          commandTimeoutMs: 500,
        },
        apps: [{ appId: APP, mode: 'classic', secretEnv: 'WX_SECRET' }],
      },
      {
        env: { WX_SECRET: 'f00dfeedcafebabe0123456789abcdef', WX_SENTINEL_PW: SENTINEL_PW },
        readFile: (path) => (path === '/run/secrets/redis' ? `${dataPassword}\n` : ''),
        warn: () => undefined,
      },
    );

  beforeAll(async () => {
    secured = await startSentinelSetup({ password: DATA_PW, sentinelPassword: SENTINEL_PW });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(opened.map((b) => b.store.close()));
    await secured?.stop();
  });

  it('both passwords reach their servers: the store works through password-protected sentinels and nodes', async () => {
    const b = await createRedisBackend(configWith(DATA_PW), systemClock, log);
    opened.push(b);
    const lock = (await b.locks.tryAcquire(APP, LOCK_TTL_MS))!;
    expect(lock).not.toBeNull();
    await b.store.write(token(1), lock);
    expect((await b.store.read(APP))?.current.generation).toBe(1);
    expect(b.primary()).toBe(`127.0.0.1:${await secured.primaryPort()}`);
  });

  it('a wrong data-node password is a ConfigError naming redis.sentinels, never the password', async () => {
    const wrong = `wrong-${randomUUID()}`;
    const err = await createRedisBackend(configWith(wrong), systemClock, log).then(
      () => new Error('createRedisBackend resolved; expected a ConfigError'),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => i.key)).toEqual(['redis.sentinels']);
    expect(String((err as ConfigError).message)).not.toContain(wrong);
    expect(String((err as ConfigError).message)).not.toContain(DATA_PW);
  }, 20_000);
});
