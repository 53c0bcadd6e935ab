import type { AppSet } from '../apps/app-directory.js';
import { MapSweeper } from '../shared/map-sweeper.js';
import { ShardedMap } from '../shared/sharded-map.js';
import type { CredentialRecord } from '../token/token.js';
import { PREVIOUS_SWEEP_STEP, type TokenCache } from '../token/token-cache.js';

/** Index entries looked at per token applied: two values per app (see `#sweeper`). */
const SWEEP_STEP = 2 * PREVIOUS_SWEEP_STEP;

/**
 * Which app a token belongs to, for the tokens wxtoken holds right now: each app's current
 * token and the one it replaced (WeChat keeps that alive during the overlap). Pass-through
 * forwards only calls whose access_token is in here, so the gateway is never an open proxy.
 * Kept up to date from the cache (every applied token), O(1) per lookup.
 */
export class TokenIndex {
  /**
   * Token value -> its app, for each app's current and previous value, and for a while values
   * neither any more (swept). Every refresh adds a key and, later, the sweep deletes one: a plain
   * Map of 200,000 values rehashed in one 73 ms step every ~60,000 refreshes (a stall in the
   * 100,000-authorizer benchmark's wave); see ShardedMap.
   *
   * The only map: which values an app holds is the cache's to say (`TokenCache.holds`). A
   * per-app map of the values indexed for each app, kept to delete a value the moment it left the
   * cache, was a 100,000-entry table for every full collection to mark again
   * (docs/third-party.md).
   */
  readonly #apps = new ShardedMap<string>();
  /**
   * A value goes once the cache holds it for its app neither as current nor as previous (the
   * cache drops a previous one after its expiry, and everything of an app that left). Two
   * values per app and one token applied per app and lifetime: each value is looked at
   * SWEEP_STEP / 2 times a lifetime, as often as the cache looks at its previous tokens, so a
   * value outlives its record by at most about as long again.
   */
  readonly #sweeper = new MapSweeper(
    this.#apps,
    (appId, value) => !this.cache.holds(appId, value),
    SWEEP_STEP,
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
    // Swept at the pace of the cache's tokens, indexed or not: the cache's own hand goes as fast.
    cache.subscribeAll((record) => {
      // Keyed by the cache's own copy of the value (a slice of its packed record, token-cache.ts):
      // the applied record's string would be a second copy of every token, 100,000 of them.
      if (apps.has(record.appId)) {
        const held = cache.get(record.appId);
        this.#apply(held?.value === record.value ? held : record);
      }
      this.#sweeper.sweep();
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
    const appId = this.#apps.get(token);
    if (appId === undefined) return undefined;
    const current = this.cache.get(appId);
    const record = current?.value === token ? current : this.cache.previous(appId);
    return record?.value === token && record.expiresAt > now ? appId : undefined;
  }

  #drop(appId: string): void {
    for (const record of [this.cache.get(appId), this.cache.previous(appId)]) {
      if (record !== undefined && this.#apps.get(record.value) === appId) {
        this.#apps.delete(record.value);
      }
    }
  }

  #apply(record: CredentialRecord): void {
    this.#apps.set(record.value, record.appId);
  }
}
