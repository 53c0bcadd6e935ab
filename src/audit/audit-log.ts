/**
 * The audit trail (issue 6): every ForceRefresh and every admin call, refused ones included.
 * Events never carry a token, a secret or a session key: a stale token appears only as its
 * fingerprint inside `detail`.
 */
export interface AuditEvent {
  /** Unique per event: copies read back from several Redis nodes collapse on it. */
  readonly id: string;
  /** Epoch milliseconds. */
  readonly at: number;
  readonly caller: string;
  /** '' for calls not about one app. */
  readonly appId: string;
  readonly action: AuditAction;
  readonly reason: string;
  /** The gRPC status code name of the answer. */
  readonly result: string;
  readonly detail: string;
  /** host:pid of the replica that answered. */
  readonly replica: string;
}

export type AuditAction =
  | 'force_refresh'
  | 'operator_refresh'
  | 'list_apps'
  | 'list_audit_events'
  /** RecoverAuthorizers: a third-party platform's refresh tokens rebuilt from WeChat. */
  | 'recover_authorizers';

export interface AuditQuery {
  /** Only events about this app. */
  readonly appId?: string;
  /** Keep only the events this predicate accepts (what the caller may see). */
  readonly visible?: (event: AuditEvent) => boolean;
  /**
   * The only apps whose events can be visible (a scoped admin's apps): a store with a per-app
   * index reads just those instead of scanning the whole trail for a few matches.
   */
  readonly apps?: readonly string[];
  readonly limit: number;
}

/** Where audit events are kept: a capped Redis stream, or a ring in memory (embedded store). */
export interface AuditLog {
  /** Resolves when stored; rejects when it could not be (the caller logs and counts that). */
  append(event: AuditEvent): Promise<void>;
  /** Newest first. */
  list(query: AuditQuery): Promise<AuditEvent[]>;
}

export function matches(event: AuditEvent, query: AuditQuery): boolean {
  if (query.appId !== undefined && event.appId !== query.appId) return false;
  return query.visible ? query.visible(event) : true;
}
