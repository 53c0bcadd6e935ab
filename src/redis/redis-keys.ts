import { createHash } from 'node:crypto';

/**
 * Every Redis key wxtoken uses, built in one place. Per-app keys share the hash tag
 * `{app:<appId>}` so the fenced-write script, which touches the record and the lock,
 * runs on Redis Cluster (both keys hash to one slot).
 */
export class RedisKeys {
  constructor(private readonly prefix: string) {}

  /** Hash with the current and previous token of one app. */
  record(appId: string): string {
    return `${this.prefix}{app:${appId}}:token`;
  }

  /** The app's refresh lock (invariant 1); its value fences the record write (invariant 2). */
  refreshLock(appId: string): string {
    return `${this.prefix}{app:${appId}}:lock`;
  }

  /** Validity checks of a reported token and their newest verdict, by token fingerprint. */
  verdict(appId: string, tokenFingerprint: string): string {
    return `${this.prefix}{app:${appId}}:valid:${tokenFingerprint}`;
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

  /** Pub/sub channel announcing every accepted token write. */
  events(): string {
    return `${this.prefix}events`;
  }
}
