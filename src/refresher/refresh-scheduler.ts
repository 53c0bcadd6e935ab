import type { AppSet } from '../apps/app-directory.js';
import type { AppConfig } from '../config/config.js';
import type { Clock, Random, TimerHandle } from '../shared/clock.js';
import { isLive, type TokenRecord } from '../token/token.js';
import type { TokenCache } from '../token/token-cache.js';
import { isWeChatError } from '../wechat/wechat-error.js';
import type { AppStatusBook } from './app-status-book.js';
import { DueQueue } from './due-queue.js';
import { nextRefreshAt, retryDelayMs, type RefreshPolicy } from './refresh-policy.js';
import type { CredentialRefresher } from './credential-refresher.js';

export interface SchedulerDeps {
  readonly clock: Clock;
  readonly random: Random;
  /** The apps to keep refreshed; apps that join during a term are planned at once. */
  readonly apps: AppSet;
  readonly cache: TokenCache;
  readonly refresher: Pick<CredentialRefresher, 'refresh'>;
  /**
   * Scheduled attempts in flight at once, across all apps. Due apps beyond it wait, earliest
   * due first: a startup wave (every app at once) becomes a steady stream of this many.
   */
  readonly maxConcurrentFetches: number;
  readonly status: AppStatusBook;
  readonly policy: RefreshPolicy & { readonly configErrorRetryMs: number };
  readonly log?: (level: 'info' | 'warn' | 'error', obj: object, msg: string) => void;
}

/**
 * The state of one `run` (one term of leadership). Per app it holds only map entries keyed by
 * appId, no object of its own: with 100,000 authorizers a plan object per app was 100,000 more
 * heap objects for every major GC to mark.
 */
interface Run {
  readonly signal: AbortSignal;
  /**
   * The apps of this run: appId -> its join number (`joins` when it joined), so an app that
   * left and came back while an attempt ran is told apart. Configs are read from `deps.apps`
   * when needed, not held: a platform's authorizers have none of their own (app-directory.ts).
   */
  readonly apps: Map<string, number>;
  joins: number;
  /** Failed attempts in a row, for apps that have any (absent: 0): drives the backoff. */
  readonly attempts: Map<string, number>;
  /** Apps whose attempt runs now (they are then out of the due queue), with the config it runs. */
  readonly running: Map<string, AppConfig>;
  /** Idle apps (appIds) by the time their next attempt is due. */
  readonly due: DueQueue<string>;
  timer: TimerHandle | undefined;
  /** When `timer` fires (Infinity when none is armed). */
  armedAt: number;
  /** Attempts of this run in flight. */
  busy: number;
  /** Called once leadership has ended and the last running attempt has settled. */
  onIdle: (() => void) | undefined;
}

/** Node timers overflow above 2^31 - 1 ms (~24.8 days) and fire at once; wake up and re-plan. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Holds back the scheduled fetch of a still-live token until `until()` (see
 * StoreReconciler.fetchHoldUntil), but never so late that the token would expire before a
 * fetch of `fetchMs` completes.
 */
export interface FetchHold {
  readonly until: () => number;
  readonly fetchMs: number;
}

/**
 * The leader's refresh-ahead schedule (invariant 4): each app is refreshed when the policy
 * says so; on failure it is retried with capped backoff while the current token keeps being
 * served. It runs only under the leadership signal and stops the moment that signal aborts
 * (invariant 7).
 *
 * Idle apps wait in one queue ordered by due time, under a single timer for the earliest,
 * so 10,000 apps cost 10,000 small queue entries rather than 10,000 sleeping timers, promise
 * chains and abort signals. At most `maxConcurrentFetches` attempts run at once; due apps
 * beyond that stay queued, earliest due first, and start as running ones finish. Unbounded,
 * a 10,000-app startup opened 10,000 upstream connections at once.
 *
 * An app is re-planned early when a new token reaches the cache (a forced refresh, another
 * replica's write) or when `wake` is called (day turn, operator action).
 */
export class RefreshScheduler {
  readonly #runs = new Set<Run>();
  #hold: FetchHold | undefined;
  /** Attempts in flight across runs (a new term may start while the last one drains). */
  #inFlight = 0;

  constructor(private readonly deps: SchedulerDeps) {
    const max = deps.maxConcurrentFetches;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`maxConcurrentFetches must be a positive integer, got ${max}`);
    }
  }

  /** Installs the hold after a store outage (Redis topologies; the embedded store never fails). */
  setFetchHold(hold: FetchHold): void {
    this.#hold = hold;
  }

  /** How long the scheduled fetch of `token` is held back now (0: not held). */
  #heldMs(token: TokenRecord | undefined, now: number): number {
    if (!this.#hold || !isLive(token, now)) return 0;
    const until = Math.min(this.#hold.until(), token.expiresAt - this.#hold.fetchMs);
    return Math.max(0, until - now);
  }

  /** Runs the schedule until `signal` aborts; resolves once running attempts have settled. */
  async run(signal: AbortSignal): Promise<void> {
    const { apps, cache, status } = this.deps;
    if (signal.aborted) return;
    const run: Run = {
      signal,
      apps: new Map(),
      joins: 0,
      attempts: new Map(),
      running: new Map(),
      due: new DueQueue(),
      timer: undefined,
      armedAt: Infinity,
      busy: 0,
      onIdle: undefined,
    };
    for (const app of apps.list()) run.apps.set(app.appId, run.joins++);
    this.#runs.add(run);
    const unsubscribes = [
      cache.subscribeAll((token) => this.wake(token.appId)),
      apps.subscribe({
        added: (app) => {
          if (signal.aborted || run.apps.has(app.appId)) return;
          run.apps.set(app.appId, run.joins++);
          this.#schedule(run, app);
          this.#pump(run);
        },
        removed: (app) => {
          if (!run.apps.delete(app.appId)) return;
          run.attempts.delete(app.appId);
          run.due.delete(app.appId);
          status.setNextRefreshAt(app.appId, undefined);
        },
      }),
    ];
    try {
      for (const appId of run.apps.keys()) {
        const app = this.#appOf(run, appId);
        if (app) this.#schedule(run, app);
      }
      await new Promise<void>((resolve) => {
        signal.addEventListener(
          'abort',
          () => {
            this.#disarm(run);
            run.due.clear();
            if (run.busy === 0) resolve();
            else run.onIdle = resolve;
          },
          { once: true },
        );
      });
    } finally {
      this.#runs.delete(run);
      for (const u of unsubscribes) u();
      for (const appId of run.apps.keys()) status.setNextRefreshAt(appId, undefined);
    }
  }

  /** Re-plans one app (or all) now. An app whose attempt is running is re-planned after it. */
  wake(appId?: string): void {
    for (const run of this.#runs) {
      if (run.signal.aborted) continue;
      for (const id of appId === undefined ? run.apps.keys() : [appId]) {
        const app = this.#appOf(run, id);
        if (app) this.#wake(run, app);
      }
    }
  }

  #wake(run: Run, app: AppConfig): void {
    if (run.running.has(app.appId)) return;
    // Re-plan from the new facts; a token written meanwhile ends the backoff.
    if (!this.deps.status.isFailing(app.appId)) run.attempts.delete(app.appId);
    this.#schedule(run, app);
  }

  /** Queues an idle app for its next attempt (not at all while WeChat's quota is spent). */
  #schedule(run: Run, app: AppConfig): void {
    const delay = this.#plan(app, run.attempts.get(app.appId) ?? 0);
    const at = this.deps.clock.now() + delay;
    this.deps.status.setNextRefreshAt(app.appId, Number.isFinite(delay) ? at : undefined);
    if (!Number.isFinite(delay)) {
      run.due.delete(app.appId);
      return;
    }
    run.due.set(app.appId, at);
    if (at < run.armedAt) this.#arm(run, at);
  }

  #arm(run: Run, at: number): void {
    this.#disarm(run);
    const { clock } = this.deps;
    run.armedAt = at;
    run.timer = clock.setTimeout(
      () => this.#fire(run),
      Math.min(MAX_TIMER_MS, Math.max(0, at - clock.now())),
    );
  }

  #disarm(run: Run): void {
    if (run.timer !== undefined) this.deps.clock.clearTimeout(run.timer);
    run.timer = undefined;
    run.armedAt = Infinity;
  }

  #fire(run: Run): void {
    run.timer = undefined;
    run.armedAt = Infinity;
    this.#pump(run);
  }

  /**
   * Starts due attempts while fewer than the maximum are in flight, then sleeps until the next
   * due time. Due apps left over wait for a running attempt to finish (which pumps again).
   */
  #pump(run: Run): void {
    if (run.signal.aborted) return;
    const now = this.deps.clock.now();
    while (this.#inFlight < this.deps.maxConcurrentFetches) {
      const appId = run.due.popDue(now);
      if (appId === undefined) break;
      // Left and came back while its last attempt still runs: planned again when that settles.
      const app = run.running.has(appId) ? undefined : this.#appOf(run, appId);
      if (app) this.#start(run, app);
    }
    const next = run.due.peekAt();
    if (next !== undefined && next > now && next < run.armedAt) this.#arm(run, next);
  }

  #start(run: Run, app: AppConfig): void {
    const { appId } = app;
    const attempt = run.attempts.get(appId) ?? 0;
    const joined = run.apps.get(appId);
    run.running.set(appId, app);
    run.busy++;
    this.#inFlight++;
    void this.#attempt(app, attempt)
      .catch(() => attempt + 1)
      .then((next) => {
        run.running.delete(appId);
        run.busy--;
        this.#inFlight--;
        const current = run.signal.aborted ? undefined : this.#appOf(run, appId);
        if (current !== undefined) {
          // The same app: its backoff goes on. One that left and came back meanwhile starts over.
          if (run.apps.get(appId) === joined && next > 0) run.attempts.set(appId, next);
          else run.attempts.delete(appId);
          this.#schedule(run, current);
        } else if (run.busy === 0) run.onIdle?.();
        // An app that left while its attempt ran is not planned again.
        for (const r of this.#runs) this.#pump(r);
      });
  }

  /** The config of an app of `run`, read from the apps followed (undefined: not in the run). */
  #appOf(run: Run, appId: string): AppConfig | undefined {
    return run.apps.has(appId) ? this.deps.apps.get(appId) : undefined;
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
    return Math.max(this.#heldMs(token, now), nextRefreshAt(token, app.mode, policy, random) - now);
  }

  /** One refresh attempt; returns the next attempt number (0 after a real success). */
  async #attempt(app: AppConfig, attempt: number): Promise<number> {
    const token: TokenRecord | undefined = this.deps.cache.get(app.appId);
    // Held since it was planned (the store failed meanwhile): planned again, same attempt.
    if (this.#heldMs(token, this.deps.clock.now()) > 0) return attempt;
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
}
