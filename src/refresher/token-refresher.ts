import type { AppConfig } from '../config/config.js';
import type { Clock } from '../shared/clock.js';
import type { TokenRecord } from '../token/token.js';
import type { TokenCache } from '../token/token-cache.js';
import { FencedWriteError, type RefreshLocks, type TokenStore } from '../token/token-store.js';
import type { WeChatClient } from '../wechat/wechat-client.js';
import { WeChatError, isWeChatError } from '../wechat/wechat-error.js';
import type { AppStatusBook } from './app-status-book.js';

export type RefreshTrigger = 'startup' | 'schedule' | 'force' | 'operator';

export interface RefreshOptions {
  /**
   * Compare-and-refresh guard: fetch only while the stored generation is still this one.
   * If someone already wrote a newer token, that token is returned and nothing is fetched.
   */
  readonly ifGeneration?: number;
  /** Stable mode only: call with force_refresh=true (invalidates the previous token). */
  readonly forceStable?: boolean;
}

export type RefreshOutcome =
  /** This call fetched a new token and wrote it. */
  | 'fetched'
  /** A newer token was already stored (by another refresh); nothing fetched. */
  | 'superseded'
  /** Stable mode: WeChat returned the token we already had (it has not rotated yet). */
  | 'unchanged';

export interface RefreshResult {
  readonly token: TokenRecord;
  readonly outcome: RefreshOutcome;
}

export interface RefreshEvent {
  readonly appId: string;
  readonly trigger: RefreshTrigger;
  readonly result: RefreshOutcome | 'error' | 'fenced';
  readonly generation?: number;
  readonly durationMs: number;
  readonly error?: WeChatError;
}

export interface RefresherDeps {
  readonly clock: Clock;
  readonly wechat: WeChatClient;
  readonly store: TokenStore;
  readonly locks: RefreshLocks;
  readonly cache: TokenCache;
  readonly status: AppStatusBook;
  /** Refresh lock TTL: must outlast one upstream call (timeout) with margin. */
  readonly lockTtlMs: number;
  readonly onRefresh?: (event: RefreshEvent) => void;
}

/**
 * The one routine that fetches a token upstream. Every fetch, scheduled or forced:
 *  1. joins a refresh of the same app already running in this process (single flight);
 *  2. takes the app's refresh lock, or waits for the holder's result (invariant 1);
 *  3. re-reads the store and skips the fetch if a newer token is already there;
 *  4. fetches, then writes with generation + 1 through the fenced write (invariant 2);
 *  5. updates this replica's cache at once, and releases the lock.
 */
export class TokenRefresher {
  readonly #inFlight = new Map<string, Promise<RefreshResult>>();
  readonly #listeners = new Set<(event: RefreshEvent) => void>();

  constructor(private readonly deps: RefresherDeps) {}

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

  async #refreshLocked(app: AppConfig, options: RefreshOptions): Promise<RefreshResult> {
    const { locks, clock } = this.deps;
    const lock = await locks.tryAcquire(app.appId, this.deps.lockTtlMs);
    if (!lock) return this.#awaitOtherHolder(app.appId, options.ifGeneration);
    try {
      const stored = await this.deps.store.read(app.appId);
      const storedGen = stored?.current.generation ?? 0;
      if (stored) this.deps.cache.offer(stored.current);
      if (stored && options.ifGeneration !== undefined && storedGen > options.ifGeneration) {
        return { token: stored.current, outcome: 'superseded' };
      }
      const fetched =
        app.mode === 'classic'
          ? await this.deps.wechat.getToken(app)
          : await this.deps.wechat.getStableToken(app, options.forceStable ?? false);
      this.deps.status.recordFetch(app.appId, clock.now());
      this.deps.status.recordSuccess(app.appId, clock.now());
      if (stored && fetched.accessToken === stored.current.accessToken) {
        return { token: stored.current, outcome: 'unchanged' };
      }
      const token: TokenRecord = {
        appId: app.appId,
        accessToken: fetched.accessToken,
        expiresAt: fetched.sentAt + fetched.expiresInSeconds * 1000,
        fetchedAt: fetched.sentAt,
        generation: Math.max(storedGen, this.deps.cache.get(app.appId)?.generation ?? 0) + 1,
      };
      // The store re-checks the lock atomically; this early check only saves a doomed write.
      if (lock.expiresAt <= clock.now()) {
        throw new FencedWriteError(app.appId, 'lock_not_held', token.generation, storedGen);
      }
      await this.deps.store.write(token, lock);
      this.deps.cache.offer(token);
      return { token, outcome: 'fetched' };
    } finally {
      await locks.release(lock).catch(() => undefined);
    }
  }

  /** Another holder is fetching: its fenced write reaches our cache; wait for it, bounded by the lock TTL. */
  async #awaitOtherHolder(appId: string, ifGeneration?: number): Promise<RefreshResult> {
    const known = ifGeneration ?? this.deps.cache.get(appId)?.generation ?? 0;
    const ac = new AbortController();
    const timer = this.deps.clock.setTimeout(
      () => ac.abort(new Error('timed out waiting for another refresh of this app')),
      this.deps.lockTtlMs,
    );
    try {
      const token = await this.deps.cache.waitFor(appId, (t) => t.generation > known, ac.signal);
      return { token, outcome: 'superseded' };
    } catch (err) {
      throw WeChatError.transport('token', (err as Error).message);
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
