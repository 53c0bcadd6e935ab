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
   * Resolves once writes by other replicas are delivered (pub/sub subscribed), or after
   * `timeoutMs`; a store without remote writers has nothing to wait for.
   */
  subscribed?(timeoutMs: number): Promise<void>;
  /**
   * Validity checks of one reported token (by fingerprint), numbered cluster-wide in the order
   * they were sent, with the newest verdict. A report reads `sent` when it arrives; a verdict
   * answers it only if its `seq` is greater, i.e. its check was sent after the report arrived
   * (invariant 6: verdicts are only as fresh as the report).
   */
  checkState(appId: string, tokenFingerprint: string): Promise<CheckState>;
  /** Numbers the check about to be sent (under the app's refresh lock): `sent` + 1. */
  beginCheck(appId: string, tokenFingerprint: string): Promise<number>;
  /** Records a check's verdict; an older one never replaces a newer one. */
  recordVerdict(appId: string, tokenFingerprint: string, verdict: TokenVerdict): Promise<void>;
  /** ok: every node answers; degraded: a quorum answers; down: no quorum. */
  health(): StoreHealth;
  close(): Promise<void>;
}

export type StoreHealth = 'ok' | 'degraded' | 'down';

/** What one validity check said: WeChat accepted the token or not. `seq` numbers the check. */
export interface TokenVerdict {
  readonly seq: number;
  readonly valid: boolean;
}

export interface CheckState {
  /** How many checks of this token were sent so far, cluster-wide. */
  readonly sent: number;
  /** The newest check's verdict, if any check finished. */
  readonly latest?: TokenVerdict;
}

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
