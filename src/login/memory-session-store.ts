import type { Clock } from '../shared/clock.js';
import type { ExchangeRecord, LoginSession, SessionStore } from './session-store.js';

/** Embedded sessions for a single process; expired entries are dropped when read or swept. */
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
    this.#sweep();
    this.#sessions.set(session.handle, session);
  }

  async getExchange(appId: string, codeHash: string): Promise<ExchangeRecord | null> {
    const e = this.#exchanges.get(`${appId}\0${codeHash}`);
    return e && e.expiresAt > this.clock.now() ? e.record : null;
  }

  async putExchange(
    appId: string,
    codeHash: string,
    record: ExchangeRecord,
    ttlMs: number,
  ): Promise<void> {
    this.#exchanges.set(`${appId}\0${codeHash}`, { record, expiresAt: this.clock.now() + ttlMs });
  }

  /** Bounded memory: drop what has expired, at most once per write. */
  #sweep(): void {
    const now = this.clock.now();
    for (const [k, s] of this.#sessions) if (s.expiresAt <= now) this.#sessions.delete(k);
    for (const [k, e] of this.#exchanges) if (e.expiresAt <= now) this.#exchanges.delete(k);
  }
}
