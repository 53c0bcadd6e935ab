import { randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { toStatus } from '../../src/grpc/error-mapper.js';
import { RedisSessionStore } from '../../src/redis/redis-session-store.js';
import {
  AtRestCipher,
  AtRestDecryptError,
  NoCipher,
  type ValueCipher,
} from '../../src/redis/at-rest-cipher.js';
import { createRedisClient, waitReady } from '../../src/redis/redis-clients.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { RedisTokenStore } from '../../src/redis/redis-token-store.js';
import { createRedlockLocks } from '../../src/redis/redlock-locks.js';
import { systemClock } from '../../src/shared/clock.js';
import { Secret } from '../../src/shared/secret.js';
import type { TokenRecord } from '../../src/token/token.js';
import { startRedis, type RedisNode } from '../support/redis-server.js';
import { until } from '../support/until.js';

const APP = 'wxencrypt0000001';
const LOCK_TTL_MS = 10_000;
const K1 = randomBytes(32);
const K2 = randomBytes(32);

const onlyK1 = (): AtRestCipher => new AtRestCipher(new Map([['k1', K1]]), 'k1');
const rotatedToK2 = (): AtRestCipher =>
  new AtRestCipher(
    new Map([
      ['k1', K1],
      ['k2', K2],
    ]),
    'k2',
  );

function token(generation: number, accessToken = `tok-${generation}-${randomUUID()}`): TokenRecord {
  const now = Date.now();
  return { appId: APP, value: accessToken, expiresAt: now + 7_200_000, fetchedAt: now, generation };
}

describe('encryption at rest in Redis', () => {
  let node: RedisNode;
  const opened: Redis[] = [];
  const stores: RedisTokenStore[] = [];

  beforeAll(async () => {
    node = await startRedis();
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await Promise.all(opened.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
  });

  afterAll(async () => {
    await node.stop();
  });

  async function client(name: string): Promise<Redis> {
    const c = createRedisClient(node.url, { commandTimeoutMs: 1_000, connectionName: name });
    await waitReady(c, 5_000);
    opened.push(c);
    return c;
  }

  /** A replica's token store, session store and real Redlock refresh locks with `cipher`. */
  async function replica(keys: RedisKeys, cipher: ValueCipher) {
    const c = await client(`enc-${randomUUID()}`);
    const store = new RedisTokenStore([c], keys, systemClock, cipher);
    stores.push(store);
    await store.start();
    const sessions = new RedisSessionStore([c], keys, systemClock, cipher);
    const { locks } = createRedlockLocks([c], keys, systemClock);
    const write = async (t: TokenRecord): Promise<void> => {
      const lock = await locks.tryAcquire(APP, LOCK_TTL_MS);
      if (!lock) throw new Error('refresh lock not acquired');
      try {
        await store.write(t, lock);
      } finally {
        await locks.release(lock);
      }
    };
    return { client: c, store, sessions, write };
  }

  const freshKeys = (): RedisKeys => new RedisKeys(`test:${randomUUID()}:`);

  /** Every key under the prefix with its value, whatever its type. */
  async function dump(c: Redis, keys: RedisKeys): Promise<string> {
    const prefix = keys.record(APP).slice(0, keys.record(APP).indexOf('{'));
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await c.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of batch) {
        const type = await c.type(key);
        if (type === 'string') out.push(`${key} = ${await c.get(key)}`);
        else if (type === 'hash') out.push(`${key} = ${JSON.stringify(await c.hgetall(key))}`);
        else out.push(`${key} (${type})`);
      }
    } while (cursor !== '0');
    return out.join('\n');
  }

  /** A raw subscriber that keeps every message published on the events channel. */
  async function capture(keys: RedisKeys): Promise<string[]> {
    const sub = await client(`enc-sub-${randomUUID()}`);
    const messages: string[] = [];
    sub.on('message', (_ch: string, m: string) => messages.push(m));
    await sub.subscribe(keys.events());
    return messages;
  }

  it('stores no plaintext token or session key anywhere, and reads them back', async () => {
    const keys = freshKeys();
    const r = await replica(keys, onlyK1());
    const messages = await capture(keys);
    const heard: TokenRecord[] = [];
    r.store.subscribe((t) => heard.push(t));
    const a = token(1);
    const b = token(2);
    await r.write(a);
    await r.write(b);
    const sessionKey = `sk-${randomUUID()}`;
    const handle = randomUUID();
    await r.sessions.putSession({
      handle,
      appId: APP,
      openid: 'openid-1',
      sessionKey: new Secret(sessionKey),
      expiresAt: Date.now() + 60_000,
    });
    await until('two pub/sub messages', () => messages.length >= 2 && heard.length >= 2);

    const everything = `${await dump(r.client, keys)}\n${messages.join('\n')}`;
    expect(everything).toContain('enc:v2:k1:');
    expect(everything).toContain(keys.session(handle));
    expect(everything).toContain(keys.record(APP));
    for (const secret of [a.value, b.value, sessionKey]) {
      expect(everything).not.toContain(secret);
    }

    const stored = await r.store.read(APP);
    expect(stored?.current).toEqual(b);
    expect(stored?.previous).toEqual(a);
    const session = await r.sessions.getSession(handle);
    expect(session?.sessionKey.reveal()).toBe(sessionKey);
    expect(session?.openid).toBe('openid-1');
    expect(heard.map((t) => t.value)).toEqual([a.value, b.value]);
  });

  it('keeps the previous token when the same token is written under a new generation', async () => {
    const keys = freshKeys();
    const r = await replica(keys, onlyK1());
    const a = token(1);
    const b = token(2);
    await r.write(a);
    await r.write(b);
    await r.write({ ...b, generation: 3 });
    const stored = await r.store.read(APP);
    expect(stored?.current).toEqual({ ...b, generation: 3 });
    expect(stored?.previous).toEqual(a);
  });

  it('opens values of k1 after rotating to k2, and seals new writes under k2', async () => {
    const keys = freshKeys();
    const before = await replica(keys, onlyK1());
    const a = token(1);
    const sessionKey = `sk-${randomUUID()}`;
    const handle = randomUUID();
    await before.write(a);
    await before.sessions.putSession({
      handle,
      appId: APP,
      openid: 'openid-2',
      sessionKey: new Secret(sessionKey),
      expiresAt: Date.now() + 60_000,
    });

    const after = await replica(keys, rotatedToK2());
    expect((await after.store.read(APP))?.current).toEqual(a);
    expect((await after.sessions.getSession(handle))?.sessionKey.reveal()).toBe(sessionKey);

    const b = token(2);
    await after.write(b);
    const raw = await after.client.hgetall(keys.record(APP));
    expect(raw.token).toMatch(/^enc:v2:k2:/);
    expect(raw.prev_token).toMatch(/^enc:v2:k1:/);
    const stored = await after.store.read(APP);
    expect(stored?.current).toEqual(b);
    expect(stored?.previous).toEqual(a);
  });

  it('refuses a value sealed under a removed key with the typed error', async () => {
    const keys = freshKeys();
    const before = await replica(keys, onlyK1());
    const a = token(1);
    const handle = randomUUID();
    await before.write(a);
    await before.sessions.putSession({
      handle,
      appId: APP,
      openid: 'openid-3',
      sessionKey: new Secret(`sk-${randomUUID()}`),
      expiresAt: Date.now() + 60_000,
    });
    const withoutK1 = await replica(keys, new AtRestCipher(new Map([['k2', K2]]), 'k2'));
    const tokenErr = await withoutK1.store.read(APP).catch((e: unknown) => e);
    expect(tokenErr).toBeInstanceOf(AtRestDecryptError);
    expect((tokenErr as AtRestDecryptError).keyId).toBe('k1');
    expect((tokenErr as Error).message).not.toContain(a.value);
    const sessionErr = await withoutK1.sessions.getSession(handle).catch((e: unknown) => e);
    expect(sessionErr).toBeInstanceOf(AtRestDecryptError);
    // What a caller sees: FAILED_PRECONDITION naming the key id and the config key to fix.
    for (const err of [tokenErr, sessionErr]) {
      expect((err as AtRestDecryptError).reason).toBe('unknown_key');
      const s = toStatus(err);
      expect(s.code).toBe(status.FAILED_PRECONDITION);
      expect(s.details).toContain('"k1"');
      expect(s.details).toContain('redis.encryption.keys');
      expect(s.details).not.toContain(a.value);
    }
  });

  it('issue 11: a record whose ciphertext was altered in Redis reads as absent (dropped, never served); the cipher error maps to DATA_LOSS without ciphertext', async () => {
    const keys = freshKeys();
    const r = await replica(keys, onlyK1());
    await r.write(token(1));
    const sealed = await r.client.hget(keys.record(APP), 'token');
    const [prefix, ct] = [sealed!.slice(0, sealed!.lastIndexOf(':') + 1), sealed!.split(':')[5]!];
    const altered = Buffer.from(ct, 'base64').map((b) => b ^ 1);
    await r.client.hset(
      keys.record(APP),
      'token',
      prefix + Buffer.from(altered).toString('base64'),
    );
    expect(await r.store.read(APP)).toBeNull();
    const err = (() => {
      try {
        return onlyK1().open(prefix + Buffer.from(altered).toString('base64'), 'ctx');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(AtRestDecryptError);
    expect((err as AtRestDecryptError).reason).toBe('bad_value');
    const s = toStatus(err);
    expect(s.code).toBe(status.DATA_LOSS);
    expect(s.details).toMatch(/^stored record failed authentication/);
    expect(s.details).not.toContain(ct);
  });

  it('issue 11: refuses plaintext records once encryption is on (read as absent), and the next write replaces them', async () => {
    const keys = freshKeys();
    const plain = await replica(keys, new NoCipher());
    const a = token(1);
    await plain.write(a);
    const encrypted = await replica(keys, onlyK1());
    expect(await encrypted.store.read(APP)).toBeNull();
    const b = token(2);
    await encrypted.write(b);
    const stored = await encrypted.store.read(APP);
    expect(stored?.current).toEqual(b);
    expect(stored?.previous).toBeUndefined();
  });

  it('round-trips with encryption off, previous-token handling unchanged', async () => {
    const keys = freshKeys();
    const r = await replica(keys, new NoCipher());
    const a = token(1);
    const b = token(2);
    await r.write(a);
    await r.write(b);
    await r.write({ ...b, generation: 3 });
    const raw = await r.client.hgetall(keys.record(APP));
    expect(raw.token).toBe(b.value);
    const stored = await r.store.read(APP);
    expect(stored?.current).toEqual({ ...b, generation: 3 });
    expect(stored?.previous).toEqual(a);
    const handle = randomUUID();
    await r.sessions.putSession({
      handle,
      appId: APP,
      openid: 'openid-4',
      sessionKey: new Secret('plain-sk'),
      expiresAt: Date.now() + 60_000,
    });
    expect((await r.sessions.getSession(handle))?.sessionKey.reveal()).toBe('plain-sk');
  });
});
