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
    /**
     * Buckets kept at once. Callers are few, but subjects such as session handles are chosen
     * by the caller: past the cap the least recently used bucket is forgotten.
     */
    private readonly maxBuckets = 100_000,
    /** How a refusal names the subject ("caller svc-a", "session 1a2b3c4d"). */
    private readonly subject = 'caller',
  ) {}

  /** Takes one call from the caller's bucket for `method`, or throws CallerRateLimitedError. */
  take(caller: string, method: string): void {
    const limit = this.limits[method];
    if (!limit) return;
    const key = `${caller}\0${method}`;
    // Monotonic: a wall clock stepped back an hour must not block a caller for an hour.
    const now = this.clock.monotonic();
    const b = this.#buckets.get(key) ?? { tokens: limit.burst, at: now };
    this.#buckets.delete(key); // re-inserted below: the map's order is least recently used first
    if (this.#buckets.size >= this.maxBuckets) {
      this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) / 1000) * limit.perSecond);
    b.at = now;
    if (b.tokens < 1) {
      this.#buckets.set(key, b);
      const waitMs = ((1 - b.tokens) / limit.perSecond) * 1000;
      throw new CallerRateLimitedError(caller, method, waitMs, this.subject);
    }
    b.tokens -= 1;
    this.#buckets.set(key, b);
  }
}
