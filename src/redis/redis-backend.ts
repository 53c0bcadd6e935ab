import type { Config } from '../config/config.js';
import type { Lease } from '../leader/lease.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { RefreshLocks, TokenStore } from '../token/token-store.js';
import { AtRestCipher, NoCipher, type ValueCipher } from './at-rest-cipher.js';
import {
  createClusterClient,
  createRedisClient,
  createSentinelClient,
  waitNodesReady,
} from './redis-clients.js';
import type { Redis } from 'ioredis';
import { RedisKeys } from './redis-keys.js';
import { RedisTokenStore, type RecordTrust } from './redis-token-store.js';
import type { UntrustedReason } from '../token/record-trust.js';
import { createRedlockLocks } from './redlock-locks.js';
import { RedisSessionStore } from './redis-session-store.js';
import type { SessionStore } from '../login/session-store.js';
import type { AuditLog } from '../audit/audit-log.js';
import { RedisAuditLog } from './redis-audit-log.js';
import { RedisForceBudget } from './redis-force-budget.js';
import type { ForceBudgetPort } from '../refresher/force-budget.js';
import type { ComponentStore } from '../component/component-store.js';
import { RedisComponentStore } from './redis-component-store.js';

/**
 * How the store is laid out (issue 16): embedded in the process, one Redis node, 3/5
 * independent masters (Redlock quorum), a Sentinel-managed primary, or a Redis Cluster.
 */
export type StoreTopology = 'embedded' | 'standalone' | 'quorum' | 'sentinel' | 'cluster';

export interface Backend {
  readonly kind: 'embedded' | 'redis';
  readonly topology: StoreTopology;
  /**
   * The node commands go to now (`host:port`), where one node is primary (standalone,
   * sentinel); undefined while it is unknown (a promotion in progress) or for many masters.
   */
  primary(): string | undefined;
  readonly store: TokenStore;
  readonly locks: RefreshLocks;
  readonly lease: Lease;
  readonly sessions: SessionStore;
  readonly audit: AuditLog;
  /** The forced-fetch budget shared by the cluster; absent: each process keeps its own (embedded). */
  readonly forceBudget?: ForceBudgetPort;
  /** Third-party platforms' verify tickets and authorizers (refresh tokens). */
  readonly components: ComponentStore;
  /**
   * The records and refresh locks of another credential kind (`segment`, e.g. 'ticket:jsapi'),
   * trusted for the apps `isServed` accepts. `store` and `locks` above are the access_token's.
   */
  credential(segment: string, isServed: (appId: string) => boolean): Promise<CredentialBackend>;
}

export interface CredentialBackend {
  readonly store: TokenStore;
  readonly locks: RefreshLocks;
}

/** Redis for the store, the per-app locks and the leader lease: 1 node, or 3/5 masters with quorum. */
export async function createRedisBackend(
  config: Config,
  clock: Clock,
  log: Logger,
  /** Counts records and messages dropped as untrusted (a metric). */
  onUntrusted: (reason: UntrustedReason, source: 'read' | 'message') => void = () => undefined,
  /** The apps served now (configured and authorizers): records of any other app are dropped. */
  isServed: (appId: string) => boolean = (id) => config.apps.some((a) => a.appId === id),
): Promise<Backend> {
  const { clients, topology, keyOf } = openClients(config);
  // A node that is down at start must not stop the replica: quorum decides, not start order.
  // One that refuses our credentials or certificate is a ConfigError (exit 2): no retry fixes it.
  const ready = await waitNodesReady(clients, 3_000, keyOf);
  const up = ready.filter(Boolean).length;
  if (up < clients.length) {
    log.warn({ nodes: clients.length, ready: up }, 'some Redis nodes are not reachable at start');
  }
  const keys = new RedisKeys(config.redis.keyPrefix);
  const cipher = createCipher(config);
  const store = new RedisTokenStore(
    clients,
    keys,
    clock,
    cipher,
    recordTrust(isServed, log, onUntrusted),
  );
  await store.start();
  const { lease, locks } = createRedlockLocks(clients, keys, clock);
  const sessions = new RedisSessionStore(clients, keys, clock, cipher);
  const audit = new RedisAuditLog(clients, keys, config.audit.maxEvents, isServed);
  const forceBudget = new RedisForceBudget(clients, keys, config.refresh, clock);
  const credential = async (segment: string, served: (appId: string) => boolean) => {
    const kindKeys = keys.forCredential(segment);
    const trust = recordTrust(served, log, onUntrusted);
    const kindStore = new RedisTokenStore(clients, kindKeys, clock, cipher, trust, false);
    await kindStore.start();
    return { store: kindStore, locks: createRedlockLocks(clients, kindKeys, clock).locks };
  };
  const components = new RedisComponentStore(clients, keys, clock, cipher);
  return {
    kind: 'redis',
    topology,
    primary: () =>
      topology === 'quorum' || topology === 'cluster' ? undefined : addressOf(clients[0]!),
    store,
    locks,
    lease,
    sessions,
    audit,
    forceBudget,
    components,
    credential,
  };
}

/**
 * The clients of the configured topology. Sentinel is one client (a quorum of one): the
 * store, the locks and the lease all live on the current primary, and a promotion may lose
 * what was not yet replicated. The fenced write, the fetcher's and the leader's write-back
 * repair that.
 */
function openClients(config: Config): {
  clients: Redis[];
  topology: StoreTopology;
  keyOf: (i: number) => string;
} {
  const options = (i: number) => ({
    commandTimeoutMs: config.redis.commandTimeoutMs,
    connectionName: `wxtoken-${process.pid}-${i}`,
    tls: config.redis.tls,
  });
  if (config.redis.sentinels.length > 0) {
    return {
      clients: [createSentinelClient(config.redis, options(0))],
      topology: 'sentinel',
      keyOf: () => 'redis.sentinels',
    };
  }
  if (config.redis.cluster.length > 0) {
    return {
      clients: [createClusterClient(config.redis, options(0))],
      topology: 'cluster',
      keyOf: () => 'redis.cluster',
    };
  }
  const clients = config.redis.urls.map((url, i) => createRedisClient(url, options(i)));
  return {
    clients,
    topology: clients.length === 1 ? 'standalone' : 'quorum',
    keyOf: (i) => `redis.urls[${i}]`,
  };
}

/** `host:port` of the node a ready client is connected to; undefined when not connected. */
function addressOf(client: Redis): string | undefined {
  if (client.status !== 'ready') return undefined;
  const { remoteAddress, remotePort } = client.stream ?? {};
  if (remoteAddress === undefined || remotePort === undefined) return undefined;
  return remoteAddress.includes(':')
    ? `[${remoteAddress}]:${remotePort}`
    : `${remoteAddress}:${remotePort}`;
}

/** The at-rest cipher redis.encryption asks for; NoCipher when it is absent. */
export function createCipher(config: Config): ValueCipher {
  const enc = config.redis.encryption;
  if (!enc) return new NoCipher();
  const keys = new Map(enc.keys.map((k) => [k.id, Buffer.from(k.key.reveal(), 'base64')]));
  return new AtRestCipher(keys, enc.currentKeyId, enc.acceptUnboundValues);
}

/**
 * Records are checked against this replica's configured apps; a dropped one is logged with
 * its app id (cut short: an attacker picks it) and the reason, never the token.
 */
function recordTrust(
  isServed: (appId: string) => boolean,
  log: Logger,
  count: (reason: UntrustedReason, source: 'read' | 'message') => void,
): RecordTrust {
  return {
    isConfigured: isServed,
    onUntrusted: (appId, reason, source) => {
      count(reason, source);
      log.warn(
        { appId: appId.slice(0, 64), reason, source },
        'dropped an untrusted token record from Redis (forged, corrupt or for another deployment)',
      );
    },
  };
}
