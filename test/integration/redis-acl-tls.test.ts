import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { ConfigError } from '../../src/config/config-error.js';
import { loadConfigFile, parseConfig } from '../../src/config/load-config.js';
import { createRedisBackend, type Backend } from '../../src/redis/redis-backend.js';
import { createRedisClient, waitReady } from '../../src/redis/redis-clients.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { systemClock } from '../../src/shared/clock.js';
import { createLogger } from '../../src/shared/logger.js';
import type { TokenRecord } from '../../src/token/token.js';
import { FencedWriteError } from '../../src/token/token-store.js';
import { createTestCa, type IssuedCert, type TestCa } from '../support/certs.js';
import { startRedis, type RedisNode } from '../support/redis-server.js';
import { until } from '../support/until.js';

/**
 * Redis AUTH (ACL users, requirepass) and TLS (rediss://, private CA, mutual TLS) through the
 * real composition: a config parsed or loaded like `wxtoken serve` does, then
 * createRedisBackend, whose command clients, pub/sub subscribers and Redlock locks must all
 * authenticate and speak TLS. A node that refuses us is a ConfigError at start, never a hang.
 */

const APP = 'wxacltls00000001';
const SECRET = 'f00dfeedcafebabe0123456789abcdef';
const PASSWORD = `pw-${randomUUID()}`;
const ACL_USERS = ['user default off', `user wx on >${PASSWORD} ~* &* +@all`];
const LOCK_TTL_MS = 10_000;
const ENV = { WX_SECRET: SECRET };

/** Every line the backends logged, to check that no password ever reaches a log. */
const logged: string[] = [];
const log = createLogger({
  level: 'trace',
  destination: new Writable({
    write(chunk: Buffer, _enc, done) {
      logged.push(chunk.toString());
      done();
    },
  }),
});

const withCredentials = (url: string, user: string, password: string): string =>
  url.replace('://', `://${encodeURIComponent(user)}:${encodeURIComponent(password)}@`);

function config(redis: Record<string, unknown>): Config {
  return parseConfig(
    {
      redis: { keyPrefix: `test:${randomUUID()}:`, ...redis },
      apps: [{ appId: APP, mode: 'classic', secretEnv: 'WX_SECRET' }],
    },
    { env: ENV, readFile: (p) => readFileSync(p, 'utf8'), warn: () => undefined },
  );
}

function token(generation: number): TokenRecord {
  const now = Date.now();
  const accessToken = `tok-${generation}-${randomUUID()}`;
  return { appId: APP, value: accessToken, expiresAt: now + 7_200_000, fetchedAt: now, generation };
}

const backends: Backend[] = [];
const probes: Redis[] = [];

async function backend(cfg: Config): Promise<Backend> {
  const b = await createRedisBackend(cfg, systemClock, log);
  backends.push(b);
  return b;
}

/** A client like the backend's, for checks the ports do not offer (PUBSUB, ACL WHOAMI). */
async function probe(cfg: Config): Promise<Redis> {
  const c = createRedisClient(cfg.redis.urls[0]!, {
    commandTimeoutMs: 2_000,
    connectionName: 'test-probe',
    tls: cfg.redis.tls,
  });
  probes.push(c);
  expect(await waitReady(c, 5_000)).toBe(true);
  return c;
}

afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.store.close()));
  await Promise.all(probes.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
});

afterAll(() => {
  const all = logged.join('');
  expect(all).not.toContain(PASSWORD);
  expect(all).not.toContain(encodeURIComponent(PASSWORD));
});

/**
 * Two replicas of one config: A holds the refresh lock and writes, B must see the token
 * through its pub/sub subscriber (a duplicate() of its command client), and both contend for
 * the leader lease. Each step fails if any of the three kinds of connection did not
 * authenticate or did not speak TLS.
 */
async function exerciseBackend(cfg: Config): Promise<void> {
  const a = await backend(cfg);
  const b = await backend(cfg);
  const seenByB: TokenRecord[] = [];
  b.store.subscribe((t) => seenByB.push(t));
  const events = new RedisKeys(cfg.redis.keyPrefix).events();
  const p = await probe(cfg);
  await until('both replicas subscribed', async () => {
    const reply = (await p.call('PUBSUB', 'NUMSUB', events)) as [string, number];
    return Number(reply[1]) >= 2;
  });

  // Invariant 2: only the lock holder writes, with a growing generation.
  const lock = await a.locks.tryAcquire(APP, LOCK_TTL_MS);
  expect(lock).not.toBeNull();
  expect(await b.locks.tryAcquire(APP, LOCK_TTL_MS)).toBeNull();
  const first = token(1);
  await a.store.write(first, lock!);
  expect((await b.store.read(APP))?.current).toEqual(first);
  await expect(a.store.write(token(1), lock!)).rejects.toBeInstanceOf(FencedWriteError);
  await a.locks.release(lock!);
  await expect(a.store.write(token(2), lock!)).rejects.toMatchObject({ reason: 'lock_not_held' });

  // Invariant 5: the token reached the other replica through pub/sub.
  await until('B saw the token by pub/sub', () => seenByB.some((t) => t.generation === 1));
  expect(seenByB.find((t) => t.generation === 1)?.value).toBe(first.value);

  // Invariant 7: one leader lease, extended by its holder, free again once released.
  const lease = await a.lease.tryAcquire(LOCK_TTL_MS);
  expect(lease).not.toBeNull();
  expect(await b.lease.tryAcquire(LOCK_TTL_MS)).toBeNull();
  const extended = await a.lease.extend(lease!, LOCK_TTL_MS);
  expect(extended).not.toBeNull();
  await a.lease.release(extended!);
  const next = await b.lease.tryAcquire(LOCK_TTL_MS);
  expect(next).not.toBeNull();
  await b.lease.release(next!);
}

/** The ConfigError createRedisBackend must end with (the test fails if it resolves). */
async function refusedAtStart(cfg: Config): Promise<ConfigError> {
  const err = await backend(cfg).then(
    () => new Error('createRedisBackend resolved; expected a ConfigError'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  const configError = err as ConfigError;
  expect(configError.key).toBe('redis.urls[0]');
  // Invariant 8 (secrets stay in), for the Redis password: not in the message, data or dump.
  for (const text of [configError.message, JSON.stringify(configError.issues), inspect(err)]) {
    expect(text).not.toContain(PASSWORD);
  }
  return configError;
}

describe('Redis ACL user (user default off; user wx)', () => {
  let node: RedisNode;
  beforeAll(async () => {
    node = await startRedis({ aclUsers: ACL_USERS });
  });
  afterAll(() => node?.stop());

  it('invariants 2, 5, 7 over redis://wx:password@: store, pub/sub, refresh lock and lease all authenticate', async () => {
    const cfg = config({ urls: [withCredentials(node.url, 'wx', PASSWORD)] });
    await exerciseBackend(cfg);
    expect(await (await probe(cfg)).call('ACL', 'WHOAMI')).toBe('wx');
  });

  it('a wrong password is refused at start with a ConfigError naming redis.urls[0] (not a hang)', async () => {
    const err = await refusedAtStart(
      config({ urls: [withCredentials(node.url, 'wx', `${PASSWORD}-wrong`)] }),
    );
    expect(err.message).toMatch(/^config: redis\.urls\[0\]: user "wx" at 127\.0\.0\.1:\d+: /);
    expect(err.message).toContain('WRONGPASS');
  });

  it('no credentials (the default user is off) is refused with NOAUTH', async () => {
    const err = await refusedAtStart(config({ urls: [node.url] }));
    expect(err.message).toContain('NOAUTH');
  });

  it('one refusing node among three fails the start: a misconfigured node is not a down node', async () => {
    const good = withCredentials(node.url, 'wx', PASSWORD);
    const err = await refusedAtStart(
      config({ urls: [withCredentials(node.url, 'wx', 'nope'), good, good] }),
    );
    expect(err.issues.map((i) => i.key)).toEqual(['redis.urls[0]']);
  });
});

describe('Redis requirepass (redis://:password@)', () => {
  let node: RedisNode;
  beforeAll(async () => {
    node = await startRedis({ requirepass: PASSWORD });
  });
  afterAll(() => node?.stop());

  it('invariants 2, 5, 7 with the default user password', async () => {
    await exerciseBackend(config({ urls: [node.url.replace('://', `://:${PASSWORD}@`)] }));
  });

  it('a wrong password is refused', async () => {
    const err = await refusedAtStart(config({ urls: [node.url.replace('://', '://:nope@')] }));
    expect(err.message).toContain('WRONGPASS');
  });
});

describe('Redis over TLS only (--port 0 --tls-port P)', () => {
  let ca: TestCa;
  let server: IssuedCert;
  let node: RedisNode;

  beforeAll(async () => {
    ca = createTestCa();
    server = ca.issueServer('redis-tls');
    // Fails loudly (never skips) when this redis-server was built without TLS.
    node = await startRedis({
      tls: {
        certFile: server.certFile,
        keyFile: server.keyFile,
        caFile: ca.caFile,
        authClients: 'no',
      },
    });
  });
  afterAll(() => node?.stop());

  it('invariants 2, 5, 7 over rediss:// with redis.tls.caFile from a YAML config (path relative to the file)', async () => {
    expect(node.url).toMatch(/^rediss:\/\//);
    const path = join(ca.dir, 'wxtoken.yaml');
    writeFileSync(
      path,
      [
        'redis:',
        `  urls: ["${node.url}"]`,
        `  keyPrefix: "test:${randomUUID()}:"`,
        '  tls:',
        '    caFile: ca.crt',
        'apps:',
        `  - { appId: ${APP}, mode: classic, secretEnv: WX_SECRET }`,
      ].join('\n'),
    );
    const cfg = loadConfigFile(path, { env: ENV, warn: () => undefined });
    expect(cfg.redis.tls?.caFile).toBe(ca.caFile);
    await exerciseBackend(cfg);
  });

  it('a client without the CA (Node default trust store) is refused: certificate not trusted', async () => {
    const err = await refusedAtStart(config({ urls: [node.url] }));
    expect(err.message).toContain('TLS certificate is not trusted');
    expect(err.message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN/);
  });

  it('a client trusting another CA is refused', async () => {
    const other = createTestCa();
    const err = await refusedAtStart(config({ urls: [node.url], tls: { caFile: other.caFile } }));
    expect(err.message).toContain('not trusted');
  });

  it('redis.tls.serverName is checked against the certificate', async () => {
    const err = await refusedAtStart(
      config({ urls: [node.url], tls: { caFile: ca.caFile, serverName: 'redis.elsewhere.test' } }),
    );
    expect(err.message).toContain('does not name this host');
    await exerciseBackend(
      config({ urls: [node.url], tls: { caFile: ca.caFile, serverName: 'localhost' } }),
    );
  });
});

describe('Redis with mutual TLS and an ACL user (--tls-auth-clients yes)', () => {
  let ca: TestCa;
  let client: IssuedCert;
  let node: RedisNode;

  beforeAll(async () => {
    ca = createTestCa();
    const server = ca.issueServer('redis-mtls');
    client = ca.issueClient('wxtoken');
    node = await startRedis({
      aclUsers: ACL_USERS,
      tls: {
        certFile: server.certFile,
        keyFile: server.keyFile,
        caFile: ca.caFile,
        authClients: 'yes',
      },
    });
  });
  afterAll(() => node?.stop());

  it('invariants 2, 5, 7 with a client certificate (redis.tls.certFile/keyFile) and the ACL user', async () => {
    await exerciseBackend(
      config({
        urls: [withCredentials(node.url, 'wx', PASSWORD)],
        tls: { caFile: ca.caFile, certFile: client.certFile, keyFile: client.keyFile },
      }),
    );
  });

  /**
   * TLS 1.3 reports a missing client certificate after the client's handshake is done: the
   * server's alert races our first command, and when the server's reset wins the kernel drops
   * the alert (the client sees ECONNRESET). So a start either ends with the ConfigError (alert
   * read) or with the node reported not ready; either way nothing is served from it.
   */
  it('without a client certificate the node refuses us (ConfigError when the TLS alert arrives)', async () => {
    const cfg = config({
      urls: [withCredentials(node.url, 'wx', PASSWORD)],
      tls: { caFile: ca.caFile },
    });
    const outcome = await createRedisBackend(cfg, systemClock, log).then(
      (b) => b,
      (e: unknown) => e,
    );
    if (outcome instanceof Error) {
      expect(outcome).toBeInstanceOf(ConfigError);
      expect((outcome as ConfigError).key).toBe('redis.urls[0]');
      expect(outcome.message).toContain(
        'TLS handshake failed (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED)',
      );
    } else {
      const b = outcome as Backend;
      backends.push(b);
      expect(b.store.health()).toBe('down');
      await expect(b.store.read(APP)).rejects.toThrow();
      expect(await b.locks.tryAcquire(APP, LOCK_TTL_MS).catch(() => null)).toBeNull();
    }
  });
});
