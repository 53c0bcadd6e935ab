/** Reconnect delays: capped exponential backoff with full jitter (AWS "Exponential Backoff and Jitter"). */
export interface BackoffPolicy {
  /** First ceiling, ms. */
  readonly initialMs: number;
  /** Highest ceiling, ms: no delay is ever longer. */
  readonly maxMs: number;
}

/** The delay before attempt `attempt` (0-based): uniform in [0, min(maxMs, initialMs * 2^attempt)). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(Math.min(Math.max(random(), 0), 1) * ceiling);
}
