import type { AppSet } from '../apps/app-directory.js';
import type { AppMode } from '../config/config.js';
import type { WeChatError } from '../wechat/wechat-error.js';
import { isLive, type TokenRecord } from '../token/token.js';
import { grown } from '../shared/typed-arrays.js';
import { beijingDayKey } from './refresh-policy.js';

export type AppState =
  'warming' | 'healthy' | 'degraded' | 'unavailable' | 'config_error' | 'quota_exhausted';

export interface RecordedError {
  readonly error: WeChatError;
  readonly at: number;
}

export interface AppStatusView {
  readonly appId: string;
  readonly mode: AppMode;
  readonly state: AppState;
  readonly token?: TokenRecord;
  readonly lastRefreshAt?: number;
  readonly lastError?: RecordedError;
  readonly nextRefreshAt?: number;
  readonly fetchesToday: number;
}

/**
 * What ListApps, health and logs report about each app: the outcome of the latest refresh
 * attempts. State is derived on read from these facts plus the cached token and the clock,
 * so it can never disagree with what GetToken would answer.
 *
 * The facts live in columns (typed arrays indexed by a slot per app), not an object per app:
 * with 100,000 authorizers an entry object and its two boxed timestamps were 300,000 heap
 * objects for every major GC to mark, and marking is what stalled the leader's event loop in
 * a refresh wave. Errors are rare and kept in a map.
 */
export class AppStatusBook {
  readonly #slots = new Map<string, number>();
  /** Slots of apps that left, reused by the next ones to join. */
  readonly #free: number[] = [];
  #modes: AppMode[] = [];
  /** True (1) while the latest refresh attempt failed (cleared by the next success). */
  #failing = new Uint8Array(16);
  /** ms since the epoch; NaN: never. */
  #lastRefreshAt = new Float64Array(16);
  /** ms since the epoch; NaN: none planned. */
  #nextRefreshAt = new Float64Array(16);
  /** The Beijing day `#fetchesToday` counts. */
  #day = new Int32Array(16);
  #fetchesToday = new Int32Array(16);
  readonly #lastErrors = new Map<string, RecordedError>();

  /** Follows `apps`: a slot per app, taken when it joins and given back when it leaves. */
  constructor(apps: AppSet) {
    for (const app of apps.list()) this.#add(app);
    apps.subscribe({ added: (app) => this.#add(app), removed: (app) => this.#remove(app.appId) });
  }

  // An app that left while a refresh of it was running still reports its outcome here: the
  // record* methods ignore an app without a slot, so a departed authorizer never comes back.

  recordFetch(appId: string, now: number): void {
    const i = this.#slots.get(appId);
    if (i === undefined) return;
    const day = beijingDayKey(now);
    if (this.#day[i] !== day) {
      this.#day[i] = day;
      this.#fetchesToday[i] = 0;
    }
    this.#fetchesToday[i]!++;
  }

  recordSuccess(appId: string, now: number): void {
    const i = this.#slots.get(appId);
    if (i === undefined) return;
    this.#lastRefreshAt[i] = now;
    this.#failing[i] = 0;
  }

  recordFailure(appId: string, error: WeChatError, now: number): void {
    const i = this.#slots.get(appId);
    if (i === undefined) return;
    this.#lastErrors.set(appId, { error, at: now });
    this.#failing[i] = 1;
  }

  setNextRefreshAt(appId: string, at: number | undefined): void {
    const i = this.#slots.get(appId);
    if (i !== undefined) this.#nextRefreshAt[i] = at ?? NaN;
  }

  lastError(appId: string): RecordedError | undefined {
    return this.#lastErrors.get(appId);
  }

  isFailing(appId: string): boolean {
    const i = this.#slots.get(appId);
    return i !== undefined && this.#failing[i] === 1;
  }

  /** The failing error kind that blocks fetching, if any. */
  blockingKind(appId: string): 'config' | 'quota' | undefined {
    if (!this.isFailing(appId)) return undefined;
    const kind = this.#lastErrors.get(appId)?.error.kind;
    return kind === 'config' || kind === 'quota' ? kind : undefined;
  }

  /**
   * Forget the app's failure: what blocked it was fixed outside (a component's new verify
   * ticket after 61005/61006), so the scheduler may try at once instead of after the
   * configuration-error delay.
   */
  clearFailure(appId: string): void {
    const i = this.#slots.get(appId);
    if (i !== undefined) this.#failing[i] = 0;
  }

  /** Ends every app's quota failure (the day turned); returns those apps, to be re-planned. */
  clearQuotaFailures(): string[] {
    const cleared: string[] = [];
    for (const [appId, recorded] of this.#lastErrors) {
      const i = this.#slots.get(appId);
      if (i !== undefined && this.#failing[i] === 1 && recorded.error.kind === 'quota') {
        this.#failing[i] = 0;
        cleared.push(appId);
      }
    }
    return cleared;
  }

  view(appId: string, token: TokenRecord | undefined, now: number): AppStatusView {
    const i = this.#slots.get(appId);
    const lastRefreshAt = this.#time(this.#lastRefreshAt, appId);
    const nextRefreshAt = this.#time(this.#nextRefreshAt, appId);
    const lastError = this.#lastErrors.get(appId);
    return {
      appId,
      mode: i === undefined ? 'classic' : this.#modes[i]!,
      state: this.stateOf(appId, token, now),
      ...(token ? { token } : {}),
      // A follower never fetches: its last refresh is when the current token was fetched.
      ...(lastRefreshAt !== undefined || token
        ? { lastRefreshAt: Math.max(lastRefreshAt ?? 0, token?.fetchedAt ?? 0) }
        : {}),
      ...(lastError ? { lastError } : {}),
      ...(nextRefreshAt !== undefined ? { nextRefreshAt } : {}),
      fetchesToday: this.fetchesToday(appId, now),
    };
  }

  /**
   * The state `view` reports, without building the view (a scrape reads every app's, with only
   * the current token's expiry: see TokenService.scanApps).
   */
  stateOf(appId: string, token: Pick<TokenRecord, 'expiresAt'> | undefined, now: number): AppState {
    const blocking = this.blockingKind(appId);
    if (blocking === 'config') return 'config_error';
    if (blocking === 'quota') return 'quota_exhausted';
    const failing = this.isFailing(appId);
    if (!token && !failing) return 'warming';
    if (!isLive(token, now)) return 'unavailable';
    return failing ? 'degraded' : 'healthy';
  }

  /** Upstream fetches since 00:00 Asia/Shanghai of `now`. */
  fetchesToday(appId: string, now: number): number {
    const i = this.#slots.get(appId);
    return i !== undefined && this.#day[i] === beijingDayKey(now) ? this.#fetchesToday[i]! : 0;
  }

  /** A joining app starts with no facts (one that comes back starts over). */
  #add(app: { appId: string; mode: AppMode }): void {
    let i = this.#slots.get(app.appId);
    if (i === undefined) {
      i = this.#free.pop() ?? this.#slots.size;
      if (i >= this.#failing.length) this.#grow();
      this.#slots.set(app.appId, i);
    }
    this.#modes[i] = app.mode;
    this.#failing[i] = 0;
    this.#lastRefreshAt[i] = NaN;
    this.#nextRefreshAt[i] = NaN;
    this.#day[i] = 0;
    this.#fetchesToday[i] = 0;
    this.#lastErrors.delete(app.appId);
  }

  #remove(appId: string): void {
    const i = this.#slots.get(appId);
    if (i === undefined) return;
    this.#slots.delete(appId);
    this.#lastErrors.delete(appId);
    this.#free.push(i);
  }

  #grow(): void {
    const n = this.#failing.length * 2;
    this.#failing = grown(this.#failing, n);
    this.#lastRefreshAt = grown(this.#lastRefreshAt, n);
    this.#nextRefreshAt = grown(this.#nextRefreshAt, n);
    this.#day = grown(this.#day, n);
    this.#fetchesToday = grown(this.#fetchesToday, n);
  }

  /** A timestamp column's value for `appId`, undefined when unknown (NaN) or not followed. */
  #time(column: Float64Array, appId: string): number | undefined {
    const i = this.#slots.get(appId);
    const at = i === undefined ? NaN : column[i]!;
    return Number.isNaN(at) ? undefined : at;
  }
}
