import type { AppConfig } from '../config/config.js';
import type { Clock } from '../shared/clock.js';
import { isLive, supersedes, type CredentialRecord } from '../token/token.js';
import type { TokenCache } from '../token/token-cache.js';
import type { FencedWriteError, RefreshLocks, TokenStore } from '../token/token-store.js';

/** What putting a record back needs: the kind's store, locks and cache. */
export interface RepairDeps {
  readonly clock: Clock;
  readonly store: TokenStore;
  readonly locks: RefreshLocks;
  readonly cache: TokenCache;
  readonly lockTtlMs: number;
  readonly log?: (level: 'info' | 'warn' | 'error', obj: object, msg: string) => void;
}

/**
 * Our lock lapsed between the fetch and the write (a pause). For a classic token the value we
 * fetched may be the newest at WeChat, superseding whatever the next holder stored: then
 * storing ours is the only way to keep the cluster from serving a token WeChat is about to
 * drop (after its overlap). So retake the lock and write ours if it was fetched after the
 * stored one; otherwise the stored one is newer and ours is dropped. Fenced like any write.
 */
export async function rewriteIfLatest(
  d: RepairDeps,
  record: CredentialRecord,
  fenced: FencedWriteError,
): Promise<CredentialRecord> {
  const lock = await d.locks.tryAcquire(record.appId, d.lockTtlMs).catch(() => null);
  if (!lock) throw fenced;
  try {
    const stored = await d.store.read(record.appId);
    if (stored && stored.current.fetchedAt >= record.fetchedAt) throw fenced;
    // Above the cache too: after a flush the store is empty, and a record numbered 1 would be
    // ignored by every cache (they only move forward) while WeChat drops what they serve.
    const generation =
      Math.max(stored?.current.generation ?? 0, d.cache.get(record.appId)?.generation ?? 0) + 1;
    const rewritten = { ...record, generation };
    if (lock.expiresAt <= d.clock.now()) throw fenced;
    await d.store.write(rewritten, lock);
    d.cache.offer(rewritten);
    d.log?.(
      'warn',
      { appId: record.appId, generation: rewritten.generation },
      'refresh lock lapsed before the write; re-stored the newer value under a new lock',
    );
    return rewritten;
  } finally {
    await d.locks.release(lock).catch(() => undefined);
  }
}

/**
 * Writes this replica's cached value back to a store that lost it (flush, failover to an
 * empty replica, an earlier write that found Redis down). No upstream call: the cached value
 * is live and current at WeChat. Only the leader calls this.
 */
export async function repairStore(d: RepairDeps, app: AppConfig): Promise<boolean> {
  const cached = d.cache.get(app.appId);
  if (!isLive(cached, d.clock.now())) return false;
  const lock = await d.locks.tryAcquire(app.appId, d.lockTtlMs);
  if (!lock) return false;
  try {
    const stored = await d.store.read(app.appId);
    if (stored && !supersedes(cached, stored.current)) return false;
    if (!stored || stored.current.generation < cached.generation) {
      await d.store.write(cached, lock);
      return true;
    }
    // Same generation, and ours was fetched later (two fetches numbered alike after the store
    // lost a record): the fence takes only a higher number, so ours goes one above. Every
    // replica then moves to it by generation alone.
    const renumbered = { ...cached, generation: stored.current.generation + 1 };
    await d.store.write(renumbered, lock);
    d.cache.offer(renumbered);
    return true;
  } finally {
    await d.locks.release(lock).catch(() => undefined);
  }
}
