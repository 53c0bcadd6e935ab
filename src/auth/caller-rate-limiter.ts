import type { Clock } from '../shared/clock.js';
import { CallerRateLimitedError } from '../shared/errors.js';

export interface RateLimit {
  /** Sustained calls per second. */
  readonly perSecond: number;
  /** Calls allowed in a burst. */
  readonly burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Per-caller token buckets for the RPCs that cost WeChat quota or money (ForceRefresh,
 * Code2Session): one misbehaving business server cannot spend what the others need.
 */
export class CallerRateLimiter {
  readonly #buckets = new Map<string, Bucket>();

  constructor(
    private readonly clock: Clock,
    private readonly limits: Readonly<Record<string, RateLimit>>,
  ) {}

  /** Takes one call from the caller's bucket for `method`, or throws CallerRateLimitedError. */
  take(caller: string, method: string): void {
    const limit = this.limits[method];
    if (!limit) return;
    const key = `${caller}\0${method}`;
    // Monotonic: a wall clock stepped back an hour must not block a caller for an hour.
    const now = this.clock.monotonic();
    const b = this.#buckets.get(key) ?? { tokens: limit.burst, at: now };
    b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) / 1000) * limit.perSecond);
    b.at = now;
    if (b.tokens < 1) {
      this.#buckets.set(key, b);
      throw new CallerRateLimitedError(caller, method, ((1 - b.tokens) / limit.perSecond) * 1000);
    }
    b.tokens -= 1;
    this.#buckets.set(key, b);
  }
}
