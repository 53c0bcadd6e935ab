import type { Token } from './generated/wxtoken/v1/Token.js';
import type { Timestamp } from './generated/google/protobuf/Timestamp.js';
import type { AppStatus } from './generated/wxtoken/v1/AppStatus.js';
import type { AuditEvent as ProtoAuditEvent } from './generated/wxtoken/v1/AuditEvent.js';
import type { AuditEvent } from '../audit/audit-log.js';
import type { CredentialRecord, TokenRecord } from '../token/token.js';
import { operatorHint } from '../wechat/wechat-error.js';
import type { AppStatusView } from '../refresher/app-status-book.js';
import { TICKET_KIND_NAMES } from '../refresher/ticket-kind.js';
import type { AppStatusReport } from '../service/token-service.js';
import type { TicketStatusReport } from '../service/ticket-service.js';
import type { TicketType } from '../shared/tickets.js';
import type { CredentialStatus } from './generated/wxtoken/v1/CredentialStatus.js';
import type { Ticket } from './generated/wxtoken/v1/Ticket.js';
import type { TicketType as ProtoTicketType } from './generated/wxtoken/v1/TicketType.js';

export function toTimestamp(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/**
 * A fresh message per call: GetToken's serializer writes it directly (reply-encoding.ts), so
 * nothing is kept per record.
 */
export function toProtoToken(t: TokenRecord): Token {
  return {
    app_id: t.appId,
    access_token: t.value,
    expires_at: toTimestamp(t.expiresAt),
    fetched_at: toTimestamp(t.fetchedAt),
    generation: String(t.generation),
  };
}

const PROTO_TICKET_TYPES: Readonly<Record<TicketType, ProtoTicketType>> = {
  jsapi: 'TICKET_TYPE_JSAPI',
  wx_card: 'TICKET_TYPE_WX_CARD',
};

export function toProtoTicket(t: CredentialRecord, type: TicketType): Ticket {
  return {
    app_id: t.appId,
    type: PROTO_TICKET_TYPES[type],
    ticket: t.value,
    expires_at: toTimestamp(t.expiresAt),
    fetched_at: toTimestamp(t.fetchedAt),
    generation: String(t.generation),
  };
}

export const STATE = {
  warming: 'APP_STATE_WARMING',
  healthy: 'APP_STATE_HEALTHY',
  degraded: 'APP_STATE_DEGRADED',
  unavailable: 'APP_STATE_UNAVAILABLE',
  config_error: 'APP_STATE_CONFIG_ERROR',
  quota_exhausted: 'APP_STATE_QUOTA_EXHAUSTED',
} as const;

/** Status only: no token or ticket value is copied (design.md ListApps). */
export function toProtoAppStatus(
  s: AppStatusReport,
  tickets: readonly TicketStatusReport[] = [],
): AppStatus {
  return {
    app_id: s.appId,
    mode: s.mode === 'classic' ? 'APP_MODE_CLASSIC' : 'APP_MODE_STABLE',
    ...credentialFields(s),
    force_budget_remaining: s.forceBudgetRemaining,
    leader: s.leader,
    store: s.store,
    store_topology: s.storeTopology,
    store_primary: s.storePrimary,
    tickets: tickets.map(toProtoCredentialStatus),
  };
}

function toProtoCredentialStatus(t: TicketStatusReport): CredentialStatus {
  return { kind: TICKET_KIND_NAMES[t.type], ...credentialFields(t) };
}

/** What every credential's status reports, whatever its kind. */
function credentialFields(s: AppStatusView) {
  return {
    state: STATE[s.state],
    expires_at: s.token ? toTimestamp(s.token.expiresAt) : null,
    generation: String(s.token?.generation ?? 0),
    last_refresh_at: s.lastRefreshAt !== undefined ? toTimestamp(s.lastRefreshAt) : null,
    last_error: s.lastError
      ? {
          errcode: s.lastError.error.errcode ?? 0,
          errmsg: s.lastError.error.message,
          at: toTimestamp(s.lastError.at),
          kind: s.lastError.error.kind,
          hint: operatorHint(s.lastError.error) ?? '',
        }
      : null,
    next_refresh_at: s.nextRefreshAt !== undefined ? toTimestamp(s.nextRefreshAt) : null,
    fetches_today: s.fetchesToday,
  };
}

export function toProtoAuditEvent(e: AuditEvent): ProtoAuditEvent {
  return {
    id: e.id,
    at: toTimestamp(e.at),
    caller: e.caller,
    app_id: e.appId,
    action: e.action,
    reason: e.reason,
    result: e.result,
    detail: e.detail,
    replica: e.replica,
  };
}
