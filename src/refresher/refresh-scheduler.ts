import type { AppConfig } from '../config/config.js';
import type { Clock, Random } from '../shared/clock.js';
import { isLive, type TokenRecord } from '../token/token.js';
import type { TokenCache } from '../token/token-cache.js';
import { isWeChatError } from '../wechat/wechat-error.js';
import type { AppStatusBook } from './app-status-book.js';
import { nextRefreshAt, retryDelayMs, type RefreshPolicy } from './refresh-policy.js';
import type { TokenRefresher } from './token-refresher.js';

export interface SchedulerDeps {
  readonly clock: Clock;
  readonly random: Random;
  readonly apps: readonly AppConfig[];
  readonly cache: TokenCache;
  readonly refresher: Pick<TokenRefresher, 'refresh'>;
  readonly status: AppStatusBook;
  readonly policy: RefreshPolicy & { readonly configErrorRetryMs: number };
  readonly log?: (level: 'info' | 'warn' | 'error', obj: object, msg: string) => void;
}

/**
 * The leader's refresh-ahead schedule (invariant 4): one loop per app that sleeps until
 * the policy says to refresh, refreshes, and on failure retries with capped backoff while
 * the current token keeps being served. It runs only under the leadership signal and
 * stops the moment that signal aborts (invariant 7).
 *
 * A loop wakes early when a new token reaches the cache (a forced refresh, another
 * replica's write) or when `wake` is called (day turn, operator action).
 */
export class RefreshScheduler {
  readonly #wakers = new Map<string, AbortController>();

  constructor(private readonly deps: SchedulerDeps) {}

  /** Runs every app's loop until `signal` aborts; resolves once all loops have stopped. */
  async run(signal: AbortSignal): Promise<void> {
    const unsubscribes = this.deps.apps.map((app) =>
      this.deps.cache.subscribe(app.appId, () => this.wake(app.appId)),
    );
    try {
      await Promise.all(this.deps.apps.map((app) => this.#loop(app, signal)));
    } finally {
      for (const u of unsubscribes) u();
      for (const app of this.deps.apps) this.deps.status.setNextRefreshAt(app.appId, undefined);
    }
  }

  /** Re-plans one app (or all) now. */
  wake(appId?: string): void {
    if (appId === undefined) {
      for (const id of [...this.#wakers.keys()]) this.wake(id);
      return;
    }
    this.#wakers.get(appId)?.abort();
  }

  async #loop(app: AppConfig, signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      const delay = this.#plan(app, attempt);
      const at = this.deps.clock.now() + delay;
      this.deps.status.setNextRefreshAt(app.appId, Number.isFinite(delay) ? at : undefined);
      const woken = await this.#sleep(app.appId, delay, signal);
      if (signal.aborted) return;
      if (woken) {
        // Re-plan from the new facts; a token written meanwhile ends the backoff.
        if (!this.deps.status.isFailing(app.appId)) attempt = 0;
        continue;
      }
      attempt = await this.#attempt(app, attempt);
    }
  }

  /** How long to wait before the next attempt, from the cached token and the failure state. */
  #plan(app: AppConfig, attempt: number): number {
    const { clock, cache, status, policy, random } = this.deps;
    const now = clock.now();
    const token = cache.get(app.appId);
    const blocking = status.blockingKind(app.appId);
    // 45009: WeChat refuses until its day turns; waking at the day turn is the caller's job.
    if (blocking === 'quota') return Infinity;
    if (blocking === 'config') return policy.configErrorRetryMs;
    if (attempt > 0) {
      return retryDelayMs(attempt, policy, random, token ? token.expiresAt - now : undefined);
    }
    if (!isLive(token, now)) return 0;
    return Math.max(0, nextRefreshAt(token, app.mode, policy, random) - now);
  }

  /** One refresh attempt; returns the next attempt number (0 after a real success). */
  async #attempt(app: AppConfig, attempt: number): Promise<number> {
    const token: TokenRecord | undefined = this.deps.cache.get(app.appId);
    const trigger = token ? 'schedule' : 'startup';
    try {
      const result = await this.deps.refresher.refresh(
        app,
        trigger,
        token ? { ifGeneration: token.generation } : {},
      );
      // Stable mode before WeChat's rotation window: same token back. Try again soon,
      // with backoff, rather than treating it as done.
      return result.outcome === 'unchanged' ? attempt + 1 : 0;
    } catch (err) {
      if (!isWeChatError(err)) {
        this.deps.log?.('error', { appId: app.appId, err }, 'refresh failed unexpectedly');
      }
      return attempt + 1;
    }
  }

  /** Sleeps `ms`; returns true when woken early (not when the signal aborted). */
  async #sleep(appId: string, ms: number, signal: AbortSignal): Promise<boolean> {
    const waker = new AbortController();
    this.#wakers.set(appId, waker);
    const both = AbortSignal.any([signal, waker.signal]);
    try {
      if (ms === Infinity) {
        await new Promise<void>((_, reject) =>
          both.addEventListener('abort', () => reject(both.reason), { once: true }),
        );
      } else {
        await this.deps.clock.sleep(ms, both);
      }
      return false;
    } catch {
      return !signal.aborted && waker.signal.aborted;
    } finally {
      if (this.#wakers.get(appId) === waker) this.#wakers.delete(appId);
    }
  }
}
