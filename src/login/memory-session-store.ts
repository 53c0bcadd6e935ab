import type { Clock } from '../shared/clock.js';
import type { ExchangeRecord, LoginSession, SessionStore } from './session-store.js';

interface Expiring {
  readonly expiresAt: number;
}

/**
 * Embedded sessions for a single process; expired entries are dropped when read or swept.
 *
 * Bounded memory at O(1) amortized cost per write: a Map iterates in insertion order, and each
 * kind of entry is written with one lifetime (sessionTtlSeconds, the code lifetime), so the
 * oldest insertions expire first. A write drops expired entries from the front and stops at the
 * first live one, instead of scanning every session (which cost a few ms per login with a
 * production's worth of sessions). An entry out of that order (a clock step, a changed TTL)
 * only waits a little longer, and a read drops it the moment it is found expired.
 */
export class MemorySessionStore implements SessionStore {
  readonly #sessions = new Map<string, LoginSession>();
  readonly #exchanges = new Map<string, { record: ExchangeRecord; expiresAt: number }>();

  constructor(private readonly clock: Clock) {}

  async getSession(handle: string): Promise<LoginSession | null> {
    const s = this.#sessions.get(handle);
    if (!s) return null;
    if (s.expiresAt <= this.clock.now()) {
      this.#sessions.delete(handle);
      return null;
    }
    return s;
  }

  async putSession(session: LoginSession): Promise<void> {
    this.#putSession(session);
  }

  async getExchange(appId: string, codeHash: string): Promise<ExchangeRecord | null> {
    const key = exchangeKey(appId, codeHash);
    const e = this.#exchanges.get(key);
    if (!e) return null;
    if (e.expiresAt <= this.clock.now()) {
      this.#exchanges.delete(key);
      return null;
    }
    return e.record;
  }

  async putExchange(
    appId: string,
    codeHash: string,
    record: ExchangeRecord,
    ttlMs: number,
  ): Promise<void> {
    this.#putExchange(appId, codeHash, record, ttlMs);
  }

  async putSessionAndExchange(
    session: LoginSession,
    codeHash: string,
    ttlMs: number,
    caller: string,
  ): Promise<void> {
    this.#putSession(session);
    this.#putExchange(session.appId, codeHash, { ok: { handle: session.handle }, caller }, ttlMs);
  }

  #putSession(session: LoginSession): void {
    const now = this.clock.now();
    dropExpiredFront(this.#sessions, now);
    // A rewrite (ResetSessionKey) keeps its expiry, so it keeps its place in the order too.
    this.#sessions.set(session.handle, session);
  }

  #putExchange(appId: string, codeHash: string, record: ExchangeRecord, ttlMs: number): void {
    const now = this.clock.now();
    dropExpiredFront(this.#exchanges, now);
    const key = exchangeKey(appId, codeHash);
    // A rewrite gets a new expiry: move it to the back, where the newest expiries are.
    this.#exchanges.delete(key);
    this.#exchanges.set(key, { record, expiresAt: now + ttlMs });
  }
}

function exchangeKey(appId: string, codeHash: string): string {
  return `${appId}\0${codeHash}`;
}

/** Deletes expired entries from the oldest insertion on, up to the first live one. */
function dropExpiredFront(map: Map<string, Expiring>, now: number): void {
  for (const [key, entry] of map) {
    if (entry.expiresAt > now) return;
    map.delete(key);
  }
}
