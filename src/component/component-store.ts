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
 * One platform's authorizers: one map by authorizer appId to a single flat string holding both
 * the authorization time and the refresh token (`pack`). Not an entry object, a boxed timestamp
 * and a second map per authorizer: with 100,000 authorizers those were 200,000 more heap objects
 * and a 3.5 MB table for every full collection to mark again, on a server whose GetToken never
 * reads them (heap snapshot of the scale benchmark's leader). Measured on that leader, idle, in the
 * full collections a heap snapshot forces (--trace-gc-nvp): marking took 101-127 ms of the main
 * thread (and as much on the helper) with the two maps, 69-84 ms with this one.
 */
type Held = Map<string, string>;

/**
 * `authorizedAt` in decimal, a colon, the refresh token. Array join, not a template: a template
 * makes a cons string, two more objects pointing at the parts; join copies into one string.
 */
function pack(authorizedAt: number, refreshToken: string): string {
  return [String(authorizedAt), ':', refreshToken].join('');
}

function authorizedAtOf(packed: string): number {
  return Number(packed.slice(0, packed.indexOf(':')));
}

function refreshTokenOf(packed: string): string {
  return packed.slice(packed.indexOf(':') + 1);
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
    this.#of(componentAppId).set(entry.authorizerAppId, pack(entry.authorizedAt, refreshToken));
    this.#removed.get(componentAppId)?.delete(entry.authorizerAppId);
    this.#bump(componentAppId);
    return Promise.resolve();
  }

  setRefreshToken(componentAppId: string, authorizerAppId: string, refreshToken: string) {
    const held = this.#of(componentAppId);
    const packed = held.get(authorizerAppId);
    if (packed !== undefined) held.set(authorizerAppId, pack(authorizedAtOf(packed), refreshToken));
    return Promise.resolve();
  }

  refreshToken(componentAppId: string, authorizerAppId: string) {
    const packed = this.#of(componentAppId).get(authorizerAppId);
    return Promise.resolve(packed === undefined ? undefined : refreshTokenOf(packed));
  }

  removeAuthorizer(componentAppId: string, authorizerAppId: string) {
    if (this.#of(componentAppId).delete(authorizerAppId)) this.#bump(componentAppId);
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
      present: Array.from(this.#of(componentAppId), ([authorizerAppId, packed]) => ({
        authorizerAppId,
        authorizedAt: authorizedAtOf(packed),
      })),
      removed: new Set(this.#removed.get(componentAppId)),
    });
  }

  #of(componentAppId: string): Held {
    let held = this.#authorizers.get(componentAppId);
    if (!held) {
      held = new Map();
      this.#authorizers.set(componentAppId, held);
    }
    return held;
  }

  #bump(componentAppId: string): void {
    this.#versions.set(componentAppId, (this.#versions.get(componentAppId) ?? 0) + 1);
  }
}
