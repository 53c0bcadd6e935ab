import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionStore } from '../../src/redis/redis-session-store.js';
import { createRedisClient, waitReady } from '../../src/redis/redis-clients.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { systemClock } from '../../src/shared/clock.js';
import { Secret } from '../../src/shared/secret.js';
import { AtRestCipher } from '../../src/redis/at-rest-cipher.js';
import { startRedis, type RedisNode } from '../support/redis-server.js';

describe('session handles in Redis (issue 11 §4, invariant 8)', () => {
  let node: RedisNode;
  beforeAll(async () => {
    node = await startRedis();
  });
  afterAll(async () => {
    await node.stop();
  });

  it('a KEYS dump lists no live session handle, only its SHA-256; the session still reads back', async () => {
    const client = createRedisClient(node.url, {
      commandTimeoutMs: 1_000,
      connectionName: 'test-session-keys',
    });
    await waitReady(client, 5_000);
    try {
      const keys = new RedisKeys(`test:${randomUUID()}:`);
      const store = new RedisSessionStore([client], keys, systemClock);
      const handles = Array.from({ length: 5 }, () => randomBytes(24).toString('base64url'));
      for (const handle of handles) {
        await store.putSession({
          handle,
          appId: 'wxsession0000001',
          openid: 'o',
          sessionKey: new Secret('k'),
          expiresAt: Date.now() + 60_000,
        });
      }
      const dump = (await client.keys('*')).join('\n');
      const listed = handles.filter((h) => dump.includes(h));
      expect(listed).toHaveLength(0);
      for (const h of handles) {
        expect(dump).toContain(createHash('sha256').update(h).digest('hex'));
        expect((await store.getSession(h))?.openid).toBe('o');
      }
    } finally {
      await client.quit();
    }
  });

  it('a getPhoneNumber answer is stored sealed with redis.encryption (the number is not in Redis) and reads back', async () => {
    const client = createRedisClient(node.url, {
      commandTimeoutMs: 1_000,
      connectionName: 'test-phone-records',
    });
    await waitReady(client, 5_000);
    try {
      const keys = new RedisKeys(`test:${randomUUID()}:`);
      const cipher = new AtRestCipher(new Map([['k1', randomBytes(32)]]), 'k1', false);
      const store = new RedisSessionStore([client], keys, systemClock, cipher);
      const phone = {
        phoneNumber: '13912345678',
        purePhoneNumber: '13912345678',
        countryCode: '86',
      };
      await store.putExchange('wxsession0000001', 'hash1', { phone, caller: 'shop-a' }, 60_000);
      const raw = await client.get(keys.codeExchange('wxsession0000001', 'hash1'));
      expect(raw).not.toBeNull();
      expect(raw).not.toContain('13912345678');
      expect(await store.getExchange('wxsession0000001', 'hash1')).toEqual({
        phone,
        caller: 'shop-a',
      });
      // Bound to its key: the same sealed value under another code's key does not open.
      await client.set(keys.codeExchange('wxsession0000001', 'hash2'), raw!, 'PX', 60_000);
      await expect(store.getExchange('wxsession0000001', 'hash2')).rejects.toThrow();
    } finally {
      await client.quit();
    }
  });
});
