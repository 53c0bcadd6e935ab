import type { AppSet } from '../apps/app-directory.js';
import type { CredentialRecord } from '../token/token.js';
import type { TokenCache } from '../token/token-cache.js';

/**
 * Which app a token belongs to, for the tokens wxtoken holds right now: each app's current
 * token and the one it replaced (WeChat keeps that alive during the overlap). Pass-through
 * forwards only calls whose access_token is in here, so the gateway is never an open proxy.
 * Kept up to date from the cache (every applied token), O(1) per lookup.
 */
export class TokenIndex {
  readonly #apps = new Map<string, string>();
  /** Per app, the two values indexed for it: [current, previous]. */
  readonly #held = new Map<string, [CredentialRecord, CredentialRecord | undefined]>();

  constructor(cache: TokenCache, apps: AppSet) {
    for (const app of apps.list()) {
      const current = cache.get(app.appId);
      if (current) this.#apply(current);
    }
    cache.subscribeAll((record) => {
      if (apps.has(record.appId)) this.#apply(record);
    });
    // An authorizer that left: its tokens no longer open the pass-through.
    apps.subscribe({ removed: (app) => this.#drop(app.appId) });
  }

  /** The app `token` belongs to while it is current or previous and not past its expiry. */
  appOf(token: string, now: number): string | undefined {
    const appId = this.#apps.get(token);
    if (appId === undefined) return undefined;
    const [current, previous] = this.#held.get(appId)!;
    const record = current.value === token ? current : previous;
    return record && record.expiresAt > now ? appId : undefined;
  }

  #drop(appId: string): void {
    const held = this.#held.get(appId);
    if (!held) return;
    for (const r of held) if (r && this.#apps.get(r.value) === appId) this.#apps.delete(r.value);
    this.#held.delete(appId);
  }

  #apply(record: CredentialRecord): void {
    const held = this.#held.get(record.appId);
    if (held?.[0].value === record.value) {
      held[0] = record;
      return;
    }
    const dropped = held?.[1];
    if (dropped) this.#apps.delete(dropped.value);
    this.#held.set(record.appId, [record, held?.[0]]);
    this.#apps.set(record.value, record.appId);
  }
}
