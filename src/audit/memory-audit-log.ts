import { matches, type AuditEvent, type AuditLog, type AuditQuery } from './audit-log.js';

/** The embedded store's audit trail: the newest `maxEvents` events of this process. */
export class MemoryAuditLog implements AuditLog {
  readonly #events: AuditEvent[] = [];

  constructor(private readonly maxEvents: number) {}

  append(event: AuditEvent): Promise<void> {
    this.#events.push(event);
    // Trim in batches so a full log does not shift the array on every append.
    if (this.#events.length > this.maxEvents * 1.25) {
      this.#events.splice(0, this.#events.length - this.maxEvents);
    }
    return Promise.resolve();
  }

  list(query: AuditQuery): Promise<AuditEvent[]> {
    const out: AuditEvent[] = [];
    const oldest = Math.max(0, this.#events.length - this.maxEvents);
    for (let i = this.#events.length - 1; i >= oldest && out.length < query.limit; i--) {
      const e = this.#events[i]!;
      if (matches(e, query)) out.push(e);
    }
    return Promise.resolve(out);
  }
}
