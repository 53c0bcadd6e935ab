import type { AppMode } from '../config/config.js';
import type { Clock } from '../shared/clock.js';
import { RefreshRateLimitedError } from '../shared/errors.js';
import { beijingDayKey, nextBeijingMidnight } from './refresh-policy.js';

export interface ForceLimits {
  readonly forceMinIntervalMs: number;
  readonly forceDailyBudget: number;
}

/** WeChat's own limits on stable_token force_refresh (wechat-api.md §2). */
const STABLE_FORCE_MIN_INTERVAL_MS = 30_000;
const STABLE_FORCE_DAILY_LIMIT = 20;

interface Usage {
  day: number;
  used: number;
  /** Monotonic time of the last forced fetch (the minimum interval never follows a wall-clock step). */
  lastAt: number;
}

/**
 * The forced-fetch budget as the refresher uses it. Embedded: ForceBudget below, in memory.
 * With Redis: one budget for the whole cluster (src/redis/redis-force-budget.ts), so N
 * replicas do not allow N times the quota a day.
 */
export interface ForceBudgetPort {
  /** Rejects with RefreshRateLimitedError when a forced fetch is not allowed now. */
  check(appId: string, mode: AppMode): Promise<void>;
  consume(appId: string, mode: AppMode): Promise<void>;
  /** Forced fetches left today (as far as this replica knows: for status displays). */
  remaining(appId: string, mode: AppMode): number;
  /** Drops what is kept of an app that left (an authorizer that unauthorized). */
  forget(appId: string): void;
}

/** The limits of one app's mode: stable apps never go beyond WeChat's 20/day, 30 s. */
export function forceLimitsFor(
  limits: ForceLimits,
  mode: AppMode,
): { minIntervalMs: number; daily: number } {
  return mode === 'stable'
    ? {
        minIntervalMs: Math.max(limits.forceMinIntervalMs, STABLE_FORCE_MIN_INTERVAL_MS),
        daily: Math.min(limits.forceDailyBudget, STABLE_FORCE_DAILY_LIMIT),
      }
    : { minIntervalMs: limits.forceMinIntervalMs, daily: limits.forceDailyBudget };
}

/**
 * Per-app rate limit on forced fetches (invariant 6), protecting WeChat's daily quota from
 * a misbehaving caller: a minimum interval between forced fetches and a daily budget that
 * rolls over at midnight Beijing time. Stable apps never go beyond WeChat's 20/day, 30 s.
 */
export class ForceBudget implements ForceBudgetPort {
  readonly #usage = new Map<string, Usage>();

  constructor(
    private readonly limits: ForceLimits,
    /** Wall time picks the Beijing day; the monotonic clock measures the minimum interval. */
    private readonly clock: Pick<Clock, 'now' | 'monotonic'>,
  ) {}

  limitsFor(mode: AppMode): { minIntervalMs: number; daily: number } {
    return forceLimitsFor(this.limits, mode);
  }

  async check(appId: string, mode: AppMode): Promise<void> {
    const { minIntervalMs, daily } = this.limitsFor(mode);
    const now = this.clock.now();
    const u = this.#current(appId, now);
    if (u.used >= daily) {
      throw new RefreshRateLimitedError(appId, 'daily_budget', nextDayIn(now));
    }
    const wait = u.lastAt + minIntervalMs - this.clock.monotonic();
    if (u.used > 0 && wait > 0) throw new RefreshRateLimitedError(appId, 'min_interval', wait);
  }

  async consume(appId: string): Promise<void> {
    const u = this.#current(appId, this.clock.now());
    u.used++;
    u.lastAt = this.clock.monotonic();
  }

  forget(appId: string): void {
    this.#usage.delete(appId);
  }

  /** Apps with a forced fetch counted (bounded by the apps served: departed ones are forgotten). */
  get tracked(): number {
    return this.#usage.size;
  }

  /** Reading makes no entry: a scrape asks this of every app, most of which never force. */
  remaining(appId: string, mode: AppMode): number {
    const u = this.#usage.get(appId);
    const used = u && u.day === beijingDayKey(this.clock.now()) ? u.used : 0;
    return Math.max(0, this.limitsFor(mode).daily - used);
  }

  #current(appId: string, now: number): Usage {
    const day = beijingDayKey(now);
    let u = this.#usage.get(appId);
    if (!u) {
      u = { day, used: 0, lastAt: 0 };
      this.#usage.set(appId, u);
    }
    if (u.day !== day) {
      u.day = day;
      u.used = 0;
    }
    return u;
  }
}

/** Milliseconds until the Beijing day turns. */
export function nextDayIn(now: number): number {
  return nextBeijingMidnight(now) - now;
}
