import type { Redis } from 'ioredis';
import type { ExchangeRecord, LoginSession, SessionStore } from '../login/session-store.js';
import type { Clock } from '../shared/clock.js';
import { StoreUnavailableError } from '../shared/errors.js';
import { Secret } from '../shared/secret.js';
import type { PhoneNumberInfo } from '../wechat/wechat-client.js';
import { NoCipher, type ValueCipher } from './at-rest-cipher.js';
import type { RedisKeys } from './redis-keys.js';

interface StoredSession {
  appId: string;
  openid: string;
  unionid?: string;
  /** Sealed when encryption at rest is on. */
  sessionKey: string;
  expiresAt: number;
}

/** A getPhoneNumber answer as stored: the number sealed (plain JSON with encryption off). */
interface StoredPhoneRecord {
  sealedPhone: string;
  caller: string;
}

function phoneContext(exchangeKey: string): string {
  return `${exchangeKey}#phone`;
}

/**
 * Sessions on the same Redis node(s) as tokens, each a JSON string with a TTL. Written to every
 * node (a majority must accept) and read from all (any copy wins: a session never changes
 * except through ResetSessionKey, which rewrites every copy).
 */
export class RedisSessionStore implements SessionStore {
  readonly #quorum: number;

  constructor(
    private readonly clients: readonly Redis[],
    private readonly keys: RedisKeys,
    private readonly clock: Clock,
    private readonly cipher: ValueCipher = new NoCipher(),
  ) {
    this.#quorum = Math.floor(clients.length / 2) + 1;
  }

  async getSession(handle: string): Promise<LoginSession | null> {
    const raw = await this.#readAny(`get session`, this.keys.session(handle));
    if (!raw) return null;
    const s = JSON.parse(raw) as StoredSession;
    if (s.expiresAt <= this.clock.now()) return null;
    return {
      handle,
      appId: s.appId,
      openid: s.openid,
      ...(s.unionid ? { unionid: s.unionid } : {}),
      sessionKey: new Secret(this.cipher.open(s.sessionKey, this.#sessionKeyContext(handle))),
      expiresAt: s.expiresAt,
    };
  }

  async putSession(session: LoginSession): Promise<void> {
    const { key, value, ttlMs } = this.#sessionEntry(session);
    await this.#writeAll('put session', key, value, ttlMs);
  }

  async getExchange(appId: string, codeHash: string): Promise<ExchangeRecord | null> {
    const key = this.keys.codeExchange(appId, codeHash);
    const raw = await this.#readAny('get exchange', key);
    if (!raw) return null;
    const record = JSON.parse(raw) as ExchangeRecord | StoredPhoneRecord;
    if ('sealedPhone' in record) {
      const phone = JSON.parse(this.cipher.open(record.sealedPhone, phoneContext(key)));
      return { phone: phone as PhoneNumberInfo, caller: record.caller };
    }
    return record;
  }

  async putExchange(
    appId: string,
    codeHash: string,
    record: ExchangeRecord,
    ttlMs: number,
  ): Promise<void> {
    const key = this.keys.codeExchange(appId, codeHash);
    // A phone number is personal data: sealed at rest like a session_key, bound to its key.
    const stored: ExchangeRecord | StoredPhoneRecord =
      'phone' in record
        ? {
            sealedPhone: this.cipher.seal(JSON.stringify(record.phone), phoneContext(key)),
            caller: record.caller,
          }
        : record;
    await this.#writeAll('put exchange', key, JSON.stringify(stored), Math.ceil(ttlMs));
  }

  async putSessionAndExchange(
    session: LoginSession,
    codeHash: string,
    ttlMs: number,
    caller: string,
  ): Promise<void> {
    const entry = this.#sessionEntry(session);
    const exchangeKey = this.keys.codeExchange(session.appId, codeHash);
    const record: ExchangeRecord = { ok: { handle: session.handle }, caller };
    const recordValue = JSON.stringify(record);
    // One pipeline per node: one round trip, and the node applies the session before the record.
    const results = await Promise.allSettled(
      this.clients.map(async (c) => {
        // Redis Cluster: the session and the record are in different slots, which one
        // pipeline cannot span; the session is still written first.
        if (c.isCluster) {
          await c.set(entry.key, entry.value, 'PX', entry.ttlMs);
          await c.set(exchangeKey, recordValue, 'PX', Math.ceil(ttlMs));
          return;
        }
        const replies = await c
          .pipeline()
          .set(entry.key, entry.value, 'PX', entry.ttlMs)
          .set(exchangeKey, recordValue, 'PX', Math.ceil(ttlMs))
          .exec();
        const refused = !replies || replies.some(([err]) => err);
        if (refused) throw new Error('write refused');
      }),
    );
    if (results.filter((r) => r.status === 'fulfilled').length < this.#quorum) {
      throw new StoreUnavailableError('put session and exchange');
    }
  }

  #sessionEntry(session: LoginSession): { key: string; value: string; ttlMs: number } {
    const value: StoredSession = {
      appId: session.appId,
      openid: session.openid,
      ...(session.unionid ? { unionid: session.unionid } : {}),
      sessionKey: this.cipher.seal(
        session.sessionKey.reveal(),
        this.#sessionKeyContext(session.handle),
      ),
      expiresAt: session.expiresAt,
    };
    return {
      key: this.keys.session(session.handle),
      value: JSON.stringify(value),
      ttlMs: Math.max(1, Math.ceil(session.expiresAt - this.clock.now())),
    };
  }

  /** AAD of a sealed session_key: its session's key (prefix + handle hash) and the field. */
  #sessionKeyContext(handle: string): string {
    return `${this.keys.session(handle)}#session_key`;
  }

  async #readAny(operation: string, key: string): Promise<string | null> {
    const results = await Promise.allSettled(this.clients.map((c) => c.get(key)));
    const answers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    if (answers.length < this.#quorum) throw new StoreUnavailableError(operation);
    return answers.find((v) => v !== null) ?? null;
  }

  async #writeAll(operation: string, key: string, value: string, ttlMs: number): Promise<void> {
    const results = await Promise.allSettled(
      this.clients.map((c) => c.set(key, value, 'PX', ttlMs)),
    );
    if (results.filter((r) => r.status === 'fulfilled').length < this.#quorum) {
      throw new StoreUnavailableError(operation);
    }
  }
}
