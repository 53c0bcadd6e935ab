import type { Redis } from 'ioredis';
import Redlock, { ExecutionError, Lock, ResourceLockedError } from 'redlock';
import type { Lease, LeaseHandle } from '../leader/lease.js';
import type { Clock } from '../shared/clock.js';
import { StoreUnavailableError } from '../shared/errors.js';
import type { LockHandle, RefreshLocks } from '../token/token-store.js';
import type { RedisKeys } from './redis-keys.js';

/**
 * The one file that imports `redlock` (style.md point 7): the leader lease and the per-app
 * refresh locks on one Redis node, or on 3/5 independent masters with a majority quorum.
 *
 * What Redlock guarantees: a lock is granted only when a majority of nodes stored our random
 * value under the key (SET-if-absent with a PX TTL) within the validity window, and it is
 * valid until `expiration` (start of the request + TTL - clock drift), measured on this host.
 *
 * What it does not: fencing. A holder paused past its TTL (GC, partition) still believes it
 * holds the lock while another has taken it. That is why the lock value is handed out exactly
 * as stored in Redis: the token store's fenced-write script checks `GET lock == value` on each
 * node in the same script as the write (invariant 2), so a lapsed holder cannot overwrite.
 */

/** Client drift allowance: validity = TTL - 1 % - 2 ms (redlock's formula). */
const DRIFT_FACTOR = 0.01;

/**
 * One Redlock instance over all nodes, answering the lease and the refresh locks.
 * `retryCount: 0`: tryAcquire never waits for a holder (the callers retry on their own
 * schedule); no automatic extension (the elector extends on its own timing).
 */
export function createRedlockLocks(
  clients: readonly Redis[],
  keys: RedisKeys,
  clock: Clock,
): { lease: RedlockLease; locks: RedlockRefreshLocks } {
  if (clients.length === 0) throw new RangeError('redlock needs at least one Redis client');
  const redlock = new Redlock(clients, {
    driftFactor: DRIFT_FACTOR,
    retryCount: 0,
    retryDelay: 0,
    retryJitter: 0,
  });
  const book = new LockBook(redlock, clock);
  return { lease: new RedlockLease(book, keys), locks: new RedlockRefreshLocks(book, keys) };
}

/** The leader lease (invariant 7) on `keys.leader()`. */
export class RedlockLease implements Lease {
  constructor(
    private readonly book: LockBook,
    private readonly keys: RedisKeys,
  ) {}

  async tryAcquire(ttlMs: number): Promise<LeaseHandle | null> {
    const lock = await this.book.acquire(this.keys.leader(), ttlMs, 'acquire leader lease');
    return lock && { value: lock.value, expiresAt: lock.expiration };
  }

  async extend(handle: LeaseHandle, ttlMs: number): Promise<LeaseHandle | null> {
    const lock = await this.book.extend(handle, ttlMs);
    return lock && { value: lock.value, expiresAt: lock.expiration };
  }

  release(handle: LeaseHandle): Promise<void> {
    return this.book.release(this.keys.leader(), handle.value);
  }
}

/** Per-app refresh locks (invariant 1) on `keys.refreshLock(appId)`; apps are independent. */
export class RedlockRefreshLocks implements RefreshLocks {
  constructor(
    private readonly book: LockBook,
    private readonly keys: RedisKeys,
  ) {}

  async tryAcquire(appId: string, ttlMs: number): Promise<LockHandle | null> {
    const key = this.keys.refreshLock(appId);
    const lock = await this.book.acquire(key, ttlMs, `acquire refresh lock of ${appId}`);
    return lock && { appId, value: lock.value, expiresAt: lock.expiration };
  }

  release(handle: LockHandle): Promise<void> {
    return this.book.release(this.keys.refreshLock(handle.appId), handle.value);
  }
}

/**
 * The Redlock Lock objects this process holds, by value (the value is also the handle's
 * identity). Shared by the lease and the refresh locks, which differ only in their key.
 */
class LockBook {
  readonly #held = new Map<string, Lock>();
  /**
   * Locks whose release failed because the store did not answer (a promotion in progress, a
   * node restarting), by key. A Sentinel promotion keeps a replicated lock on the new
   * primary until its TTL (25 s for a token with the default 5 s WeChat timeout): this process gives it
   * back as soon as it next asks for the same key, instead of waiting out its own lock.
   */
  readonly #unreleased = new Map<string, { value: string; expiresAt: number }>();

  constructor(
    private readonly redlock: Redlock,
    private readonly clock: Clock,
  ) {}

  /**
   * The lock, null when another holder has it, or StoreUnavailableError when quorum failed
   * because nodes did not answer. Bounded in time by the clients' command timeout: they fail
   * fast (no offline queue), so a dead or frozen node votes "against" instead of hanging.
   */
  async acquire(key: string, ttlMs: number, operation: string): Promise<Lock | null> {
    this.#forgetExpired();
    const stale = this.#unreleased.get(key);
    if (stale) {
      this.#unreleased.delete(key);
      await this.#release(key, new Lock(this.redlock, [key], stale.value, [], stale.expiresAt));
    }
    let lock: Lock;
    try {
      lock = await this.redlock.acquire([key], wholeMs(ttlMs));
    } catch (err) {
      if (!(err instanceof ExecutionError)) throw err;
      const refusals = await votesAgainst(err);
      if (refusals.some((e) => e instanceof ResourceLockedError)) return null;
      throw new StoreUnavailableError(operation, {
        cause: new AggregateError(refusals, err.message),
      });
    }
    // Slow answers can hand back a lock whose validity already ran out (stack-notes.md):
    // it proves nothing, so it is given back and treated as not acquired.
    if (lock.expiration <= this.clock.now()) {
      await quietly(lock.release());
      return null;
    }
    this.#held.set(lock.value, lock);
    return lock;
  }

  /** The extended lock, or null when it was lost (expired, taken, or quorum failed). */
  async extend(handle: { value: string; expiresAt: number }, ttlMs: number): Promise<Lock | null> {
    const lock = this.#held.get(handle.value);
    if (!lock || lock.expiration <= this.clock.now()) {
      this.#held.delete(handle.value);
      return null;
    }
    let extended: Lock;
    try {
      extended = await lock.extend(wholeMs(ttlMs));
    } catch {
      // Lost: the caller stops relying on it. Delete our value wherever it is still stored
      // (a partial extension may have renewed it on a minority) so a successor need not wait.
      // Not awaited: the caller must learn of the loss now, not after another timeout.
      this.#held.delete(handle.value);
      void this.#release(lock.resources[0]!, lock);
      return null;
    }
    if (extended.expiration <= this.clock.now()) {
      this.#held.delete(handle.value);
      void quietly(extended.release());
      return null;
    }
    this.#held.set(extended.value, extended);
    return extended;
  }

  /**
   * Best effort, never throws: the release script deletes the key only where it still holds
   * our value. A node that misses it lets the key expire by its TTL.
   */
  async release(key: string, value: string): Promise<void> {
    // A handle we no longer track (already expired) is still released by value: harmless.
    const lock = this.#held.get(value) ?? new Lock(this.redlock, [key], value, [], 0);
    this.#held.delete(value);
    await this.#release(key, lock);
  }

  /** Releases; when the store does not answer, remembers the lock for the next acquire. */
  async #release(key: string, lock: Lock): Promise<void> {
    const expiresAt = lock.expiration; // redlock zeroes it when releasing
    try {
      await lock.release();
    } catch (err) {
      // Our value is no longer stored (expired, taken): nothing to give back.
      if (err instanceof ExecutionError) {
        const against = await votesAgainst(err);
        if (against.length > 0 && against.every((e) => e instanceof ResourceLockedError)) return;
      }
      // Only a lock that may still be stored: an expired one is gone by its TTL anyway.
      if (expiresAt === 0 || expiresAt > this.clock.now()) {
        this.#unreleased.set(key, { value: lock.value, expiresAt });
      }
    }
  }

  /** Drops locks whose holders never released them (they can be neither extended nor trusted). */
  #forgetExpired(): void {
    const now = this.clock.now();
    for (const [value, lock] of this.#held) if (lock.expiration <= now) this.#held.delete(value);
    for (const [key, stale] of this.#unreleased) {
      if (stale.expiresAt !== 0 && stale.expiresAt <= now) this.#unreleased.delete(key);
    }
  }
}

/** Every node's refusal in the failed attempt (one attempt: retryCount is 0). */
async function votesAgainst(err: ExecutionError): Promise<Error[]> {
  const stats = await Promise.all(err.attempts);
  return stats.flatMap((s) => [...s.votesAgainst.values()]);
}

/** Redlock wants whole milliseconds; config durations may carry fractions. */
function wholeMs(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`invalid lock ttl ${ttlMs}`);
  return Math.ceil(ttlMs);
}

async function quietly(work: Promise<unknown>): Promise<void> {
  await work.catch(() => undefined);
}
