import { randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryComponentStore, type ComponentStore } from '../../src/component/component-store.js';
import { AtRestCipher } from '../../src/redis/at-rest-cipher.js';
import { RedisComponentStore } from '../../src/redis/redis-component-store.js';
import { createRedisClient, waitReady } from '../../src/redis/redis-clients.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { systemClock } from '../../src/shared/clock.js';
import { StoreUnavailableError } from '../../src/shared/errors.js';
import { startRedis, type RedisNode } from '../support/redis-server.js';

/**
 * One contract for every component store (embedded memory, Redis on one node, Redis on three
 * masters): the verify ticket is newest-wins by CreateTime, an authorizer's refresh token is
 * replaced only while it is present, a removal is remembered (a tombstone) so a node that
 * missed it cannot bring the authorizer back, and refresh tokens are sealed at rest.
 */
const C = 'wxcontractcomp01';

let nodes: RedisNode[] = [];
const clients: Redis[] = [];

beforeAll(async () => {
  nodes = await Promise.all([startRedis(), startRedis(), startRedis()]);
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all(nodes.map((n) => n.stop()));
});

const cipher = new AtRestCipher(new Map([['k1', randomBytes(32)]]), 'k1', false);

async function redisStore(
  count: number,
): Promise<{ store: RedisComponentStore; prefix: string; used: Redis[] }> {
  const used: Redis[] = [];
  for (const n of nodes.slice(0, count)) {
    const c = createRedisClient(n.url, { commandTimeoutMs: 500, connectionName: 'contract' });
    await waitReady(c, 5_000);
    clients.push(c);
    used.push(c);
  }
  const prefix = `cc:${randomUUID()}:`;
  return {
    store: new RedisComponentStore(used, new RedisKeys(prefix), systemClock, cipher),
    prefix,
    used,
  };
}

const subjects: [string, () => Promise<ComponentStore>][] = [
  ['memory', () => Promise.resolve(new MemoryComponentStore())],
  ['redis, 1 node', async () => (await redisStore(1)).store],
  ['redis, 3 masters', async () => (await redisStore(3)).store],
];

describe.each(subjects)('component store contract: %s', (_name, make) => {
  it('verify ticket: newest CreateTime wins, an older push never replaces it', async () => {
    const s = await make();
    expect(await s.verifyTicket(C)).toBeUndefined();
    expect(await s.offerVerifyTicket(C, { value: 'ticket-2', createTime: 200 })).toBe(true);
    expect(await s.offerVerifyTicket(C, { value: 'ticket-1', createTime: 100 })).toBe(false);
    expect(await s.offerVerifyTicket(C, { value: 'ticket-2b', createTime: 200 })).toBe(false);
    expect(await s.verifyTicket(C)).toEqual({ value: 'ticket-2', createTime: 200 });
    expect(await s.offerVerifyTicket(C, { value: 'ticket-3', createTime: 300 })).toBe(true);
    expect((await s.verifyTicket(C))?.value).toBe('ticket-3');
  });

  it('authorizers: join, rotate the refresh token, leave; membership version moves on join and leave only', async () => {
    const s = await make();
    const v0 = await s.membershipVersion(C);
    await s.putAuthorizer(C, { authorizerAppId: 'wxa1', authorizedAt: 1000 }, 'rt-1');
    await s.putAuthorizer(C, { authorizerAppId: 'wxa2', authorizedAt: 2000 }, 'rt-2');
    const v1 = await s.membershipVersion(C);
    expect(v1).not.toBe(v0);
    await s.setRefreshToken(C, 'wxa1', 'rt-1b');
    expect(await s.refreshToken(C, 'wxa1')).toBe('rt-1b');
    expect(await s.membershipVersion(C)).toBe(v1);
    await s.removeAuthorizer(C, 'wxa2');
    expect(await s.membershipVersion(C)).not.toBe(v1);
    expect(await s.refreshToken(C, 'wxa2')).toBeUndefined();
    // A late rotation of a removed authorizer does not bring it back.
    await s.setRefreshToken(C, 'wxa2', 'rt-2b');
    expect(await s.refreshToken(C, 'wxa2')).toBeUndefined();
    const list = await s.loadAuthorizers(C);
    expect(list.present).toEqual([{ authorizerAppId: 'wxa1', authorizedAt: 1000 }]);
    expect([...list.removed]).toEqual(['wxa2']);
    // Re-authorization after removal.
    await s.putAuthorizer(C, { authorizerAppId: 'wxa2', authorizedAt: 3000 }, 'rt-2c');
    expect(await s.refreshToken(C, 'wxa2')).toBe('rt-2c');
    expect((await s.loadAuthorizers(C)).removed.size).toBe(0);
    // Another platform's authorizers are separate.
    expect((await s.loadAuthorizers('wxothercomp')).present).toEqual([]);
  });

  it('keeps any refresh token and authorization time exactly, through a rotation', async () => {
    const s = await make();
    // A separator, a newline, non-ASCII and digits at the front: nothing in a token may
    // be read as part of the time it is kept with.
    const odd = '12:rt:with:colons\nand 换行';
    const at = 1_796_585_729_981;
    await s.putAuthorizer(C, { authorizerAppId: 'wxodd', authorizedAt: at }, odd);
    expect(await s.refreshToken(C, 'wxodd')).toBe(odd);
    await s.setRefreshToken(C, 'wxodd', `${odd}-2`);
    expect(await s.refreshToken(C, 'wxodd')).toBe(`${odd}-2`);
    expect((await s.loadAuthorizers(C)).present).toEqual([
      { authorizerAppId: 'wxodd', authorizedAt: at },
    ]);
  });

  it('loads 2,500 authorizers in pages', async () => {
    const s = await make();
    for (let i = 0; i < 2_500; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          s.putAuthorizer(
            C,
            { authorizerAppId: `wxp${i + j}`, authorizedAt: i + j },
            `rt-${i + j}`,
          ),
        ),
      );
    }
    const list = await s.loadAuthorizers(C);
    expect(list.present).toHaveLength(2_500);
    expect(await s.refreshToken(C, 'wxp2499')).toBe('rt-2499');
  });
});

describe('Redis component store: at rest and across masters', () => {
  it('refresh tokens and verify tickets are sealed, bound to their place (a copied value does not open)', async () => {
    const { store, prefix, used } = await redisStore(1);
    await store.putAuthorizer(
      C,
      { authorizerAppId: 'wxs1', authorizedAt: 1 },
      'secret-refresh-token',
    );
    await store.putAuthorizer(
      C,
      { authorizerAppId: 'wxs2', authorizedAt: 1 },
      'other-refresh-token',
    );
    await store.offerVerifyTicket(C, { value: 'secret-verify-ticket', createTime: 5 });
    const keys = new RedisKeys(prefix);
    const raw = await used[0]!.hgetall(keys.authorizers(C));
    expect(JSON.stringify(raw)).not.toContain('secret-refresh-token');
    expect(JSON.stringify(await used[0]!.hgetall(keys.verifyTicket(C)))).not.toContain(
      'secret-verify-ticket',
    );
    // An attacker with write access moves wxs2's sealed token onto wxs1: it no longer opens.
    await used[0]!.hset(keys.authorizers(C), 'wxs1', raw.wxs2!);
    await expect(store.refreshToken(C, 'wxs1')).rejects.toThrow();
  });

  it('3 masters: one node that lost everything changes nothing; two down is unavailable, not a wrong answer', async () => {
    const { store, used } = await redisStore(3);
    await store.putAuthorizer(C, { authorizerAppId: 'wxq1', authorizedAt: 1 }, 'rt-q1');
    await store.removeAuthorizer(C, 'wxq1');
    await store.putAuthorizer(C, { authorizerAppId: 'wxq2', authorizedAt: 1 }, 'rt-q2');
    await used[0]!.flushall();
    const list = await store.loadAuthorizers(C);
    expect(list.present.map((e) => e.authorizerAppId)).toEqual(['wxq2']);
    expect(list.removed.has('wxq1')).toBe(true);
    expect(await store.refreshToken(C, 'wxq2')).toBe('rt-q2');
    used[1]!.disconnect();
    used[2]!.disconnect();
    await expect(store.refreshToken(C, 'wxq2')).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
