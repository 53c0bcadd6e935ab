import { randomUUID } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import type { TokenRecord } from './token.js';
import {
  FencedWriteError,
  type LockHandle,
  type RefreshLocks,
  type StoredTokens,
  type StoreHealth,
  type TokenStore,
} from './token-store.js';

/**
 * Embedded store and refresh locks for a single process (no Redis configured).
 * Both live in one object so the fenced write checks the lock atomically, exactly
 * like the Redis Lua script does: same contract, same code paths above it.
 */
export class MemoryTokenStore implements TokenStore, RefreshLocks {
  readonly #records = new Map<string, StoredTokens>();
  readonly #locks = new Map<string, LockHandle>();
  readonly #listeners = new Set<(token: TokenRecord) => void>();
  readonly #verdicts = new Map<string, number>();

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
    return this.#records.get(appId) ?? null;
  }

  async write(token: TokenRecord, lock: LockHandle): Promise<void> {
    const stored = this.#records.get(token.appId);
    const storedGeneration = stored?.current.generation ?? null;
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
    const next: StoredTokens =
      stored && stored.current.accessToken !== token.accessToken
        ? { current: token, previous: stored.current }
        : { current: token, ...(stored?.previous ? { previous: stored.previous } : {}) };
    this.#records.set(token.appId, next);
    for (const listener of this.#listeners) listener(token);
  }

  subscribe(listener: (token: TokenRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async rememberValid(appId: string, tokenFingerprint: string, ttlMs: number): Promise<void> {
    this.#verdicts.set(`${appId}\0${tokenFingerprint}`, this.clock.now() + ttlMs);
  }

  async isKnownValid(appId: string, tokenFingerprint: string): Promise<boolean> {
    return (this.#verdicts.get(`${appId}\0${tokenFingerprint}`) ?? 0) > this.clock.now();
  }

  health(): StoreHealth {
    return 'ok';
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
