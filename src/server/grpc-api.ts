import * as grpc from '@grpc/grpc-js';
import type { AuditLog } from '../audit/audit-log.js';
import { Authorizer } from '../auth/authorizer.js';
import { createCallGuard, SESSION_CALLS } from '../auth/call-guard.js';
import { CallerRateLimiter } from '../auth/caller-rate-limiter.js';
import type { Config } from '../config/config.js';
import { GrpcServer } from '../grpc/grpc-server.js';
import { createRpcAuditor } from '../grpc/rpc-audit.js';
import { UnauthenticatedRefusals } from '../grpc/unauthenticated-refusals.js';
import type { LoginService } from '../login/login-service.js';
import type { WxtokenMetrics } from '../metrics/wxtoken-metrics.js';
import type { TicketService } from '../service/ticket-service.js';
import type { TokenService } from '../service/token-service.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';

export interface GrpcApiDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: WxtokenMetrics;
  readonly auditLog: AuditLog;
  readonly tokens: TokenService;
  readonly tickets: TicketService;
  readonly login: LoginService;
}

/**
 * The gRPC front door with everything a call passes through: authentication and scopes
 * (auth.callers), per-caller and per-session rate limits (limits.*), the audit trail, and
 * the per-method metrics.
 */
export function createGrpcApi(d: GrpcApiDeps): GrpcServer {
  const { config, clock, log, metrics } = d;
  const authorizer = new Authorizer(config.auth.callers);
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
  return new GrpcServer(d.tokens, d.tickets, d.login, {
    ...(config.tls ? { tls: config.tls } : {}),
    guard: createCallGuard(authorizer, limiter, handleLimiter),
    auditLog: d.auditLog,
    audit: createRpcAuditor({
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
    }),
    canUseApp: (caller, appId) => authorizer.canUseApp(caller, appId),
    observer: {
      onCallEnd: (method, code, ms) => metrics.onCallEnd(method, grpc.status[code]!, ms),
    },
    listen: config.grpc.listen,
    maxRequestBytes: config.grpc.maxRequestBytes,
    limits: config.grpc,
    log,
  });
}
