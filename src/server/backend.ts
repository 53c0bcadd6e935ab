import type { Config } from '../config/config.js';
import { MemoryAuditLog } from '../audit/memory-audit-log.js';
import { MemoryComponentStore } from '../component/component-store.js';
import { MemoryLease } from '../leader/memory-lease.js';
import { MemorySessionStore } from '../login/memory-session-store.js';
import { createRedisBackend, type Backend } from '../redis/redis-backend.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { UntrustedReason } from '../token/record-trust.js';
import { MemoryTokenStore } from '../token/memory-token-store.js';

/**
 * Redis when `redis.urls` (1 node, or 3/5 masters with quorum), `redis.sentinels` or
 * `redis.cluster` is set; otherwise the embedded
 * in-memory store, locks and lease behind the same ports.
 */
export function openBackend(
  config: Config,
  clock: Clock,
  log: Logger,
  onUntrusted: (reason: UntrustedReason, source: 'read' | 'message') => void,
  /** The apps served now: the Redis backend drops records of any other app. */
  isServed: (appId: string) => boolean,
): Promise<Backend> {
  const { urls, sentinels, cluster } = config.redis;
  return urls.length + sentinels.length + cluster.length > 0
    ? createRedisBackend(config, clock, log, onUntrusted, isServed)
    : Promise.resolve(embeddedBackend(clock, config.audit.maxEvents));
}

function embeddedBackend(clock: Clock, maxAuditEvents: number): Backend {
  const store = new MemoryTokenStore(clock);
  return {
    kind: 'embedded',
    topology: 'embedded',
    primary: () => undefined,
    store,
    locks: store,
    lease: new MemoryLease(clock),
    sessions: new MemorySessionStore(clock),
    audit: new MemoryAuditLog(maxAuditEvents),
    components: new MemoryComponentStore(),
    credential: async () => {
      const kindStore = new MemoryTokenStore(clock);
      return { store: kindStore, locks: kindStore };
    },
  };
}
