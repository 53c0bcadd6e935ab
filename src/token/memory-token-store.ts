import { randomUUID } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { MapSweeper } from '../shared/map-sweeper.js';
import { ShardedMap } from '../shared/sharded-map.js';
import { PREVIOUS_SWEEP_STEP } from './token-cache.js';
import type { TokenRecord } from './token.js';
import { packedExpiresAt, packRecord, unpackRecord, type PackedRecord } from './packed-record.js';
import {
  FencedWriteError,
  type CheckState,
  type LockHandle,
  type RefreshLocks,
  type StoredTokens,
  type StoreHealth,
  type TokenStore,
  type TokenVerdict,
} from './token-store.js';

/**
 * Embedded store and refresh locks for a single process (no Redis configured).
 * Both live in one object so the fenced write checks the lock atomically, exactly
 * like the Redis Lua script does: same contract, same code paths above it.
 */
export class MemoryTokenStore implements TokenStore, RefreshLocks {
  /**
   * Current and previous tokens in two maps rather than a pair object per app, each record packed
   * into one string (packed-record.ts): fewer heap objects per app (100,000 with a platform's
   * authorizers) for every full collection to mark.
   */
  readonly #current = new Map<string, PackedRecord>();
  readonly #previous = new ShardedMap<PackedRecord>();
  /**
   * Previous tokens past their expiry are dropped as the cache drops them (token-cache.ts;
   * sharded for the same reason).
   */
  readonly #sweeper = new MapSweeper(
    this.#previous,
    (t) => packedExpiresAt(t) <= this.clock.now(),
    PREVIOUS_SWEEP_STEP,
  );
  readonly #locks = new Map<string, LockHandle>();
  readonly #listeners = new Set<(token: TokenRecord) => void>();
  /**
   * Check bookkeeping of the one token per app that can be reported (only the current token
   * reaches the store), so this holds at most one entry per app.
   */
  readonly #checks = new Map<string, { fp: string; state: CheckState }>();

  constructor(private readonly clock: Clock) {}

  async tryAcquire(appId: string, ttlMs: number): Promise<LockHandle | null> {
    const held = this.#locks.get(appId);
    if (held && held.expiresAt > this.clock.now()) return null;
    const handle: LockHandle = { appId, value: randomUUID(), expiresAt: this.clock.now() + ttlMs };
    this.#locks.set(appId, handle);
    return handle;
  }

  async release(handle: LockHandle): Promise<void> {
    if (this.#locks.get(handle.appId)?.value === handle.value) this.#locks.delete(handle.appId);
  }

  async read(appId: string): Promise<StoredTokens | null> {
    const current = this.#current.get(appId);
    if (current === undefined) return null;
    const previous = this.#previous.get(appId);
    return previous === undefined
      ? { current: unpackRecord(appId, current) }
      : { current: unpackRecord(appId, current), previous: unpackRecord(appId, previous) };
  }

  async write(token: TokenRecord, lock: LockHandle): Promise<void> {
    const packed = this.#current.get(token.appId);
    const stored = packed === undefined ? undefined : unpackRecord(token.appId, packed);
    const storedGeneration = stored?.generation ?? null;
    const held = this.#locks.get(token.appId);
    if (
      lock.appId !== token.appId ||
      held?.value !== lock.value ||
      held.expiresAt <= this.clock.now()
    ) {
      throw new FencedWriteError(token.appId, 'lock_not_held', token.generation, storedGeneration);
    }
    if (storedGeneration !== null && token.generation <= storedGeneration) {
      throw new FencedWriteError(
        token.appId,
        'stale_generation',
        token.generation,
        storedGeneration,
      );
    }
    if (packed !== undefined && stored?.value !== token.value) {
      this.#previous.set(token.appId, packed);
    }
    this.#current.set(token.appId, packRecord(token));
    this.#sweeper.sweep();
    for (const listener of this.#listeners) listener(token);
  }

  subscribe(listener: (token: TokenRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async checkState(appId: string, tokenFingerprint: string): Promise<CheckState> {
    return this.#state(appId, tokenFingerprint);
  }

  async beginCheck(appId: string, tokenFingerprint: string): Promise<number> {
    const state = this.#state(appId, tokenFingerprint);
    this.#checks.set(appId, { fp: tokenFingerprint, state: { ...state, sent: state.sent + 1 } });
    return state.sent + 1;
  }

  async recordVerdict(appId: string, fp: string, verdict: TokenVerdict): Promise<void> {
    const state = this.#state(appId, fp);
    if ((state.latest?.seq ?? 0) >= verdict.seq) return;
    this.#checks.set(appId, { fp, state: { ...state, latest: verdict } });
  }

  #state(appId: string, fp: string): CheckState {
    const entry = this.#checks.get(appId);
    return entry?.fp === fp ? entry.state : { sent: 0 };
  }
  health(): StoreHealth {
    return 'ok';
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
