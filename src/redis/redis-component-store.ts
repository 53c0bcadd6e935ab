import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type {
  AuthorizerEntry,
  AuthorizerList,
  ComponentStore,
  VerifyTicket,
} from '../component/component-store.js';
import type { Clock } from '../shared/clock.js';
import type { ValueCipher } from './at-rest-cipher.js';
import { onQuorum } from './quorum.js';
import type { RedisKeys } from './redis-keys.js';

/** Newest-wins write of the verify ticket: KEYS[1] hash; ARGV value, createTime. */
const OFFER_TICKET_LUA = `
local t = tonumber(redis.call('HGET', KEYS[1], 't') or '-1')
if tonumber(ARGV[2]) <= t then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 't', ARGV[2])
return 1`;

/**
 * Replaces a present authorizer's field only if it is not a tombstone: KEYS[1] the hash;
 * ARGV field, new JSON, the stored JSON's "gone" marker to refuse.
 */
const SET_IF_PRESENT_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or string.find(cur, '"x":1', 1, true) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

/** One authorizer's field: sealed refresh token, authorized at, updated at, removed. */
interface Field {
  r?: string;
  a: number;
  u: number;
  x?: 1;
}

/** HSCAN page size while loading 100,000 authorizers: each page is one short command. */
const SCAN_COUNT = 1000;

/**
 * The component store on one Redis node or N independent masters, like the token store: a
 * write counts when a majority accepts it; a read asks every node and needs a majority, and
 * the newest copy wins (each field carries its update time; a removal is a tombstone, so a
 * node that missed it cannot bring the authorizer back). Refresh tokens are sealed with the
 * at-rest cipher, bound to their component and authorizer. Every key of one platform shares
 * the hash tag `{component:<appid>}`.
 */
export class RedisComponentStore implements ComponentStore {
  readonly #epoch = randomUUID();

  constructor(
    private readonly clients: readonly Redis[],
    private readonly keys: RedisKeys,
    private readonly clock: Clock,
    private readonly cipher: ValueCipher,
  ) {
    for (const c of clients) {
      c.defineCommand('wxtokenOfferTicket', { numberOfKeys: 1, lua: OFFER_TICKET_LUA });
      c.defineCommand('wxtokenSetIfPresent', { numberOfKeys: 1, lua: SET_IF_PRESENT_LUA });
    }
  }

  async offerVerifyTicket(componentAppId: string, ticket: VerifyTicket): Promise<boolean> {
    const key = this.keys.verifyTicket(componentAppId);
    const sealed = this.cipher.seal(ticket.value, `verify_ticket:${componentAppId}`);
    const answers = await onQuorum(this.clients, `store verify ticket of ${componentAppId}`, (c) =>
      (c as unknown as OfferTicket).wxtokenOfferTicket(key, sealed, String(ticket.createTime)),
    );
    return answers.some((a) => a === 1);
  }

  async verifyTicket(componentAppId: string): Promise<VerifyTicket | undefined> {
    const key = this.keys.verifyTicket(componentAppId);
    const answers = await onQuorum(this.clients, `read verify ticket of ${componentAppId}`, (c) =>
      c.hgetall(key),
    );
    let best: VerifyTicket | undefined;
    for (const h of answers) {
      if (h.v === undefined || h.t === undefined) continue;
      const createTime = Number(h.t);
      if (best && best.createTime >= createTime) continue;
      try {
        best = { value: this.cipher.open(h.v, `verify_ticket:${componentAppId}`), createTime };
      } catch {
        // A copy that does not open (tampered, another deployment's key) is not a ticket.
      }
    }
    return best;
  }

  async putAuthorizer(componentAppId: string, entry: AuthorizerEntry, refreshToken: string) {
    const field: Field = {
      r: this.#seal(componentAppId, entry.authorizerAppId, refreshToken),
      a: entry.authorizedAt,
      u: this.clock.now(),
    };
    await onQuorum(this.clients, `store authorizer ${entry.authorizerAppId}`, (c) =>
      c
        .multi()
        .hset(this.keys.authorizers(componentAppId), entry.authorizerAppId, JSON.stringify(field))
        .incr(this.keys.authorizersVersion(componentAppId))
        // A store that lost its keys starts a new epoch, so a counter that happens to reach
        // the same number again is still seen as a change by every replica.
        .set(this.keys.authorizersEpoch(componentAppId), this.#epoch, 'NX')
        .exec(),
    );
  }

  async setRefreshToken(componentAppId: string, authorizerAppId: string, refreshToken: string) {
    const current = await this.#field(componentAppId, authorizerAppId);
    if (!current || current.x) return;
    const field: Field = {
      r: this.#seal(componentAppId, authorizerAppId, refreshToken),
      a: current.a,
      u: Math.max(this.clock.now(), current.u + 1),
    };
    const key = this.keys.authorizers(componentAppId);
    await onQuorum(this.clients, `store refresh token of ${authorizerAppId}`, (c) =>
      (c as unknown as SetIfPresent).wxtokenSetIfPresent(
        key,
        authorizerAppId,
        JSON.stringify(field),
      ),
    );
  }

  async refreshToken(componentAppId: string, authorizerAppId: string) {
    const field = await this.#field(componentAppId, authorizerAppId);
    if (!field || field.x || field.r === undefined) return undefined;
    return this.cipher.open(field.r, this.#context(componentAppId, authorizerAppId));
  }

  async removeAuthorizer(componentAppId: string, authorizerAppId: string) {
    const field: Field = { a: 0, u: this.clock.now(), x: 1 };
    await onQuorum(this.clients, `remove authorizer ${authorizerAppId}`, (c) =>
      c
        .multi()
        .hset(this.keys.authorizers(componentAppId), authorizerAppId, JSON.stringify(field))
        .incr(this.keys.authorizersVersion(componentAppId))
        // A store that lost its keys starts a new epoch, so a counter that happens to reach
        // the same number again is still seen as a change by every replica.
        .set(this.keys.authorizersEpoch(componentAppId), this.#epoch, 'NX')
        .exec(),
    );
  }

  async membershipVersion(componentAppId: string): Promise<string> {
    const answers = await onQuorum(this.clients, `read authorizers of ${componentAppId}`, (c) =>
      c.mget(
        this.keys.authorizersVersion(componentAppId),
        this.keys.authorizersEpoch(componentAppId),
      ),
    );
    return answers.map(([v, e]) => `${v ?? '0'}@${e ?? ''}`).join('.');
  }

  async loadAuthorizers(componentAppId: string): Promise<AuthorizerList> {
    const key = this.keys.authorizers(componentAppId);
    const copies = await onQuorum(this.clients, `read authorizers of ${componentAppId}`, (c) =>
      scanAll(c, key),
    );
    const newest = new Map<string, Field>();
    for (const copy of copies) {
      for (const [id, f] of copy) {
        const held = newest.get(id);
        if (!held || f.u > held.u) newest.set(id, f);
      }
    }
    const present: AuthorizerEntry[] = [];
    const removed = new Set<string>();
    for (const [id, f] of newest) {
      if (f.x) removed.add(id);
      else present.push({ authorizerAppId: id, authorizedAt: f.a });
    }
    return { present, removed };
  }

  async #field(componentAppId: string, authorizerAppId: string): Promise<Field | undefined> {
    const key = this.keys.authorizers(componentAppId);
    const answers = await onQuorum(this.clients, `read authorizer ${authorizerAppId}`, (c) =>
      c.hget(key, authorizerAppId),
    );
    let best: Field | undefined;
    for (const raw of answers) {
      const f = raw === null ? undefined : parseField(raw);
      if (f && (!best || f.u > best.u)) best = f;
    }
    return best;
  }

  #seal(componentAppId: string, authorizerAppId: string, refreshToken: string): string {
    return this.cipher.seal(refreshToken, this.#context(componentAppId, authorizerAppId));
  }

  #context(componentAppId: string, authorizerAppId: string): string {
    return `refresh_token:${componentAppId}:${authorizerAppId}`;
  }
}

type OfferTicket = {
  wxtokenOfferTicket(key: string, value: string, createTime: string): Promise<number>;
};
type SetIfPresent = {
  wxtokenSetIfPresent(key: string, field: string, json: string): Promise<number>;
};

/** A stored field, or undefined for anything that is not one (a forged or corrupt value). */
function parseField(raw: string): Field | undefined {
  try {
    const f = JSON.parse(raw) as Partial<Field> | null;
    if (!f || typeof f.u !== 'number' || typeof f.a !== 'number') return undefined;
    if (f.x !== 1 && typeof f.r !== 'string') return undefined;
    return f as Field;
  } catch {
    return undefined;
  }
}

async function scanAll(c: Redis, key: string): Promise<Map<string, Field>> {
  const out = new Map<string, Field>();
  let cursor = '0';
  do {
    const [next, flat] = await c.hscan(key, cursor, 'COUNT', SCAN_COUNT);
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const f = parseField(flat[i + 1]!);
      if (f) out.set(flat[i]!, f);
    }
    cursor = next;
  } while (cursor !== '0');
  return out;
}
