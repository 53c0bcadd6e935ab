import type { Redis } from 'ioredis';
import {
  matches,
  type AuditAction,
  type AuditEvent,
  type AuditLog,
  type AuditQuery,
} from '../audit/audit-log.js';
import { StoreUnavailableError } from '../shared/errors.js';
import type { RedisKeys } from './redis-keys.js';

/** Entries read per XREVRANGE round trip while looking for matching events. */
const PAGE = 500;

/**
 * The cluster's audit trail: one Redis stream capped at `maxEvents` (exact MAXLEN: the audit
 * rate is low, so exact trimming costs nothing and the cap means what it says). Like the other
 * records it is written to every node; an event needs one node to accept it (the trail is a
 * record, not a safety decision), and reads merge every reachable node's copy by event id,
 * so a node that was down during some writes does not hide them.
 */
export class RedisAuditLog implements AuditLog {
  constructor(
    private readonly clients: readonly Redis[],
    private readonly keys: RedisKeys,
    private readonly maxEvents: number,
  ) {}

  async append(event: AuditEvent): Promise<void> {
    const fields = Object.entries(event).flatMap(([k, v]) => [k, String(v)]);
    const results = await Promise.allSettled(
      this.clients.map((c) =>
        c.xadd(this.keys.audit(), 'MAXLEN', String(this.maxEvents), '*', ...fields),
      ),
    );
    if (!results.some((r) => r.status === 'fulfilled')) {
      throw new StoreUnavailableError('append audit event', {
        cause: (results[0] as PromiseRejectedResult | undefined)?.reason,
      });
    }
  }

  async list(query: AuditQuery): Promise<AuditEvent[]> {
    const results = await Promise.allSettled(this.clients.map((c) => this.#listOne(c, query)));
    const answers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    if (answers.length === 0) throw new StoreUnavailableError('list audit events');
    const byId = new Map<string, AuditEvent>();
    for (const events of answers) for (const e of events) byId.set(e.id, e);
    return [...byId.values()]
      .sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1))
      .slice(0, query.limit);
  }

  /** Newest first from one node, paging back until `limit` matches or the stream's start. */
  async #listOne(client: Redis, query: AuditQuery): Promise<AuditEvent[]> {
    const out: AuditEvent[] = [];
    let end = '+';
    for (;;) {
      const page = await client.xrevrange(this.keys.audit(), end, '-', 'COUNT', PAGE);
      for (const [, fields] of page) {
        const event = parse(fields);
        if (event && matches(event, query)) out.push(event);
        if (out.length >= query.limit) return out;
      }
      if (page.length < PAGE) return out;
      end = `(${page[page.length - 1]![0]}`;
    }
  }
}

const ACTIONS: ReadonlySet<string> = new Set<AuditAction>([
  'force_refresh',
  'operator_refresh',
  'list_apps',
  'list_audit_events',
]);

/** An entry back into an event; entries that are not ours (someone XADDed by hand) are skipped. */
function parse(fields: readonly string[]): AuditEvent | undefined {
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
  const at = Number(f.get('at'));
  const id = f.get('id');
  const action = f.get('action');
  if (!id || !Number.isFinite(at) || !action || !ACTIONS.has(action)) return undefined;
  return {
    id,
    at,
    caller: f.get('caller') ?? '',
    appId: f.get('appId') ?? '',
    action: action as AuditAction,
    reason: f.get('reason') ?? '',
    result: f.get('result') ?? '',
    detail: f.get('detail') ?? '',
    replica: f.get('replica') ?? '',
  };
}
