import type { AppMode } from '../config/config.js';
import type { Random } from '../shared/clock.js';

/** The timing knobs of refresh-ahead (config `refresh.*`). */
export interface RefreshPolicy {
  readonly aheadSeconds: number;
  readonly stableWindowSeconds: number;
  readonly jitterRatio: number;
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
}

export interface TokenTimes {
  readonly expiresAt: number;
  readonly fetchedAt: number;
}

/**
 * When to refresh a token (invariant 4). Pure: same inputs, same answer.
 *
 * classic: when `aheadSeconds` of life remain, minus up to `jitterRatio` of that window so
 *   a fleet of apps does not refresh in one wave. The window is capped at half the token's
 *   lifetime: WeChat may shorten expires_in, and a window longer than the lifetime would
 *   refresh in a tight loop.
 * stable: WeChat hands out a new stable token only inside its last `stableWindowSeconds`;
 *   a normal-mode call earlier returns the same token. So aim inside the window, at 80 %
 *   of it (minus jitter), which leaves most of the window for retries and keeps clear of
 *   the boundary where our expires_at (measured from the send time) and WeChat's differ.
 */
export function nextRefreshAt(
  token: TokenTimes,
  mode: AppMode,
  policy: RefreshPolicy,
  random: Random,
): number {
  const lifetime = Math.max(0, token.expiresAt - token.fetchedAt);
  if (mode === 'classic') {
    const ahead = Math.min(policy.aheadSeconds * 1000, lifetime / 2);
    return token.expiresAt - ahead - random() * policy.jitterRatio * ahead;
  }
  const window = Math.min(policy.stableWindowSeconds * 1000, lifetime);
  const target = window * (0.8 - 0.3 * policy.jitterRatio * random());
  return token.expiresAt - target;
}

/**
 * Delay before retry number `attempt` (1-based) after a failed refresh: capped exponential
 * backoff with jitter in [50 %, 100 %]. When a live token remains, the delay is also capped
 * at half the remaining life so retries keep happening before expiry instead of sleeping
 * past it (Vault's lifetime watcher does the same).
 */
export function retryDelayMs(
  attempt: number,
  policy: RefreshPolicy,
  random: Random,
  remainingMs?: number,
): number {
  const exp = policy.retryMinMs * 2 ** Math.max(0, Math.min(attempt - 1, 30));
  const capped = Math.min(policy.retryMaxMs, exp);
  let delay = capped * (0.5 + 0.5 * random());
  if (remainingMs !== undefined && remainingMs > 0) {
    delay = Math.min(delay, Math.max(policy.retryMinMs / 2, remainingMs / 2));
  }
  return delay;
}

/** The WeChat quota day: counters roll over at 00:00 Asia/Shanghai (UTC+8, no DST). */
export function beijingDayKey(now: number): number {
  return Math.floor((now + 8 * 3_600_000) / 86_400_000);
}

/** The next 00:00 Asia/Shanghai after `now`. */
export function nextBeijingMidnight(now: number): number {
  return (beijingDayKey(now) + 1) * 86_400_000 - 8 * 3_600_000;
}
