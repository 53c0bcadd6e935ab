import { Redis } from 'ioredis';

export interface RedisClientOptions {
  /** Per-command timeout; a lock or write that cannot answer fast has failed. */
  readonly commandTimeoutMs: number;
  readonly connectionName: string;
}

/**
 * ioredis clients that fail fast (stack-notes.md): no offline queue, one retry per request,
 * a command timeout. With ioredis defaults a lock request to a dead node stays pending for
 * minutes and later resolves with a lock that has already expired. Reconnection goes on in
 * the background with a capped backoff, so a node that comes back is used again.
 */
export function createRedisClient(url: string, o: RedisClientOptions): Redis {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: o.commandTimeoutMs,
    connectTimeout: Math.max(1000, o.commandTimeoutMs * 2),
    connectionName: o.connectionName,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
    lazyConnect: false,
  });
  // Errors surface on the commands; a logged 'error' event per reconnect attempt is noise.
  client.on('error', () => undefined);
  return client;
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
