import type { AppSet } from '../apps/app-directory.js';
import type { AppConfig } from '../config/config.js';
import type { Clock } from '../shared/clock.js';
import { isLive, supersedes } from './token.js';
import type { TokenCache } from './token-cache.js';
import type { TokenStore } from './token-store.js';

export interface ReconcilerDeps {
  readonly clock: Clock;
  /** The apps whose records this replica follows (read afresh each pass). */
  readonly apps: AppSet;
  readonly store: Pick<TokenStore, 'read'>;
  readonly cache: TokenCache;
  /**
   * Writes this replica's cached token back to a store that lost it: the leader does; so does a
   * replica holding a token it could not store, or a later value of the stored generation.
   */
  readonly repair: (app: AppConfig) => Promise<boolean>;
  readonly isLeader: () => boolean;
  /**
   * Whether this replica holds a token of the app it fetched but could not store (the store
   * was unreachable): it repairs that app itself, leader or not (issue 16).
   */
  readonly holdsUnstored?: (appId: string) => boolean;
  /**
   * Stable apps only, while the store is unreachable: fetch in normal mode without the lock
   * (safe: a normal-mode stable call returns the same token to every caller).
   */
  readonly stableFallback: (app: AppConfig) => Promise<void>;
  /** How much life a cached stable token must have left before the fallback fetches. */
  readonly stableFallbackMs: number;
  readonly intervalMs: number;
  /**
   * Records read per second at most by a periodic pass (not the first one, which warms the
   * cache as fast as it can): 100,000 apps make a pass of 20 s at 5,000/s instead of 50,000
   * reads a second from every replica. Pub/sub carries every write at once; this pass only
   * bounds how stale a lost message leaves a replica, which must stay well inside WeChat's
   * 5-minute overlap. Absent: unpaced.
   */
  readonly recordsPerSecond?: number;
  readonly log: (level: 'info' | 'warn', obj: object, msg: string) => void;
}

/** Reads at most this many records at once, so 10,000 apps do not open 10,000 requests. */
const BATCH = 256;
/** First retry delay while the store is unreachable. */
const RETRY_MIN_MS = 250;

/**
 * Invariant 5's safety net: pub/sub delivers new tokens at once but may lose a message
 * (a reconnect, a partition), so every replica re-reads every record each interval and
 * offers it to the cache (which only moves forward). The leader also repairs a store that
 * lost records (flush, failover to an empty replica): it writes its live cached token back
 * instead of fetching a new one, so a lost key costs no quota and no replica fetches.
 */
export class StoreReconciler {
  /** Undefined until the first pass: a replica has not seen the store yet. */
  #reachable: boolean | undefined;
  #warmed = false;
  #failures = 0;
  /** When a pass last found the store again after failing to read it. */
  #recoveredAt: number | undefined;

  constructor(private readonly deps: ReconcilerDeps) {}

  get storeReachable(): boolean {
    return this.#reachable === true;
  }

  /**
   * Until when the leader should hold back fetching a token that is still live, after the store
   * was unreachable (a Sentinel or Cluster promotion): while it is, and for `graceMs` after a
   * pass reads it again. A promotion can lose the refresh lock of a fetch that was in flight;
   * its fetcher then holds a token WeChat already made current and writes it back only once the
   * store answers (its own reconcile pass). A second fetch before that write-back lands would
   * leave every other replica on the token two rotations back, which WeChat no longer accepts.
   * 0 when the store has not failed.
   */
  fetchHoldUntil(graceMs: number): number {
    if (this.#reachable === false) return this.deps.clock.now() + graceMs;
    return this.#recoveredAt === undefined ? 0 : this.#recoveredAt + graceMs;
  }

  /**
   * True once one pass read every app's record: the cache holds what the store held, so
   * this replica can serve (readiness) even if the store goes away later.
   */
  get warmed(): boolean {
    return this.#warmed;
  }

  /**
   * Reconciles every interval; while the store is unreachable it retries sooner, with a
   * backoff (RETRY_MIN_MS doubling up to the interval), so a replica started during a Redis
   * outage warms its cache soon after Redis is back instead of crash-looping.
   */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const delay = this.storeReachable
        ? this.deps.intervalMs
        : Math.min(
            RETRY_MIN_MS * 2 ** Math.min(Math.max(this.#failures - 1, 0), 10),
            this.deps.intervalMs,
          );
      try {
        await this.deps.clock.sleep(delay, signal);
        await this.reconcileOnce(signal);
      } catch {
        return;
      }
    }
  }

  /**
   * One pass over every app's record. With `signal` (the periodic passes) it is paced at
   * `recordsPerSecond` and stops (rejecting) when the signal aborts.
   */
  async reconcileOnce(signal?: AbortSignal): Promise<void> {
    const apps = this.deps.apps.list();
    const rate = signal ? this.deps.recordsPerSecond : undefined;
    let failure: unknown;
    for (let i = 0; i < apps.length; i += BATCH) {
      const started = this.deps.clock.now();
      const results = await Promise.allSettled(apps.slice(i, i + BATCH).map((a) => this.#one(a)));
      failure ??= results.find((r) => r.status === 'rejected')?.reason;
      if (rate !== undefined && i + BATCH < apps.length) {
        const due = (BATCH / rate) * 1000 - (this.deps.clock.now() - started);
        if (due > 0) await this.deps.clock.sleep(due, signal);
      }
    }
    this.#setReachable(failure === undefined, failure);
    if (failure === undefined) {
      this.#warmed = true;
      this.#failures = 0;
    } else {
      this.#failures += 1;
      await this.#stableFallbacks();
    }
  }

  /** Degraded mode: no lock, no leader; a stable token about to expire is fetched normally. */
  async #stableFallbacks(): Promise<void> {
    const now = this.deps.clock.now();
    const due = this.deps.apps.list().filter((app) => {
      const cached = this.deps.cache.get(app.appId);
      return (
        app.mode === 'stable' && (!cached || cached.expiresAt - now <= this.deps.stableFallbackMs)
      );
    });
    await Promise.allSettled(due.map((app) => this.deps.stableFallback(app)));
  }

  async #one(app: AppConfig): Promise<void> {
    const stored = await this.deps.store.read(app.appId);
    if (stored) this.deps.cache.offer(stored.current);
    const cached = this.deps.cache.get(app.appId);
    // Behind also on the same generation holding an earlier value (see `supersedes`).
    const behind = !stored || (cached !== undefined && supersedes(cached, stored.current));
    // Same generation, our value fetched later: only this replica knows of it, leader or not.
    const tie = stored !== null && cached?.generation === stored.current.generation;
    const mayRepair =
      this.deps.isLeader() || this.deps.holdsUnstored?.(app.appId) === true || (behind && tie);
    if (behind && mayRepair && isLive(cached, this.deps.clock.now())) {
      if (await this.deps.repair(app)) {
        this.deps.log(
          'warn',
          { appId: app.appId, generation: cached!.generation },
          'store had lost the token record; rewrote it from cache',
        );
      }
    }
  }

  #setReachable(reachable: boolean, err: unknown): void {
    const before = this.#reachable;
    if (reachable === before) return;
    this.#reachable = reachable;
    if (reachable && before === false) this.#recoveredAt = this.deps.clock.now();
    if (reachable && before === undefined) return; // the first pass: nothing to announce
    if (reachable)
      this.deps.log('info', {}, 'store reachable again; caches converge to the highest generation');
    else
      this.deps.log(
        'warn',
        { err },
        'store unreachable: serving cached tokens; no classic fetch without the lock',
      );
  }
}
