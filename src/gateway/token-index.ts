import type { AppSet } from '../apps/app-directory.js';
import { MapSweeper } from '../shared/map-sweeper.js';
import { ShardedMap } from '../shared/sharded-map.js';
import type { CredentialRecord } from '../token/token.js';
import { PREVIOUS_SWEEP_STEP, type TokenCache } from '../token/token-cache.js';

/**
 * Which app a token belongs to, for the tokens wxtoken holds right now: each app's current
 * token and the one it replaced (WeChat keeps that alive during the overlap). Pass-through
 * forwards only calls whose access_token is in here, so the gateway is never an open proxy.
 * Kept up to date from the cache (every applied token), O(1) per lookup.
 */
export class TokenIndex {
  /**
   * Token value -> its app, for each app's current and previous value. Every refresh deletes a
   * key and adds a new one: a plain Map of 200,000 values rehashed in one 73 ms step every
   * ~60,000 refreshes (a stall in the 100,000-authorizer benchmark's wave); see ShardedMap.
   */
  readonly #apps = new ShardedMap<string>();
  /**
   * Per app, the values indexed for it: strings the cache's records hold anyway. Two maps, not
   * a [current, previous] pair per app: the pair was two heap objects per app (100,000 with a
   * platform's authorizers) for every major GC to mark, and a new one with every refresh.
   * Previous values are swept and come back, so that map is sharded too.
   */
  readonly #current = new Map<string, string>();
  readonly #previous = new ShardedMap<string>();
  /** A previous value goes once the cache has dropped its record (past its expiry). */
  readonly #sweeper = new MapSweeper(
    this.#previous,
    (value, appId) => {
      if (this.cache.previous(appId)?.value === value) return false;
      if (this.#apps.get(value) === appId) this.#apps.delete(value);
      return true;
    },
    PREVIOUS_SWEEP_STEP,
  );

  constructor(
    private readonly cache: TokenCache,
    apps: AppSet,
  ) {
    for (const app of apps.list()) {
      const previous = cache.previous(app.appId);
      if (previous) this.#apply(previous);
      const current = cache.get(app.appId);
      if (current) this.#apply(current);
    }
    cache.subscribeAll((record) => {
      if (apps.has(record.appId)) this.#apply(record);
    });
    // An authorizer that left: its tokens no longer open the pass-through.
    apps.subscribe({ removed: (app) => this.#drop(app.appId) });
  }

  /** How many token values are indexed (current and previous ones): what the index holds. */
  get size(): number {
    return this.#apps.size;
  }

  /** The app `token` belongs to while it is current or previous and not past its expiry. */
  appOf(token: string, now: number): string | undefined {
    const appId = this.#apps.get(token);
    if (appId === undefined) return undefined;
    const current = this.cache.get(appId);
    const record = current?.value === token ? current : this.cache.previous(appId);
    return record?.value === token && record.expiresAt > now ? appId : undefined;
  }

  #drop(appId: string): void {
    for (const value of [this.#current.get(appId), this.#previous.get(appId)]) {
      if (value !== undefined && this.#apps.get(value) === appId) this.#apps.delete(value);
    }
    this.#current.delete(appId);
    this.#previous.delete(appId);
  }

  #apply(record: CredentialRecord): void {
    const appId = record.appId;
    const current = this.#current.get(appId);
    if (current === record.value) return;
    if (current !== undefined) {
      const dropped = this.#previous.get(appId);
      if (dropped !== undefined && this.#apps.get(dropped) === appId) this.#apps.delete(dropped);
      this.#previous.set(appId, current);
    }
    this.#current.set(appId, record.value);
    this.#apps.set(record.value, appId);
    this.#sweeper.sweep();
  }
}
