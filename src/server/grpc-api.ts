import * as grpc from '@grpc/grpc-js';
import type { AuditLog } from '../audit/audit-log.js';
import { createCallGuard } from '../auth/call-guard.js';
import type { Config } from '../config/config.js';
import { GrpcServer } from '../grpc/grpc-server.js';
import type { LoginService } from '../login/login-service.js';
import type { WxtokenMetrics } from '../metrics/wxtoken-metrics.js';
import type { TicketService } from '../service/ticket-service.js';
import type { TokenService } from '../service/token-service.js';
import type { Logger } from '../shared/logger.js';
import type { CallPolicy } from './call-policy.js';
import type { ComponentService } from '../component/component-service.js';

export interface GrpcApiDeps {
  readonly config: Config;
  readonly metrics: WxtokenMetrics;
  readonly log: Logger;
  readonly policy: CallPolicy;
  readonly auditLog: AuditLog;
  readonly tokens: TokenService;
  readonly tickets: TicketService;
  readonly login: LoginService;
  /** ComponentService, when `components[]` is configured. */
  readonly components?: ComponentService;
}

/**
 * The gRPC front door with everything a call passes through: authentication and scopes
 * (auth.callers), per-caller and per-session rate limits (limits.*), the audit trail, and
 * the per-method metrics.
 */
export function createGrpcApi(d: GrpcApiDeps): GrpcServer {
  const { config, metrics, policy } = d;
  return new GrpcServer(d.tokens, d.tickets, d.login, {
    ...(config.tls ? { tls: config.tls } : {}),
    guard: createCallGuard(policy.authorizer, policy.limiter, policy.handleLimiter),
    auditLog: d.auditLog,
    audit: policy.audit,
    canUseApp: (caller, appId) => policy.authorizer.canUseApp(caller, appId),
    observer: {
      onCallEnd: (method, code, ms) => metrics.onCallEnd(method, grpc.status[code]!, ms),
    },
    listen: config.grpc.listen,
    maxRequestBytes: config.grpc.maxRequestBytes,
    limits: config.grpc,
    log: d.log,
    ...(d.components ? { components: d.components } : {}),
  });
}
