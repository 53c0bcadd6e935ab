import type { AppConfig } from '../config/config.js';
import type { Clock } from '../shared/clock.js';
import { StoreUnavailableError } from '../shared/errors.js';
import type { TokenRecord } from '../token/token.js';
import type { TokenCache } from '../token/token-cache.js';
import {
  FencedWriteError,
  type LockHandle,
  type RefreshLocks,
  type TokenStore,
} from '../token/token-store.js';
import { WeChatError, isWeChatError } from '../wechat/wechat-error.js';
import type { AppStatusBook } from './app-status-book.js';
import { recordOf, type CredentialKind, type CredentialKindName } from './credential-kind.js';
import { repairStore, rewriteIfLatest } from './record-repair.js';

export type RefreshTrigger = 'startup' | 'schedule' | 'force' | 'operator' | 'fallback';

export interface RefreshOptions {
  /**
   * Compare-and-refresh guard: fetch only while the stored generation is still this one.
   * If someone already wrote a newer token, that token is returned and nothing is fetched.
   */
  readonly ifGeneration?: number;
  /** Stable access_token only: call with force_refresh=true (invalidates the previous token). */
  readonly forceStable?: boolean;
  /**
   * Forced refresh: runs under the lock after the store re-read, before the fetch. 'keep' ends
   * the refresh without fetching (WeChat still accepts the reported token). It may throw (e.g.
   * a rate limit), which aborts the refresh.
   */
  readonly precheck?: () => Promise<'keep' | 'fetch'>;
  /**
   * While another replica holds the lock: resolves true once that holder found the reported
   * token still valid (a cluster-wide verdict), so this caller stops waiting.
   */
  readonly keptElsewhere?: () => Promise<boolean>;
}

export type RefreshOutcome =
  /** This call fetched a new token and wrote it. */
  | 'fetched'
  /** A newer token was already stored (by another refresh); nothing fetched. */
  | 'superseded'
  /** Stable mode: WeChat returned the token we already had (it has not rotated yet). */
  | 'unchanged'
  /** Forced refresh: WeChat still accepts the reported token; nothing fetched. */
  | 'kept';

export interface RefreshResult {
  readonly token: TokenRecord;
  readonly outcome: RefreshOutcome;
}

export interface RefreshEvent {
  readonly kind: CredentialKindName;
  readonly appId: string;
  readonly trigger: RefreshTrigger;
  readonly result: RefreshOutcome | 'error' | 'fenced';
  readonly generation?: number;
  readonly durationMs: number;
  readonly error?: WeChatError;
}

export interface RefresherDeps {
  readonly kind: CredentialKind;
  readonly clock: Clock;
  readonly store: TokenStore;
  readonly locks: RefreshLocks;
  readonly cache: TokenCache;
  readonly status: AppStatusBook;
  /** Refresh lock TTL: must outlast one upstream call (timeout) with margin. */
  readonly lockTtlMs: number;
  readonly onRefresh?: (event: RefreshEvent) => void;
  readonly log?: (level: 'info' | 'warn' | 'error', obj: object, msg: string) => void;
}

/** How often a caller waiting on another replica's refresh re-checks for a verdict or a free lock. */
const POLL_MS = 50;

/**
 * The one routine that fetches a credential of one kind upstream (an app's access_token, or
 * one of its tickets: `deps.kind`). Every fetch, scheduled or forced:
 *  1. joins a refresh of the same app already running in this process (single flight);
 *  2. takes the app's refresh lock for this kind, or waits for the holder's result (invariant 1);
 *  3. re-reads the store and skips the fetch if a newer record is already there;
 *  4. fetches, then writes with generation + 1 through the fenced write (invariant 2);
 *  5. updates this replica's cache at once, and releases the lock.
 */
export class CredentialRefresher {
  readonly #inFlight = new Map<string, Promise<RefreshResult>>();
  readonly #listeners = new Set<(event: RefreshEvent) => void>();
  /**
   * Per app, the token this replica fetched but could not store (the store
   * was unreachable: a Sentinel promotion, a restart). WeChat already considers it current,
   * and no other replica has it, so this replica writes it back itself once the store
   * answers, leader or not (issue 16): waiting for the leader would let the others serve the
   * superseded token until WeChat drops it.
   */
  readonly #unstored = new Map<string, TokenRecord>();

  constructor(private readonly deps: RefresherDeps) {}

  /** Whether this replica holds a token of `appId` it fetched and has not stored yet. */
  holdsUnstored(appId: string): boolean {
    const unstored = this.#unstored.get(appId);
    if (unstored === undefined) return false;
    // Moved on: a later token reached the cache (stored by someone, or fetched again), which
    // may carry the same generation (see `supersedes`): compare the record, not its number.
    const cached = this.deps.cache.get(appId);
    if (cached?.value !== unstored.value || cached.generation !== unstored.generation) {
      this.#unstored.delete(appId);
      return false;
    }
    return true;
  }

  /** Calls `listener` after every refresh attempt, successful or not. */
  subscribe(listener: (event: RefreshEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  isRefreshing(appId: string): boolean {
    return this.#inFlight.has(appId);
  }

  refresh(
    app: AppConfig,
    trigger: RefreshTrigger,
    options: RefreshOptions = {},
  ): Promise<RefreshResult> {
    const running = this.#inFlight.get(app.appId);
    if (running) return running;
    const started = this.deps.clock.now();
    const promise = this.#refreshLocked(app, options)
      .then((result) => {
        this.#emit(app.appId, trigger, started, result.outcome, result.token.generation);
        return result;
      })
      .catch((err: unknown) => {
        if (err instanceof FencedWriteError) this.#emit(app.appId, trigger, started, 'fenced');
        else if (isWeChatError(err)) {
          this.deps.status.recordFailure(app.appId, err, this.deps.clock.now());
          this.#emit(app.appId, trigger, started, 'error', undefined, err);
        }
        throw err;
      })
      .finally(() => this.#inFlight.delete(app.appId));
    this.#inFlight.set(app.appId, promise);
    return promise;
  }

  /** Takes the lock, or waits for whoever holds it and retries, bounded by the lock TTL. */
  async #refreshLocked(app: AppConfig, options: RefreshOptions): Promise<RefreshResult> {
    const { locks, clock, cache } = this.deps;
    const known = options.ifGeneration ?? cache.get(app.appId)?.generation ?? 0;
    const deadline = clock.now() + this.deps.lockTtlMs;
    for (;;) {
      const lock = await locks.tryAcquire(app.appId, this.deps.lockTtlMs);
      if (lock) return this.#underLock(app, options, lock);
      // Another replica is fetching; its fenced write reaches this cache through the store.
      const newer = await this.#waitForNewer(app.appId, known, POLL_MS);
      if (newer) return { token: newer, outcome: 'superseded' };
      const current = cache.get(app.appId);
      if (current && (await options.keptElsewhere?.())) return { token: current, outcome: 'kept' };
      if (clock.now() >= deadline) {
        throw WeChatError.transport(
          this.deps.kind.endpoint,
          'timed out waiting for another replica to refresh',
        );
      }
    }
  }

  async #underLock(
    app: AppConfig,
    options: RefreshOptions,
    lock: LockHandle,
  ): Promise<RefreshResult> {
    const { clock, cache, store } = this.deps;
    try {
      const stored = await store.read(app.appId);
      const storedGen = stored?.current.generation ?? 0;
      if (stored) cache.offer(stored.current);
      if (stored && options.ifGeneration !== undefined && storedGen > options.ifGeneration) {
        return { token: stored.current, outcome: 'superseded' };
      }
      const current = cache.get(app.appId);
      if (current && options.precheck && (await options.precheck()) === 'keep') {
        return { token: current, outcome: 'kept' };
      }
      // A process paused (GC, SIGSTOP) while holding the lock must not fetch after it lapsed:
      // a classic fetch would supersede, at WeChat, the token the next holder stored.
      if (lock.expiresAt <= clock.now()) {
        throw new FencedWriteError(app.appId, 'lock_not_held', storedGen + 1, storedGen);
      }
      const fetched = await this.deps.kind.fetch(app, {
        forceStable: options.forceStable ?? false,
      });
      this.deps.status.recordFetch(app.appId, clock.now());
      this.deps.status.recordSuccess(app.appId, clock.now());
      if (current && fetched.value === current.value) {
        return { token: current, outcome: 'unchanged' };
      }
      const generation = Math.max(storedGen, current?.generation ?? 0) + 1;
      const token = recordOf(app.appId, fetched, generation);
      return { token: await this.#write(token, lock, storedGen), outcome: 'fetched' };
    } finally {
      await this.deps.locks.release(lock).catch(() => undefined);
    }
  }

  /**
   * Fenced write of a token just fetched. If the store is unreachable the token is still the
   * one WeChat now considers current, so this replica serves it at once and the reconciler
   * writes it back (repair) when the store returns; fetching again would only burn quota.
   */
  async #write(token: TokenRecord, lock: LockHandle, storedGen: number): Promise<TokenRecord> {
    // The store re-checks the lock atomically; this early check only saves a doomed write.
    if (lock.expiresAt <= this.deps.clock.now()) {
      const fenced = new FencedWriteError(
        token.appId,
        'lock_not_held',
        token.generation,
        storedGen,
      );
      return rewriteIfLatest(this.deps, token, fenced);
    }
    try {
      await this.deps.store.write(token, lock);
      this.#unstored.delete(token.appId);
    } catch (err) {
      if (err instanceof FencedWriteError && err.reason === 'lock_not_held') {
        return rewriteIfLatest(this.deps, token, err);
      }
      if (!(err instanceof StoreUnavailableError)) throw err;
      this.deps.log?.(
        'warn',
        { appId: token.appId, err },
        'token fetched but not stored; serving it and repairing later',
      );
      this.deps.cache.offer(token);
      this.#unstored.set(token.appId, token);
      return token;
    }
    this.deps.cache.offer(token);
    return token;
  }

  /**
   * Writes this replica's cached value back to a store that lost it (flush, failover to an
   * empty replica, an earlier write that found Redis down). The leader calls this, and a
   * replica that holds a token it fetched and could not store (holdsUnstored).
   */
  async repair(app: AppConfig): Promise<boolean> {
    const repaired = await repairStore(this.deps, app);
    if (repaired) this.#unstored.delete(app.appId);
    return repaired;
  }

  /**
   * Degraded mode (the store is unreachable, so there is no lock and no leader): the kind's
   * lock-free fetch, if it has one for this app (a stable access_token: a normal-mode
   * stable_token call, never force_refresh), served from this replica's cache. Every replica
   * that does this gets the same value from WeChat, so nothing is invalidated; the leader
   * writes it back to the store once it returns (repair).
   */
  async fallback(app: AppConfig): Promise<void> {
    if (this.#inFlight.has(app.appId)) return;
    const { clock, cache } = this.deps;
    const started = clock.now();
    try {
      const call = this.deps.kind.fallback?.(app);
      if (!call) return;
      const fetched = await call;
      this.deps.status.recordFetch(app.appId, clock.now());
      this.deps.status.recordSuccess(app.appId, clock.now());
      const current = cache.get(app.appId);
      if (current?.value === fetched.value) {
        this.#emit(app.appId, 'fallback', started, 'unchanged', current.generation);
        return;
      }
      const generation = (current?.generation ?? 0) + 1;
      cache.offer(recordOf(app.appId, fetched, generation));
      this.#emit(app.appId, 'fallback', started, 'fetched', generation);
    } catch (err) {
      if (isWeChatError(err)) {
        this.deps.status.recordFailure(app.appId, err, clock.now());
        this.#emit(app.appId, 'fallback', started, 'error', undefined, err);
      }
    }
  }

  async #waitForNewer(appId: string, known: number, ms: number): Promise<TokenRecord | undefined> {
    const ac = new AbortController();
    const timer = this.deps.clock.setTimeout(() => ac.abort(), ms);
    try {
      return await this.deps.cache.waitFor(appId, (t) => t.generation > known, ac.signal);
    } catch {
      return undefined;
    } finally {
      this.deps.clock.clearTimeout(timer);
    }
  }

  #emit(
    appId: string,
    trigger: RefreshTrigger,
    started: number,
    result: RefreshEvent['result'],
    generation?: number,
    error?: WeChatError,
  ): void {
    const event: RefreshEvent = {
      kind: this.deps.kind.name,
      appId,
      trigger,
      result,
      durationMs: this.deps.clock.now() - started,
      ...(generation !== undefined ? { generation } : {}),
      ...(error ? { error } : {}),
    };
    this.deps.onRefresh?.(event);
    for (const listener of this.#listeners) listener(event);
  }
}
