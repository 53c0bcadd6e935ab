import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Clock } from '../shared/clock.js';
import { StoreUnavailableError } from '../shared/errors.js';
import { untrustedReason, type UntrustedReason } from '../token/record-trust.js';
import type { TokenRecord } from '../token/token.js';
import type {
  CheckState,
  LockHandle,
  StoredTokens,
  StoreHealth,
  TokenStore,
  TokenVerdict,
} from '../token/token-store.js';
import { fingerprint } from '../shared/secret.js';
import { AtRestDecryptError, NoCipher, type ValueCipher } from './at-rest-cipher.js';
import { WRITE_OK, fenceError } from './fence-codes.js';
import { onQuorum } from './quorum.js';
import { duplicateForSubscribe } from './redis-clients.js';
import type { RedisKeys } from './redis-keys.js';

const WRITE_TOKEN_LUA = readFileSync(new URL('./lua/write-token.lua', import.meta.url), 'utf8');
const RAISE_CHECK_LUA = readFileSync(new URL('./lua/raise-check.lua', import.meta.url), 'utf8');
/** Check bookkeeping of a reported token lasts this long; after it, a report costs one more check. */
const CHECK_STATE_TTL_MS = 3_600_000;
/** Records outlive their token by a day, then Redis drops them. */
const RECORD_TTL_AFTER_EXPIRY_MS = 86_400_000;

type RaiseCheckCommand = (key: string, ...argv: string[]) => Promise<number>;

/**
 * What the store checks records against before anyone sees them (Redis is not trusted
 * blindly: any client with write access could forge a record or PUBLISH a token).
 */
export interface RecordTrust {
  /** Apps this process serves; a record or message for any other app is dropped. */
  isConfigured(appId: string): boolean;
  /** Told of every dropped record: the caller logs and counts it (never the token). */
  onUntrusted(appId: string, reason: UntrustedReason, source: 'read' | 'message'): void;
}

/** Checks nothing: for tests of the store alone. */
export const TRUST_ANY: RecordTrust = { isConfigured: () => true, onUntrusted: () => undefined };

type WriteTokenCommand = (
  record: string,
  lock: string,
  ...argv: string[]
) => Promise<[number, number]>;

/**
 * The token store on one Redis node or on N independent masters (3 or 5).
 *
 * - write: the fenced Lua script runs on every node; it counts only when a majority accepts.
 *   Each node checks its own copy of the Redlock value, so a writer that lost the lock on a
 *   majority cannot write (invariant 2): Redlock alone gives no fencing, this script does.
 * - read: every node is asked; a majority must answer; the highest generation wins, so losing
 *   a minority of nodes (or one node restarting empty) changes nothing a client sees.
 * - subscribe: one subscriber connection per node; duplicates and stale messages are harmless
 *   because the cache only moves forward in generation.
 */
export class RedisTokenStore implements TokenStore {
  readonly #quorum: number;
  readonly #subscribers: Redis[] = [];
  #subscribed: Promise<void> = Promise.resolve();
  readonly #listeners = new Set<(token: TokenRecord) => void>();
  /** Per app, the raw token field of a record the last read dropped as poisoned. */
  readonly #poisoned = new Map<string, string>();

  constructor(
    private readonly clients: readonly Redis[],
    private readonly keys: RedisKeys,
    private readonly clock: Clock,
    /** Seals token values and pub/sub messages' tokens at rest (NoCipher: stored as they are). */
    private readonly cipher: ValueCipher = new NoCipher(),
    private readonly trust: RecordTrust = TRUST_ANY,
    /** False when another store shares these connections and closes them (credential kinds). */
    private readonly ownsClients = true,
  ) {
    this.#quorum = Math.floor(clients.length / 2) + 1;
    for (const client of clients) {
      client.defineCommand('wxtokenWriteToken', { numberOfKeys: 2, lua: WRITE_TOKEN_LUA });
      client.defineCommand('wxtokenRaiseCheck', { numberOfKeys: 1, lua: RAISE_CHECK_LUA });
    }
  }

  /**
   * Opens the pub/sub connections and subscribes each one whenever it becomes ready. ioredis
   * resubscribes after a reconnect only to channels the server had confirmed, so a node that
   * was down when this replica started would otherwise never deliver (SUBSCRIBE is idempotent).
   */
  async start(): Promise<void> {
    let confirmed = 0;
    let onQuorum: () => void = () => undefined;
    this.#subscribed = new Promise<void>((resolve) => (onQuorum = resolve));
    for (const client of this.clients) {
      const sub = duplicateForSubscribe(client);
      let counted = false;
      sub.on('error', () => undefined);
      sub.on('message', (_channel: string, message: string) => this.#onMessage(message));
      sub.on(
        'ready',
        () =>
          void sub.subscribe(this.keys.events()).then(
            () => {
              if (counted) return;
              counted = true;
              if (++confirmed >= this.#quorum) onQuorum();
            },
            () => undefined,
          ),
      );
      this.#subscribers.push(sub);
    }
  }

  /**
   * Resolves once a majority of the subscriber connections are subscribed (or after
   * `timeoutMs`). A replica warms its cache after this: a write made between the warm read
   * and the subscription would otherwise reach it only with the next reconcile pass, and a
   * replica joining mid-rotation served an expired token until then.
   */
  async subscribed(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#subscribed,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  async read(appId: string): Promise<StoredTokens | null> {
    const replies = await onQuorum(this.clients, `read ${appId}`, (c) =>
      c.hgetall(this.keys.record(appId)),
    );
    let best: StoredTokens | null = null;
    this.#poisoned.delete(appId);
    for (const hash of replies) {
      const parsed = this.#trusted(appId, hash);
      if (parsed && (!best || newer(parsed, best))) best = parsed;
    }
    return best;
  }

  /**
   * One node's copy, checked. A poisoned current token makes the copy count as absent, and its
   * raw stored value is remembered: the next write (the leader's repair, or the refresher that
   * always reads before it writes) passes it to the fenced script, which replaces that exact
   * record whatever generation it claims. The fence still holds for everything else: the
   * writer must hold the lock, and any record that changed since this read (a legitimate
   * write) no longer matches and is fenced by generation as always. Without this, a forged
   * record with a huge generation, or a plaintext one under encryption, would freeze the app.
   * A poisoned previous token is dropped alone.
   */
  #trusted(appId: string, hash: Record<string, string>): StoredTokens | null {
    const open = (v: string): string => this.cipher.open(v, tokenContext(this.keys, appId));
    let parsed: StoredTokens | null;
    try {
      parsed = parseRecord(appId, hash, open);
    } catch (err) {
      // A key id that is not configured is the operator's to fix (the read fails and says
      // so); plaintext, moved or tampered values are refused like any forged record.
      if (!(err instanceof AtRestDecryptError) || err.reason === 'unknown_key') throw err;
      this.trust.onUntrusted(appId, 'bad_seal', 'read');
      this.#poisoned.set(appId, hash.token!);
      return null;
    }
    if (!parsed) return null;
    if (this.#refused(parsed.current, 'read')) {
      this.#poisoned.set(appId, hash.token!);
      return null;
    }
    if (parsed.previous && this.#refused(parsed.previous, 'read'))
      return { current: parsed.current };
    return parsed;
  }

  #refused(token: TokenRecord, source: 'read' | 'message'): boolean {
    const reason = untrustedReason(token, (a) => this.trust.isConfigured(a), this.clock.now());
    if (reason) this.trust.onUntrusted(token.appId, reason, source);
    return reason !== null;
  }

  async write(token: TokenRecord, lock: LockHandle): Promise<void> {
    const context = tokenContext(this.keys, token.appId);
    const stored = this.cipher.seal(token.value, context);
    const message = toMessage(token, stored);
    const ttl = String(
      Math.max(1, token.expiresAt - this.clock.now()) + RECORD_TTL_AFTER_EXPIRY_MS,
    );
    const results = await Promise.allSettled(
      this.clients.map((c) =>
        (c as unknown as { wxtokenWriteToken: WriteTokenCommand }).wxtokenWriteToken(
          this.keys.record(token.appId),
          this.keys.refreshLock(token.appId),
          lock.value,
          String(token.generation),
          stored,
          String(token.expiresAt),
          String(token.fetchedAt),
          this.keys.events(),
          message,
          ttl,
          fingerprint(token.value),
          this.#poisoned.get(token.appId) ?? '',
        ),
      ),
    );
    const answers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    if (answers.filter(([code]) => code === WRITE_OK).length >= this.#quorum) return;
    // No majority accepted: a fence refusal on any node names the reason; otherwise the
    // nodes were unreachable.
    const refused = answers.find(([code]) => code !== WRITE_OK);
    if (refused) {
      throw fenceError(token.appId, refused[0], token.generation, refused[1]);
    }
    throw new StoreUnavailableError(`write ${token.appId}`, {
      cause: results.find((r) => r.status === 'rejected')?.reason,
    });
  }

  subscribe(listener: (token: TokenRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * On N masters, numbers only grow on each node and reads take the highest of a majority:
   * a check numbered on a majority is seen by every later majority read (they overlap).
   */
  async checkState(appId: string, tokenFingerprint: string): Promise<CheckState> {
    const replies = await onQuorum(this.clients, `check state ${appId}`, (c) =>
      c.hmget(this.keys.verdict(appId, tokenFingerprint), 'sent', 'seq', 'valid'),
    );
    let sent = 0;
    let latest: TokenVerdict | undefined;
    for (const [s, seq, valid] of replies) {
      sent = Math.max(sent, safeCount(s));
      const n = safeCount(seq);
      if (n > 0 && n > (latest?.seq ?? 0)) latest = { seq: n, valid: valid === '1' };
    }
    return latest ? { sent, latest } : { sent };
  }

  async beginCheck(appId: string, tokenFingerprint: string): Promise<number> {
    const { sent } = await this.checkState(appId, tokenFingerprint);
    await this.#raise(appId, tokenFingerprint, 'sent', sent + 1);
    return sent + 1;
  }

  async recordVerdict(appId: string, fp: string, verdict: TokenVerdict): Promise<void> {
    await this.#raise(appId, fp, 'seq', verdict.seq, verdict.valid ? '1' : '0');
  }

  async #raise(appId: string, fp: string, field: string, value: number, valid = ''): Promise<void> {
    const key = this.keys.verdict(appId, fp);
    await onQuorum(this.clients, `check ${appId}`, (c) =>
      (c as unknown as { wxtokenRaiseCheck: RaiseCheckCommand }).wxtokenRaiseCheck(
        key,
        field,
        String(value),
        String(CHECK_STATE_TTL_MS),
        valid,
      ),
    );
  }

  health(): StoreHealth {
    const ready = this.clients.filter((c) => c.status === 'ready').length;
    return ready === this.clients.length ? 'ok' : ready >= this.#quorum ? 'degraded' : 'down';
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await Promise.allSettled(
      [...this.#subscribers, ...(this.ownsClients ? this.clients : [])].map((c) =>
        c.quit().catch(() => c.disconnect()),
      ),
    );
  }

  /** Runs `op` on every node; resolves with the answers once a majority answered. */

  #onMessage(message: string): void {
    let wire: WireMessage;
    try {
      wire = JSON.parse(message) as WireMessage;
    } catch {
      return;
    }
    if (typeof wire !== 'object' || wire === null || typeof wire.appId !== 'string') return;
    if (typeof wire.accessToken !== 'string') return;
    let token: TokenRecord;
    // Checked before decryption too, so a message for an unknown app is counted as such.
    if (!this.trust.isConfigured(wire.appId)) {
      this.trust.onUntrusted(wire.appId, 'unknown_app', 'message');
      return;
    }
    try {
      token = {
        appId: wire.appId,
        value: this.cipher.open(wire.accessToken, tokenContext(this.keys, wire.appId)),
        expiresAt: wire.expiresAt,
        fetchedAt: wire.fetchedAt,
        generation: wire.generation,
      };
    } catch (err) {
      // Plaintext while encryption is on, moved from another app, tampered: forged. A key id
      // this replica does not have is the operator's to fix: the reconciler's read reports it.
      if (err instanceof AtRestDecryptError && err.reason !== 'unknown_key') {
        this.trust.onUntrusted(wire.appId, 'bad_seal', 'message');
      }
      return;
    }
    if (this.#refused(token, 'message')) return;
    for (const listener of this.#listeners) listener(token);
  }
}

/**
 * The pub/sub announcement of a write. Its value field keeps the name `accessToken` whatever
 * the credential kind: replicas of the previous release read that name during a rolling upgrade.
 */
interface WireMessage {
  readonly appId: string;
  /** The value, sealed like the stored one. */
  readonly accessToken: string;
  readonly expiresAt: number;
  readonly fetchedAt: number;
  readonly generation: number;
}

function toMessage(record: TokenRecord, sealedValue: string): string {
  const wire: WireMessage = {
    appId: record.appId,
    accessToken: sealedValue,
    expiresAt: record.expiresAt,
    fetchedAt: record.fetchedAt,
    generation: record.generation,
  };
  return JSON.stringify(wire);
}

/**
 * Highest current generation wins. On a tie, the copy with the newer previous token wins: a
 * node that missed a write (down, restarted empty, or reached before the lock was set there)
 * holds the same current token but an older previous, or none.
 */
function newer(a: StoredTokens, b: StoredTokens): boolean {
  if (a.current.generation !== b.current.generation) {
    return a.current.generation > b.current.generation;
  }
  return (a.previous?.generation ?? 0) > (b.previous?.generation ?? 0);
}

/**
 * What a sealed token is bound to (AAD): its app's record key, which holds the key prefix and
 * the app id, and the field. The fenced write moves `token` to `prev_token` inside Redis, so
 * both are sealed as the one field "token"; the pub/sub message carries the same value.
 */
function tokenContext(keys: RedisKeys, appId: string): string {
  return `${keys.record(appId)}#token`;
}

function parseRecord(
  appId: string,
  h: Record<string, string>,
  open: (sealed: string) => string,
): StoredTokens | null {
  if (!h.token || !h.generation) return null;
  const current: TokenRecord = {
    appId,
    value: open(h.token),
    expiresAt: Number(h.expires_at),
    fetchedAt: Number(h.fetched_at),
    generation: Number(h.generation),
  };
  if (!h.prev_token) return { current };
  let previousToken: string;
  try {
    previousToken = open(h.prev_token);
  } catch {
    return { current }; // an unreadable previous token is dropped alone
  }
  return {
    current,
    previous: {
      appId,
      value: previousToken,
      expiresAt: Number(h.prev_expires_at),
      fetchedAt: Number(h.prev_fetched_at),
      generation: Number(h.prev_generation),
    },
  };
}

/** A stored count (a string or nil): anything but a small non-negative integer counts as 0. */
function safeCount(value: string | null | undefined): number {
  const n = Number(value ?? 0);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}
