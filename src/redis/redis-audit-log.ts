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
    /**
     * Apps that get a per-app index stream. Only configured ones: an app id in a refused
     * request is the caller's choice and must not create keys.
     */
    private readonly isConfigured: (appId: string) => boolean = () => false,
  ) {}

  async append(event: AuditEvent): Promise<void> {
    const fields = Object.entries(event).flatMap(([k, v]) => [k, String(v)]);
    const indexed = event.appId !== '' && this.isConfigured(event.appId);
    const max = String(this.maxEvents);
    const results = await Promise.allSettled(
      this.clients.map((c) => {
        if (!indexed) return c.xadd(this.keys.audit(), 'MAXLEN', max, '*', ...fields);
        // On Redis Cluster the trail and the app's index live in different slots, which one
        // pipeline cannot span: two commands, trail first.
        if (c.isCluster) {
          return c
            .xadd(this.keys.audit(), 'MAXLEN', max, '*', ...fields)
            .then(() => c.xadd(this.keys.appAudit(event.appId), 'MAXLEN', max, '*', ...fields));
        }
        // The trail and the app's index in one round trip (a pipeline, not a transaction:
        // the index is an optimisation of reads, the trail is the record).
        return c
          .pipeline()
          .xadd(this.keys.audit(), 'MAXLEN', max, '*', ...fields)
          .xadd(this.keys.appAudit(event.appId), 'MAXLEN', max, '*', ...fields)
          .exec()
          .then((replies) => {
            const failed = replies?.find(([err]) => err)?.[0];
            if (failed) throw failed;
          });
      }),
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

  /**
   * One node's newest matches. A query about one app, or from an admin of a few apps, reads
   * those apps' index streams (at most `limit` entries each), never the whole trail.
   */
  async #listOne(client: Redis, query: AuditQuery): Promise<AuditEvent[]> {
    const apps = query.appId !== undefined ? [query.appId] : query.apps;
    // An app without an index (not configured here) may still have events in the trail.
    if (apps === undefined || !apps.every((a) => this.isConfigured(a))) {
      return this.#scan(client, this.keys.audit(), query);
    }
    const perApp = await Promise.all(
      apps.map((a) => this.#scan(client, this.keys.appAudit(a), query)),
    );
    return perApp.flat();
  }

  /** Newest first from one stream, paging back until `limit` matches or the stream's start. */
  async #scan(client: Redis, stream: string, query: AuditQuery): Promise<AuditEvent[]> {
    const out: AuditEvent[] = [];
    let end = '+';
    for (;;) {
      const page = await client.xrevrange(stream, end, '-', 'COUNT', PAGE);
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
  'recover_authorizers',
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
