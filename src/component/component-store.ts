/**
 * Where a third-party platform's own state lives: the newest component_verify_ticket and
 * every authorizer with its refresh token. The refresh token is the one piece of state a
 * restart cannot fetch again (lost, the customer must authorize again, or an operator runs
 * RecoverAuthorizers), so it is written before anything that depends on it is reported done.
 */

export interface VerifyTicket {
  readonly value: string;
  /** The push's CreateTime (seconds since the epoch): newest wins across replicas. */
  readonly createTime: number;
}

export interface AuthorizerEntry {
  readonly authorizerAppId: string;
  /** When the customer authorized (ms since the epoch). */
  readonly authorizedAt: number;
}

/** What the store holds of one platform: present authorizers and the ones removed (tombstones). */
export interface AuthorizerList {
  readonly present: AuthorizerEntry[];
  /** Unauthorized ones. An authorizer neither present nor removed was lost by the store. */
  readonly removed: ReadonlySet<string>;
}

export interface ComponentStore {
  /** Stores `ticket` unless a newer one (by createTime) is stored; true when it was stored. */
  offerVerifyTicket(componentAppId: string, ticket: VerifyTicket): Promise<boolean>;
  verifyTicket(componentAppId: string): Promise<VerifyTicket | undefined>;
  /** Adds the authorizer (or re-authorizes it) with its refresh token. */
  putAuthorizer(
    componentAppId: string,
    entry: AuthorizerEntry,
    refreshToken: string,
  ): Promise<void>;
  /** Replaces a present authorizer's refresh token (never brings back a removed one). */
  setRefreshToken(
    componentAppId: string,
    authorizerAppId: string,
    refreshToken: string,
  ): Promise<void>;
  refreshToken(componentAppId: string, authorizerAppId: string): Promise<string | undefined>;
  removeAuthorizer(componentAppId: string, authorizerAppId: string): Promise<void>;
  /** Changes whenever an authorizer joins or leaves: cheap to poll, opaque. */
  membershipVersion(componentAppId: string): Promise<string>;
  /** Every authorizer, present or removed (no refresh tokens), read in pages. */
  loadAuthorizers(componentAppId: string): Promise<AuthorizerList>;
}

/**
 * One platform's authorizers: entries and refresh tokens in two maps by authorizer appId, not
 * a pair object per authorizer (100,000 more heap objects for every GC to mark).
 */
interface Held {
  readonly entries: Map<string, AuthorizerEntry>;
  readonly refreshTokens: Map<string, string>;
}

/** The embedded store: one process, in memory (wxtoken dev, single instance). */
export class MemoryComponentStore implements ComponentStore {
  readonly #tickets = new Map<string, VerifyTicket>();
  readonly #authorizers = new Map<string, Held>();
  readonly #versions = new Map<string, number>();
  readonly #removed = new Map<string, Set<string>>();

  offerVerifyTicket(componentAppId: string, ticket: VerifyTicket): Promise<boolean> {
    const held = this.#tickets.get(componentAppId);
    if (held && held.createTime >= ticket.createTime) return Promise.resolve(false);
    this.#tickets.set(componentAppId, ticket);
    return Promise.resolve(true);
  }

  verifyTicket(componentAppId: string): Promise<VerifyTicket | undefined> {
    return Promise.resolve(this.#tickets.get(componentAppId));
  }

  putAuthorizer(componentAppId: string, entry: AuthorizerEntry, refreshToken: string) {
    const held = this.#of(componentAppId);
    held.entries.set(entry.authorizerAppId, entry);
    held.refreshTokens.set(entry.authorizerAppId, refreshToken);
    this.#removed.get(componentAppId)?.delete(entry.authorizerAppId);
    this.#bump(componentAppId);
    return Promise.resolve();
  }

  setRefreshToken(componentAppId: string, authorizerAppId: string, refreshToken: string) {
    const held = this.#of(componentAppId);
    if (held.entries.has(authorizerAppId)) held.refreshTokens.set(authorizerAppId, refreshToken);
    return Promise.resolve();
  }

  refreshToken(componentAppId: string, authorizerAppId: string) {
    return Promise.resolve(this.#of(componentAppId).refreshTokens.get(authorizerAppId));
  }

  removeAuthorizer(componentAppId: string, authorizerAppId: string) {
    const held = this.#of(componentAppId);
    held.refreshTokens.delete(authorizerAppId);
    if (held.entries.delete(authorizerAppId)) this.#bump(componentAppId);
    const removed = this.#removed.get(componentAppId) ?? new Set<string>();
    removed.add(authorizerAppId);
    this.#removed.set(componentAppId, removed);
    return Promise.resolve();
  }

  membershipVersion(componentAppId: string) {
    return Promise.resolve(String(this.#versions.get(componentAppId) ?? 0));
  }

  loadAuthorizers(componentAppId: string): Promise<AuthorizerList> {
    return Promise.resolve({
      present: [...this.#of(componentAppId).entries.values()],
      removed: new Set(this.#removed.get(componentAppId)),
    });
  }

  #of(componentAppId: string): Held {
    let held = this.#authorizers.get(componentAppId);
    if (!held) {
      held = { entries: new Map(), refreshTokens: new Map() };
      this.#authorizers.set(componentAppId, held);
    }
    return held;
  }

  #bump(componentAppId: string): void {
    this.#versions.set(componentAppId, (this.#versions.get(componentAppId) ?? 0) + 1);
  }
}
