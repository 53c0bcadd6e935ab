import type { TokenRecord } from './token.js';

/** Proof that the caller holds an app's refresh lock; the store checks it on every write. */
export interface LockHandle {
  readonly appId: string;
  /** Random value identifying this holder (crypto.randomUUID). */
  readonly value: string;
  /** Clock time (ms) after which the lock must not be trusted. */
  readonly expiresAt: number;
}

export interface StoredTokens {
  readonly current: TokenRecord;
  /** The token it replaced; WeChat keeps it valid during the overlap. */
  readonly previous?: TokenRecord;
}

/**
 * The per-app refresh lock (invariant 1): whoever fetches an app's token upstream holds it.
 * tryAcquire never waits: a holder elsewhere means a fetch is already under way.
 */
export interface RefreshLocks {
  tryAcquire(appId: string, ttlMs: number): Promise<LockHandle | null>;
  release(handle: LockHandle): Promise<void>;
}

/**
 * Where token records live (embedded memory, or Redis in a cluster). Writes are fenced
 * (invariant 2): rejected unless `lock` is still held and `token.generation` is greater
 * than the stored one, so a holder that lost its lock cannot overwrite a newer token.
 */
export interface TokenStore {
  read(appId: string): Promise<StoredTokens | null>;
  /** Throws FencedWriteError when the write is refused; nothing is written then. */
  write(token: TokenRecord, lock: LockHandle): Promise<void>;
  /** Called after every accepted write, this replica's or (through pub/sub) any other's. */
  subscribe(listener: (token: TokenRecord) => void): () => void;
  /**
   * Remembers, cluster-wide and for `ttlMs`, that WeChat still accepts the token with this
   * fingerprint, so a herd of forced refreshes spread over replicas costs one validity check.
   */
  rememberValid(appId: string, tokenFingerprint: string, ttlMs: number): Promise<void>;
  isKnownValid(appId: string, tokenFingerprint: string): Promise<boolean>;
  /** ok: every node answers; degraded: a quorum answers; down: no quorum. */
  health(): StoreHealth;
  close(): Promise<void>;
}

export type StoreHealth = 'ok' | 'degraded' | 'down';

export type FenceFailure = 'lock_not_held' | 'stale_generation';

export class FencedWriteError extends Error {
  override readonly name = 'FencedWriteError';
  constructor(
    readonly appId: string,
    readonly reason: FenceFailure,
    readonly attemptedGeneration: number,
    readonly storedGeneration: number | null,
  ) {
    super(
      `fenced write refused for ${appId}: ${reason} (generation ${attemptedGeneration}, stored ${storedGeneration ?? 'none'})`,
    );
  }
}
