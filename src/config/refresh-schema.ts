import * as z from 'zod';
import { CONFIG_DEFAULTS } from './config-defaults.js';
import { durationMs, durationSeconds, positiveInt, section } from './schema-helpers.js';

/** `lease` (leader election) and `refresh` (when and how often tokens are fetched). */

export const leaseShape = {
  ttlMs: durationMs().default(CONFIG_DEFAULTS.leaseTtlMs),
  renewIntervalMs: durationMs().optional(),
};
export const refreshShape = {
  aheadSeconds: durationSeconds().default(CONFIG_DEFAULTS.refreshAheadSeconds),
  stableWindowSeconds: durationSeconds().default(CONFIG_DEFAULTS.refreshStableWindowSeconds),
  jitterRatio: z.number().min(0).lt(1).default(CONFIG_DEFAULTS.refreshJitterRatio),
  retryMinMs: durationMs().default(CONFIG_DEFAULTS.refreshRetryMinMs),
  retryMaxMs: durationMs().default(CONFIG_DEFAULTS.refreshRetryMaxMs),
  configErrorRetryMs: durationMs().default(CONFIG_DEFAULTS.refreshConfigErrorRetryMs),
  forceMinIntervalMs: durationMs().default(CONFIG_DEFAULTS.refreshForceMinIntervalMs),
  forceDailyBudget: positiveInt().default(CONFIG_DEFAULTS.refreshForceDailyBudget),
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
