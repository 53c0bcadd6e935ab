import { createHash } from 'node:crypto';

/**
 * Every Redis key wxtoken uses, built in one place. Per-app keys share the hash tag
 * `{app:<appId>}` so the fenced-write script, which touches the record and the lock,
 * runs on Redis Cluster (both keys hash to one slot).
 */
export class RedisKeys {
  constructor(
    private readonly prefix: string,
    /**
     * Which credential the record, lock, verdict and event keys belong to: '' for the
     * access_token (its key names predate other kinds and stay as they were), e.g.
     * 'ticket:jsapi' for a ticket. Each kind has its own record and lock, so a ticket fetch
     * never waits on a token fetch's lock, and both live under the app's hash tag.
     */
    private readonly credential = '',
  ) {}

  /** The same keys for another credential kind (see the constructor). */
  forCredential(credential: string): RedisKeys {
    return new RedisKeys(this.prefix, credential);
  }

  #app(appId: string): string {
    const base = `${this.prefix}{app:${appId}}`;
    return this.credential ? `${base}:${this.credential}` : base;
  }

  /** Hash with the current and previous value of one app's credential. */
  record(appId: string): string {
    return this.credential ? this.#app(appId) : `${this.#app(appId)}:token`;
  }

  /** The app's refresh lock (invariant 1); its value fences the record write (invariant 2). */
  refreshLock(appId: string): string {
    return `${this.#app(appId)}:lock`;
  }

  /** Validity checks of a reported token and their newest verdict, by token fingerprint. */
  verdict(appId: string, tokenFingerprint: string): string {
    return `${this.#app(appId)}:valid:${tokenFingerprint}`;
  }

  /** The app's forced-fetch budget, shared by every replica (day, used, last). */
  forceBudget(appId: string): string {
    return `${this.prefix}{app:${appId}}:force`;
  }

  /**
   * A login session, by the SHA-256 of its handle: the handle is a bearer credential, and key
   * names show up in KEYS/SCAN, MONITOR, slow logs and RDB dumps; a hash does not let anyone
   * act as the session. Sessions stored by earlier releases (raw handle) are not read.
   */
  session(handle: string): string {
    return `${this.prefix}session:${createHash('sha256').update(handle).digest('hex')}`;
  }

  /** The recorded result of exchanging one code, by a hash of (app, code): never the code. */
  codeExchange(appId: string, codeHash: string): string {
    return `${this.prefix}{app:${appId}}:code:${codeHash}`;
  }

  /** A third-party platform's newest component_verify_ticket (value, CreateTime). */
  verifyTicket(componentAppId: string): string {
    return `${this.prefix}{component:${componentAppId}}:verify_ticket`;
  }

  /** A platform's authorizers: authorizer appid -> sealed refresh token and times. */
  authorizers(componentAppId: string): string {
    return `${this.prefix}{component:${componentAppId}}:authorizers`;
  }

  /** Bumped whenever an authorizer joins or leaves: replicas poll it to reload the list. */
  authorizersVersion(componentAppId: string): string {
    return `${this.prefix}{component:${componentAppId}}:authorizers:version`;
  }

  /** Set once per life of the authorizers' keys: a lost store comes back with a new epoch. */
  authorizersEpoch(componentAppId: string): string {
    return `${this.prefix}{component:${componentAppId}}:authorizers:epoch`;
  }

  /** The leader lease. */
  leader(): string {
    return `${this.prefix}leader`;
  }

  /** One app's audit events (a capped index of the trail, for app-scoped queries). */
  appAudit(appId: string): string {
    return `${this.prefix}{app:${appId}}:audit`;
  }

  /** The capped audit stream (ForceRefresh and admin calls). */
  audit(): string {
    return `${this.prefix}audit`;
  }

  /** Pub/sub channel announcing every accepted write of this credential kind. */
  events(): string {
    return this.credential ? `${this.prefix}events:${this.credential}` : `${this.prefix}events`;
  }
}
