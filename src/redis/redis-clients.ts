import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis } from 'ioredis';
import { ConfigError, type ConfigIssue } from '../config/config-error.js';
import type { Config, RedisTlsConfig } from '../config/config.js';

export interface RedisClientOptions {
  /** Per-command timeout; a lock or write that cannot answer fast has failed. */
  readonly commandTimeoutMs: number;
  readonly connectionName: string;
  /** redis.tls: CA, client certificate and server name for `rediss://` URLs. */
  readonly tls?: RedisTlsConfig | undefined;
}

/**
 * ioredis clients that fail fast (stack-notes.md): no offline queue, one retry per request,
 * a command timeout. With ioredis defaults a lock request to a dead node stays pending for
 * minutes and later resolves with a lock that has already expired. Reconnection goes on in
 * the background with a capped backoff, so a node that comes back is used again.
 *
 * Credentials come from the URL (`redis://user:password@host`, percent-encoded; ioredis
 * sends `AUTH user password`, an ACL user). `rediss://` connects with TLS, verified against
 * redis.tls.caFile when set. Everything derived from this client (`duplicate()` for pub/sub,
 * the Redlock locks on it) inherits both.
 */
export function createRedisClient(url: string, o: RedisClientOptions): Redis {
  const tls = tlsOptions(url, o.tls);
  const client = new Redis(url, {
    ...failFast(o),
    ...(tls ? { tls } : {}),
  });
  // Errors surface on the commands; a logged 'error' event per reconnect attempt is noise.
  // (Never log these errors whole: a failed AUTH carries the password in `err.command.args`.)
  client.on('error', () => undefined);
  return client;
}

/** The fail-fast options every data connection shares (see createRedisClient). */
function failFast(o: RedisClientOptions) {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: o.commandTimeoutMs,
    connectTimeout: Math.max(1000, o.commandTimeoutMs * 2),
    connectionName: o.connectionName,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
    lazyConnect: false,
  };
}

/**
 * One client for the primary a set of sentinels name (issue 16), through ioredis' own Sentinel
 * support: on every (re)connection it asks the sentinels for the current primary of
 * `sentinelName` and checks the node's role, so after a promotion commands, and the pub/sub
 * connections `duplicate()`d from it, reconnect to the new primary. A demoted primary that is
 * still alive answers a write with READONLY, which forces a reconnection (to the primary the
 * sentinels name now). ioredis' `failoverDetector` is left off: it drops the connection on
 * every +switch-master a sentinel publishes, which arrives after the client has already found
 * the new primary, so each failover cost a second, needless outage (seen as "store
 * unreachable" right after "reachable again", and lock requests failing just after promotion).
 * The same fail-fast options as a URL client: during a promotion commands fail at once
 * (StoreUnavailableError), they are never queued and replayed on the new primary.
 */
export function createSentinelClient(redis: Config['redis'], o: RedisClientOptions): Redis {
  const tls = o.tls === undefined ? undefined : tlsOptions('rediss://', o.tls);
  const client = new Redis({
    ...failFast(o),
    sentinels: redis.sentinels.map(({ host, port }) => ({ host, port })),
    name: redis.sentinelName,
    role: 'master',
    failoverDetector: false,
    sentinelCommandTimeout: o.commandTimeoutMs,
    sentinelRetryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
    reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false),
    ...(redis.sentinelPassword ? { sentinelPassword: redis.sentinelPassword.reveal() } : {}),
    ...(redis.username ? { username: redis.username } : {}),
    ...(redis.password ? { password: redis.password.reveal() } : {}),
    ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
  });
  client.on('error', () => undefined);
  return client;
}

/** TLS options for a `rediss://` URL; undefined leaves ioredis's default (TLS, Node's CAs). */
function tlsOptions(url: string, tls: RedisTlsConfig | undefined): ConnectionOptions | undefined {
  if (tls === undefined || !url.startsWith('rediss://')) return undefined;
  return {
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls.key !== undefined ? { key: tls.key.reveal() } : {}),
    ...(tls.serverName !== undefined ? { servername: tls.serverName } : {}),
  };
}

/**
 * A Redis Cluster client (issue 16) from seed nodes, through ioredis' `Cluster`: it learns
 * the slot map, follows MOVED/ASK redirections and, when a master fails and its replica takes
 * over, refreshes the map and retries. Typed as `Redis` for the stores, which use only the
 * commands both share; every multi-key script and pipeline keeps its keys in one slot (the
 * `{app:ID}` / `{component:ID}` hash tags), and `isCluster` tells the few places that differ.
 */
export function createClusterClient(redis: Config['redis'], o: RedisClientOptions): Redis {
  const tls = o.tls === undefined ? undefined : tlsOptions('rediss://', o.tls);
  const fast = failFast(o);
  const cluster = new Cluster(
    redis.cluster.map(({ host, port }) => ({ host, port })),
    {
      enableOfflineQueue: false,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      slotsRefreshTimeout: Math.max(1000, o.commandTimeoutMs * 2),
      clusterRetryStrategy: fast.retryStrategy,
      redisOptions: {
        maxRetriesPerRequest: fast.maxRetriesPerRequest,
        commandTimeout: fast.commandTimeout,
        connectTimeout: fast.connectTimeout,
        connectionName: fast.connectionName,
        ...(redis.username ? { username: redis.username } : {}),
        ...(redis.password ? { password: redis.password.reveal() } : {}),
        ...(tls ? { tls } : {}),
      },
    },
  );
  cluster.on('error', () => undefined);
  return cluster as unknown as Redis;
}

/**
 * A pub/sub connection like `client` (same nodes, credentials, TLS; a Cluster for a cluster),
 * queueing its SUBSCRIBE until connected and without a command timeout: it waits for messages.
 */
export function duplicateForSubscribe(client: Redis): Redis {
  if (!client.isCluster) {
    return client.duplicate({ enableOfflineQueue: true, commandTimeout: undefined });
  }
  const cluster = client as unknown as Cluster;
  const dup = cluster.duplicate(undefined, {
    enableOfflineQueue: true,
    redisOptions: { ...cluster.options.redisOptions, commandTimeout: undefined },
  });
  return dup as unknown as Redis;
}

/** Resolves when the client is ready, or after `timeoutMs` (a down node must not block start). */
export function waitReady(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    client.once('ready', onReady);
  });
}

/**
 * Waits for every node like `waitReady` (a node that is down or slow is reported not ready:
 * quorum decides, not start order), but a node that refuses us (wrong password or ACL user,
 * an untrusted or mismatched certificate, a TLS handshake it rejects) is a configuration
 * error that no retry fixes: every client is disconnected and a ConfigError names
 * `redis.urls[i]` and the host, never the URL's credentials.
 */
export async function waitNodesReady(
  clients: readonly Redis[],
  timeoutMs: number,
  /** The config key a refusal is reported under. */
  keyOf: (i: number) => string = (i) => `redis.urls[${i}]`,
): Promise<boolean[]> {
  const outcomes = await Promise.all(clients.map((c) => readyOrRefused(c, timeoutMs)));
  const issues: ConfigIssue[] = [];
  outcomes.forEach((outcome, i) => {
    if (typeof outcome === 'string') {
      issues.push({ key: keyOf(i), problem: `${nodeName(clients[i]!)}: ${outcome}` });
    }
  });
  if (issues.length > 0) {
    for (const c of clients) c.disconnect();
    throw new ConfigError(issues);
  }
  return outcomes.map((o) => o === true);
}

/** true: ready; false: not ready in time; a string: why the node refused us. */
function readyOrRefused(client: Redis, timeoutMs: number): Promise<boolean | string> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (outcome: boolean | string): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
      resolve(outcome);
    };
    const onReady = (): void => done(true);
    const onError = (err: Error): void => {
      const why = refusalOf(err);
      if (why !== undefined) done(why);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    client.once('ready', onReady);
    client.on('error', onError);
  });
}

/** Node TLS verification failures: the server's certificate is not one we trust. */
const UNTRUSTED_CERT = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
]);

/**
 * Why an error means the node refuses this client for good, or undefined for errors a retry
 * may cure (refused connection, timeout, LOADING...). Built from the error's code and the
 * first line of its message only: never from `err.command`, which holds the AUTH arguments.
 */
export function refusalOf(err: Error): string | undefined {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const line = err.message.split('\n')[0] ?? '';
  const message = line.length > 120 ? `${line.slice(0, 120)}…` : line;
  if (/^(WRONGPASS|NOAUTH)\b/.test(message) || /ERR invalid password/i.test(message)) {
    return `Redis refused the credentials of this URL (${message})`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `the server's TLS certificate does not name this host (${message}); set redis.tls.serverName to a name it carries`;
  }
  if (UNTRUSTED_CERT.has(code)) {
    return `the server's TLS certificate is not trusted (${code}: ${message}); set redis.tls.caFile to the CA that signed it`;
  }
  if (code.startsWith('ERR_SSL_')) {
    return `TLS handshake failed (${code}); check the URL scheme (rediss:// for a TLS port) and redis.tls.certFile/keyFile when the server requires client certificates`;
  }
  return undefined;
}

/** `user "wx" at host:port` for messages: never the URL, which may carry a password. */
function nodeName(client: Redis): string {
  if (client.isCluster) return 'the cluster';
  const { host, port, username, name, sentinels } = client.options;
  const at = sentinels?.length
    ? `the primary of ${JSON.stringify(name)}`
    : `${host ?? 'localhost'}:${port ?? 6379}`;
  return username ? `user ${JSON.stringify(username)} at ${at}` : at;
}
