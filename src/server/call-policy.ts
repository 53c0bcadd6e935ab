import type { AuditLog } from '../audit/audit-log.js';
import { Authorizer } from '../auth/authorizer.js';
import { SESSION_CALLS } from '../auth/call-guard.js';
import { CallerRateLimiter } from '../auth/caller-rate-limiter.js';
import type { Config } from '../config/config.js';
import { createRpcAuditor, type CallAuditor } from '../grpc/rpc-audit.js';
import { UnauthenticatedRefusals } from '../grpc/unauthenticated-refusals.js';
import type { WxtokenMetrics } from '../metrics/wxtoken-metrics.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';

export interface CallPolicy {
  readonly authorizer: Authorizer;
  /** Per caller and method (limits.*): shared by gRPC and the gateway. */
  readonly limiter: CallerRateLimiter;
  /** Per login session handle. */
  readonly handleLimiter: CallerRateLimiter;
  readonly audit: CallAuditor;
}

/**
 * Who may call, how often, and what is audited: one policy for every front door (gRPC and the
 * HTTP gateway), so a caller's budget is the same whichever way it comes in.
 */
export function createCallPolicy(d: {
  readonly config: Config;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: WxtokenMetrics;
  readonly auditLog: AuditLog;
  /** The platform an app is an authorizer of, for callers' `component:<id>/*`. */
  readonly componentOf?: (appId: string) => string | undefined;
}): CallPolicy {
  const { config, clock, log, metrics } = d;
  const { limits } = config;
  const sessionCalls = {
    perSecond: limits.sessionCallsPerSecond,
    burst: limits.sessionCallsPerSecond,
  };
  const limiter = new CallerRateLimiter(clock, {
    ForceRefresh: {
      perSecond: limits.forceRefreshPerMinute / 60,
      burst: limits.forceRefreshPerMinute,
    },
    Code2Session: { perSecond: limits.code2SessionPerSecond, burst: limits.code2SessionPerSecond },
    CheckSession: sessionCalls,
    ResetSessionKey: sessionCalls,
  });
  const perSession = {
    perSecond: limits.perSessionPerMinute / 60,
    burst: limits.perSessionPerMinute,
  };
  const handleLimiter = new CallerRateLimiter(
    clock,
    { [SESSION_CALLS]: perSession },
    100_000,
    'session',
  );
  const audit = createRpcAuditor({
    log,
    clock,
    auditLog: d.auditLog,
    onRecorded: (e) => metrics.onAudit(e.action, e.result),
    onWriteFailed: () => metrics.onAuditWriteFailed(),
    unauthenticated: new UnauthenticatedRefusals({
      log,
      now: () => performance.now(),
      onRefused: (method) => metrics.onUnauthenticated(method),
    }),
  });
  const authorizer = new Authorizer(config.auth.callers, d.componentOf);
  return { authorizer, limiter, handleLimiter, audit };
}
