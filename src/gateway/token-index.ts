import { createHash } from 'node:crypto';
import type { AppSet } from '../apps/app-directory.js';
import { ByteTable } from '../shared/byte-table.js';
import type { Clock } from '../shared/clock.js';
import type { CredentialRecord } from '../token/token.js';
import { PREVIOUS_SWEEP_STEP, type TokenCache } from '../token/token-cache.js';

/** Places of the index looked at per token applied: two values per app (see `#sweep`). */
const SWEEP_STEP = 2 * PREVIOUS_SWEEP_STEP;
/**
 * A slot holds 11 bytes of lengths and deadline, the 22-character digest and the app id: 64
 * bytes fit ids of up to 31 characters (WeChat's are 18), 128 the longest the config allows.
 */
const INDEX_SLOTS = [64, 128] as const;

/**
 * Which app a token belongs to, for the tokens wxtoken holds right now: each app's current
 * token and the one it replaced (WeChat keeps that alive during the overlap). Pass-through
 * forwards only calls whose access_token is in here, so the gateway is never an open proxy.
 * Kept up to date from the cache (every applied token), O(1) per lookup.
 */
export class TokenIndex {
  /**
   * A token's digest -> its app, until the token's expiry. Off the V8 heap: a token string or a
   * slice of one per app, and a map's entry for it, were 100,000 more objects and 200,000 more
   * references for every full collection of a platform's leader to mark again
   * (docs/third-party.md). The digest only finds the app: every answer is checked against the
   * cache, which holds the tokens themselves (`appOf`), so a digest shared by two tokens could
   * only make a lookup miss, never name a wrong app.
   */
  readonly #apps = new ByteTable(INDEX_SLOTS);

  constructor(
    private readonly cache: TokenCache,
    private readonly apps: AppSet,
    private readonly clock: Pick<Clock, 'now'>,
  ) {
    for (const app of apps.list()) {
      const previous = cache.previous(app.appId);
      if (previous) this.#apply(previous);
      const current = cache.get(app.appId);
      if (current) this.#apply(current);
    }
    // Swept at the pace of the cache's tokens, indexed or not: the cache's own hand goes as fast.
    cache.subscribeAll((record) => {
      if (apps.has(record.appId)) this.#apply(record);
      this.#sweep();
    });
    // An authorizer that left: its tokens no longer open the pass-through. What the cache
    // still holds of it is deleted now; what it already dropped, by the sweep.
    apps.subscribe({ removed: (app) => this.#drop(app.appId) });
  }

  /** How many token values are indexed (current and previous ones, and any not yet swept). */
  get size(): number {
    return this.#apps.size;
  }

  /** The app `token` belongs to while it is current or previous and not past its expiry. */
  appOf(token: string, now: number): string | undefined {
    const appId = this.#apps.getBefore(digest(token), now)?.toString();
    if (appId === undefined) return undefined;
    const current = this.cache.get(appId);
    const record = current?.value === token ? current : this.cache.previous(appId);
    return record?.value === token && record.expiresAt > now ? appId : undefined;
  }

  #drop(appId: string): void {
    for (const record of [this.cache.get(appId), this.cache.previous(appId)]) {
      if (record === undefined) continue;
      const key = digest(record.value);
      if (this.#apps.get(key)?.toString() === appId) this.#apps.delete(key);
    }
  }

  /**
   * A value goes once its expiry passed, or once the cache holds nothing for its app (dropped:
   * an authorizer that left) or the app is gone. The index keeps two to four places per value,
   * two values per app, and the cache applies about one token per app and lifetime: with many
   * apps every place is looked at about four times a lifetime or more, so an expired value
   * outlives its token by a fraction of a lifetime; with a few, the index's 1,024 places take a
   * few dozen tokens applied, a few dozen stale values at most. A value replaced twice within
   * its lifetime (forced refreshes) is refused by `appOf` at once and swept after its expiry.
   */
  #sweep(): void {
    const now = this.clock.now();
    this.#apps.sweep(SWEEP_STEP, (value, deadline) => {
      if (!(now < deadline)) return true;
      const appId = value.toString();
      return !this.apps.has(appId) || this.cache.expiresAtOf(appId) === undefined;
    });
  }

  #apply(record: CredentialRecord): void {
    // Ids are at most 64 characters (config and events), so every entry fits a slot.
    this.#apps.set(digest(record.value), Buffer.from(record.appId), record.expiresAt);
  }
}

/**
 * 128 bits of the token's SHA-256, 22 characters: unlike the tokens (up to 512 characters) it
 * fits the table's keys, and no two tokens held at once share it but by a 2^-128 chance.
 */
function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 22);
}
