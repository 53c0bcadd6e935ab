import * as z from 'zod';
import { CONFIG_DEFAULTS } from './config-defaults.js';
import { durationMs, durationSeconds, positiveInt, section } from './schema-helpers.js';

/** `lease` (leader election) and `refresh` (when and how often tokens are fetched). */

export const leaseShape = {
  ttlMs: durationMs()
    .default(CONFIG_DEFAULTS.leaseTtlMs)
    .describe('Leader lease lifetime: after a leader dies (SIGKILL), another leads within it.'),
  renewIntervalMs: durationMs()
    .optional()
    .describe(
      'How often the leader extends its lease; default lease.ttlMs / 3, must be less than lease.ttlMs / 2.',
    ),
};
export const refreshShape = {
  aheadSeconds: durationSeconds()
    .default(CONFIG_DEFAULTS.refreshAheadSeconds)
    .describe(
      'Classic apps and tickets: refresh when this much life remains (capped at half the lifetime).',
    ),
  stableWindowSeconds: durationSeconds()
    .default(CONFIG_DEFAULTS.refreshStableWindowSeconds)
    .describe(
      "Stable apps: WeChat rotates only in the token's last N seconds; refresh at about 80 % of it.",
    ),
  jitterRatio: z
    .number()
    .min(0)
    .lt(1)
    .default(CONFIG_DEFAULTS.refreshJitterRatio)
    .describe('Random spread of refresh times, so many apps do not refresh at once.'),
  retryMinMs: durationMs()
    .default(CONFIG_DEFAULTS.refreshRetryMinMs)
    .describe('First retry delay after a failed refresh (doubling; capped exponential backoff).'),
  retryMaxMs: durationMs()
    .default(CONFIG_DEFAULTS.refreshRetryMaxMs)
    .describe('Longest retry delay after failed refreshes.'),
  configErrorRetryMs: durationMs()
    .default(CONFIG_DEFAULTS.refreshConfigErrorRetryMs)
    .describe(
      'Retry delay after a configuration error (wrong secret, IP not whitelisted): no hammering.',
    ),
  forceMinIntervalMs: durationMs()
    .default(CONFIG_DEFAULTS.refreshForceMinIntervalMs)
    .describe('Minimum gap between forced fetches of one app (stable apps: never under 30 s).'),
  forceDailyBudget: positiveInt()
    .default(CONFIG_DEFAULTS.refreshForceDailyBudget)
    .describe('Forced fetches per app per Beijing day (stable apps: at most 20).'),
};

export const leaseSchema = section(leaseShape).transform((lease, ctx) => {
  const renewIntervalMs = lease.renewIntervalMs ?? lease.ttlMs / CONFIG_DEFAULTS.leaseRenewDivisor;
  if (!(renewIntervalMs < lease.ttlMs / 2)) {
    ctx.issues.push({
      code: 'custom',
      message: `must be less than lease.ttlMs / 2 (${lease.ttlMs / 2}), got ${renewIntervalMs}`,
      input: undefined,
      path: ['renewIntervalMs'],
    });
    return z.NEVER;
  }
  return { ttlMs: lease.ttlMs, renewIntervalMs };
});

export const refreshSchema = section(refreshShape).superRefine((refresh, ctx) => {
  if (refresh.retryMinMs > refresh.retryMaxMs) {
    ctx.addIssue({
      code: 'custom',
      message: `must be <= refresh.retryMaxMs (${refresh.retryMaxMs}), got ${refresh.retryMinMs}`,
      input: undefined,
      path: ['retryMinMs'],
    });
  }
});
