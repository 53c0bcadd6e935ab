import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load-config.js';
import { createRedisBackend, type Backend } from '../../src/redis/redis-backend.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { systemClock } from '../../src/shared/clock.js';
import { createLogger } from '../../src/shared/logger.js';
import { Secret } from '../../src/shared/secret.js';
import type { TokenRecord } from '../../src/token/token.js';
import { startRedisCluster, type RedisClusterSetup } from '../support/redis-cluster.js';
import { until, waitFor } from '../support/until.js';

/**
 * Issue 16 item 2: the Redis backend on a Redis Cluster (3 masters + 3 replicas, real
 * processes). Apps spread over slots; the fenced write (record + lock: one slot by hash tag),
 * pub/sub, the lease and the audit trail work; when a master is SIGKILLed its replica takes
 * over and the same operations work again.
 */
const APPS = Array.from({ length: 6 }, (_, i) => `wxrcluster00000${i}`);
const LOCK_TTL_MS = 10_000;
const log = createLogger({ level: 'silent' });

let setup: RedisClusterSetup;
let config: Config;
let keys: RedisKeys;
const backends: Backend[] = [];

function token(appId: string, generation: number): TokenRecord {
  const now = Date.now();
  const value = `tok-${generation}-${randomUUID()}`;
  return { appId, value, expiresAt: now + 7_200_000, fetchedAt: now, generation };
}

async function backend(): Promise<Backend> {
  const b = await createRedisBackend(config, systemClock, log, undefined, (id) =>
    APPS.includes(id),
  );
  backends.push(b);
  return b;
}

/** Retries `op` until the store answers again (it fails fast during a takeover). */
function once<T>(what: string, op: () => Promise<T | null>): Promise<T> {
  return waitFor(what, async () => (await op().catch(() => null)) ?? undefined, 20_000, 25);
}

async function writeUnderLock(b: Backend, t: TokenRecord): Promise<void> {
  const lock = await once(`the refresh lock of ${t.appId}`, () =>
    b.locks.tryAcquire(t.appId, LOCK_TTL_MS),
  );
  try {
    await b.store.write(t, lock);
  } finally {
    await b.locks.release(lock);
  }
}

beforeAll(async () => {
  setup = await startRedisCluster();
  const prefix = `test:${randomUUID()}:`;
  keys = new RedisKeys(prefix);
  config = parseConfig(
    {
      redis: { cluster: setup.seeds.slice(0, 2), keyPrefix: prefix, commandTimeoutMs: 500 },
      apps: APPS.map((appId) => ({ appId, mode: 'classic', secretEnv: 'WX_SECRET' })),
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

describe('Redis Cluster (issue 16)', () => {
  it('apps on every master: fenced writes, pub/sub, lease and audit; again after a master fails over', async () => {
    const masters = new Set(await Promise.all(APPS.map((a) => setup.masterOf(keys.record(a)))));
    expect(masters.size, 'the apps spread over the 3 masters').toBe(3);
    const a = await backend();
    const b = await backend();
    expect(a.topology).toBe('cluster');
    const seenByB: TokenRecord[] = [];
    b.store.subscribe((t) => seenByB.push(t));
    // Subscribed once a message reaches B (a publish before the SUBSCRIBE is lost: retried).
    let probes = 0;
    await until('B subscribed', async () => {
      await writeUnderLock(a, token(APPS[0]!, ++probes));
      return seenByB.length > 0;
    });
    for (const appId of APPS) await writeUnderLock(a, token(appId, 10_000_000));
    for (const appId of APPS) {
      expect((await b.store.read(appId))?.current.generation).toBe(10_000_000);
    }
    await until('B saw every app by pub/sub', () =>
      APPS.every((id) => seenByB.some((t) => t.appId === id && t.generation === 10_000_000)),
    );
    const lease = (await a.lease.tryAcquire(LOCK_TTL_MS))!;
    expect(lease).not.toBeNull();
    expect(await b.lease.tryAcquire(LOCK_TTL_MS)).toBeNull();
    await a.lease.release(lease);
    // An app whose audit index is on another master than the trail (see the session case).
    const trailMaster = await setup.masterOf(keys.audit());
    const audited = await (async () => {
      for (const id of APPS)
        if ((await setup.masterOf(keys.appAudit(id))) !== trailMaster) return id;
      throw new Error('every app on the trail master');
    })();
    const event = {
      id: randomUUID(),
      at: Date.now(),
      caller: 'test',
      appId: audited,
      action: 'force_refresh' as const,
      reason: 'cluster test',
      result: 'OK',
      detail: '',
      replica: 'test',
    };
    await a.audit.append(event);
    expect((await b.audit.list({ appId: audited, limit: 10 })).map((e) => e.id)).toContain(
      event.id,
    );

    const victim = APPS[2]!;
    const { oldPort, newPort } = await setup.killMasterOf(keys.record(victim));
    expect(newPort).not.toBe(oldPort);
    await writeUnderLock(a, token(victim, 10_000_001));
    expect(
      (await once('a read after the takeover', () => b.store.read(victim)))?.current.generation,
    ).toBe(10_000_001);
    await until('B saw the write after the takeover by pub/sub', () =>
      seenByB.some((t) => t.appId === victim && t.generation === 10_000_001),
    );
    for (const appId of APPS) await writeUnderLock(a, token(appId, 10_000_002));
  }, 90_000);

  it('a slot moved to another master under load (ASK, then MOVED): every write and read succeeds', async () => {
    const a = await backend();
    const b = await backend();
    const app = APPS[4]!;
    let generation = 20_000_000;
    let stop = false;
    const failures: string[] = [];
    let writes = 0;
    // Writes under the lock and reads from the other replica, back to back, during the move.
    const load = (async () => {
      while (!stop) {
        try {
          await writeUnderLock(a, token(app, ++generation));
          const read = await b.store.read(app);
          if ((read?.current.generation ?? 0) < generation)
            failures.push(`read ${read?.current.generation}`);
          writes++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    })();
    await until('some writes before the move', () => writes >= 5);
    const before = writes;
    const moveStarted = Date.now();
    const moved = await setup.moveSlotOf(keys.record(app));
    console.log(
      `[cluster slot move] :${moved.fromPort} → :${moved.toPort}, ${moved.keysMoved} keys in ${
        Date.now() - moveStarted
      } ms, ${writes - before} write+read rounds during the move`,
    );
    await until('writes after the move', () => writes >= before + 20);
    stop = true;
    await load;
    expect(moved.keysMoved, 'the record, lock and others of the app moved').toBeGreaterThan(0);
    expect(await setup.masterOf(keys.record(app))).toBe(moved.toPort);
    expect(failures).toEqual([]);
    expect((await a.store.read(app))?.current.generation).toBe(generation);
  }, 60_000);

  it('login sessions, the forced-fetch budget and third-party platform records work across slots', async () => {
    const a = await backend();
    const b = await backend();
    // A session and its code's exchange record live in different slots: no cross-slot pipeline.
    // A handle whose session key is on another master than the record (ioredis accepts a
    // pipeline whose keys share a node; across masters it refuses it).
    const exchangeMaster = await setup.masterOf(keys.codeExchange(APPS[0]!, 'code-hash-1'));
    let handle = `h-${randomUUID()}`;
    while ((await setup.masterOf(keys.session(handle))) === exchangeMaster) {
      handle = `h-${randomUUID()}`;
    }
    const session = {
      handle,
      appId: APPS[0]!,
      openid: 'o-cluster',
      sessionKey: new Secret('session-key-cluster'),
      expiresAt: Date.now() + 60_000,
    };
    await a.sessions.putSessionAndExchange(session, 'code-hash-1', 60_000, 'test');
    expect((await b.sessions.getSession(session.handle))?.openid).toBe('o-cluster');
    expect(await b.sessions.getExchange(APPS[0]!, 'code-hash-1')).toMatchObject({
      ok: { handle: session.handle },
    });
    // The forced-fetch budget script (one key per app).
    await a.forceBudget!.check(APPS[1]!, 'classic');
    await a.forceBudget!.consume(APPS[1]!, 'classic');
    // A platform's verify ticket and authorizers ({component:ID} keys, MULTI in one slot).
    const platform = 'wxcomponentclust1';
    expect(await a.components.offerVerifyTicket(platform, { value: 'vt-1', createTime: 100 })).toBe(
      true,
    );
    expect((await b.components.verifyTicket(platform))?.value).toBe('vt-1');
    await a.components.putAuthorizer(
      platform,
      { authorizerAppId: 'wxauthorizer00001', authorizedAt: Date.now() },
      'refresh-1',
    );
    expect(await b.components.refreshToken(platform, 'wxauthorizer00001')).toBe('refresh-1');
    expect(
      (await b.components.loadAuthorizers(platform)).present.map((e) => e.authorizerAppId),
    ).toEqual(['wxauthorizer00001']);
  });
});
