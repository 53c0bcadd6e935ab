import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import type { AuditAction, AuditEvent, AuditLog } from '../audit/audit-log.js';
import type { Caller } from '../auth/authorizer.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { fingerprint } from '../shared/secret.js';
import type { UnauthenticatedRefusals } from './unauthenticated-refusals.js';

/** One finished unary call, as the boundary reports it to the auditor. */
export interface FinishedCall {
  readonly method: string;
  readonly request: unknown;
  readonly caller: Caller;
  readonly code: grpc.status;
  readonly details: string;
  readonly reply?: unknown;
  /** The peer address, given for refused calls. */
  readonly peer?: string;
}

export type CallAuditor = (call: FinishedCall) => void;

export interface RpcAuditDeps {
  readonly log: Logger;
  readonly auditLog: AuditLog;
  readonly clock: Clock;
  readonly onRecorded?: (event: AuditEvent) => void;
  readonly onWriteFailed?: (err: unknown) => void;
  /** Where unauthenticated refusals go instead of the trail. */
  readonly unauthenticated: UnauthenticatedRefusals;
}

/** What gets audited: ForceRefresh (operator or compare-and-refresh) and every admin method. */
const ACTIONS: Readonly<Record<string, (req: Req) => AuditAction>> = {
  ForceRefresh: (req) => (req.stale_token ? 'force_refresh' : 'operator_refresh'),
  ListApps: () => 'list_apps',
  ListAuditEvents: () => 'list_audit_events',
  RecoverAuthorizers: () => 'recover_authorizers',
};

interface Req {
  readonly app_id?: unknown;
  readonly stale_token?: unknown;
  readonly reason?: unknown;
}

/**
 * Turns finished calls into audit events: one `audit` log line each, and the event appended to
 * the audit log without holding the call (a failed append is logged and counted, never turned
 * into a failed call: the refresh already happened).
 */
export function createRpcAuditor(deps: RpcAuditDeps): CallAuditor {
  const replica = `${hostname()}:${process.pid}`;
  return (call) => {
    // Nobody was authenticated: nothing an attacker sends may displace real events.
    if (call.code === grpc.status.UNAUTHENTICATED) {
      deps.unauthenticated.note(call.method, call.peer, call.details);
      return;
    }
    const action = ACTIONS[call.method];
    if (!action) return;
    const req = (call.request ?? {}) as Req;
    const event: AuditEvent = {
      id: randomBytes(12).toString('base64url'),
      at: deps.clock.now(),
      caller: call.caller.name,
      appId: text(req.app_id, 64),
      action: action(req),
      reason: text(req.reason, 512),
      result: grpc.status[call.code] ?? String(call.code),
      detail: detail(call, req),
      replica,
    };
    deps.log.info({ audit: event }, 'audit');
    deps.onRecorded?.(event);
    deps.auditLog.append(event).catch((err: unknown) => {
      deps.onWriteFailed?.(err);
      deps.log.warn({ err, auditId: event.id }, 'audit event not stored (it is in this log)');
    });
  };
}

function detail(call: FinishedCall, req: Req): string {
  const stale =
    typeof req.stale_token === 'string' && req.stale_token !== ''
      ? `stale token ${fingerprint(req.stale_token)}; `
      : '';
  if (call.code !== grpc.status.OK) return stale + text(call.details, 256);
  const reply = call.reply as
    | { refreshed?: boolean; token?: { generation?: unknown } | null }
    | { apps?: unknown[] }
    | { events?: unknown[] }
    | undefined;
  if (call.method === 'ForceRefresh' && reply && 'token' in reply) {
    const generation = String(reply.token?.generation ?? '?');
    return `${stale}${reply.refreshed ? 'refreshed' : 'unchanged'}, generation ${generation}`;
  }
  if (reply && 'apps' in reply) return `${reply.apps?.length ?? 0} apps`;
  if (reply && 'events' in reply) return `${reply.events?.length ?? 0} events`;
  return stale.replace(/; $/, '');
}

function text(value: unknown, max: number): string {
  return typeof value === 'string' ? value.slice(0, max) : '';
}
