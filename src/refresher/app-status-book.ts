import type { AppSet } from '../apps/app-directory.js';
import type { AppMode } from '../config/config.js';
import type { WeChatError } from '../wechat/wechat-error.js';
import { isLive, type TokenRecord } from '../token/token.js';
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

interface Entry {
  mode: AppMode;
  lastRefreshAt?: number;
  lastError?: RecordedError;
  /** True while the latest refresh attempt failed (cleared by the next success). */
  failing: boolean;
  nextRefreshAt?: number;
  day: number;
  fetchesToday: number;
}

/**
 * What ListApps, health and logs report about each app: the outcome of the latest refresh
 * attempts. State is derived on read from these facts plus the cached token and the clock,
 * so it can never disagree with what GetToken would answer.
 */
export class AppStatusBook {
  readonly #entries = new Map<string, Entry>();

  /** Follows `apps`: an entry per app, made when it joins and dropped when it leaves. */
  constructor(apps: AppSet) {
    const add = (app: { appId: string; mode: AppMode }): void => {
      this.#entries.set(app.appId, newEntry(app.mode));
    };
    for (const app of apps.list()) add(app);
    apps.subscribe({ added: add, removed: (app) => this.#entries.delete(app.appId) });
  }

  recordFetch(appId: string, now: number): void {
    const e = this.#entry(appId);
    const day = beijingDayKey(now);
    if (e.day !== day) {
      e.day = day;
      e.fetchesToday = 0;
    }
    e.fetchesToday++;
  }

  recordSuccess(appId: string, now: number): void {
    const e = this.#entry(appId);
    e.lastRefreshAt = now;
    e.failing = false;
  }

  recordFailure(appId: string, error: WeChatError, now: number): void {
    const e = this.#entry(appId);
    e.lastError = { error, at: now };
    e.failing = true;
  }

  setNextRefreshAt(appId: string, at: number | undefined): void {
    this.#entry(appId).nextRefreshAt = at;
  }

  lastError(appId: string): RecordedError | undefined {
    return this.#entry(appId).lastError;
  }

  isFailing(appId: string): boolean {
    return this.#entry(appId).failing;
  }

  /** The failing error kind that blocks fetching, if any. */
  blockingKind(appId: string): 'config' | 'quota' | undefined {
    const e = this.#entry(appId);
    if (!e.failing || !e.lastError) return undefined;
    const kind = e.lastError.error.kind;
    return kind === 'config' || kind === 'quota' ? kind : undefined;
  }

  /**
   * Forget the app's failure: what blocked it was fixed outside (a component's new verify
   * ticket after 61005/61006), so the scheduler may try at once instead of after the
   * configuration-error delay.
   */
  clearFailure(appId: string): void {
    this.#entry(appId).failing = false;
  }

  /** Forget quota failures at the day turn so the scheduler may fetch again. */
  /** Ends every app's quota failure (the day turned); returns those apps, to be re-planned. */
  clearQuotaFailures(): string[] {
    const cleared: string[] = [];
    for (const [appId, e] of this.#entries) {
      if (e.failing && e.lastError?.error.kind === 'quota') {
        e.failing = false;
        cleared.push(appId);
      }
    }
    return cleared;
  }

  view(appId: string, token: TokenRecord | undefined, now: number): AppStatusView {
    const e = this.#entry(appId);
    return {
      appId,
      mode: e.mode,
      state: this.stateOf(appId, token, now),
      ...(token ? { token } : {}),
      // A follower never fetches: its last refresh is when the current token was fetched.
      ...(e.lastRefreshAt !== undefined || token
        ? { lastRefreshAt: Math.max(e.lastRefreshAt ?? 0, token?.fetchedAt ?? 0) }
        : {}),
      ...(e.lastError ? { lastError: e.lastError } : {}),
      ...(e.nextRefreshAt !== undefined ? { nextRefreshAt: e.nextRefreshAt } : {}),
      fetchesToday: this.fetchesToday(appId, now),
    };
  }

  /** The state `view` reports, without building the view (a scrape reads every app's). */
  stateOf(appId: string, token: TokenRecord | undefined, now: number): AppState {
    const e = this.#entry(appId);
    const blocking = this.blockingKind(appId);
    if (blocking === 'config') return 'config_error';
    if (blocking === 'quota') return 'quota_exhausted';
    if (!token && !e.failing) return 'warming';
    if (!isLive(token, now)) return 'unavailable';
    return e.failing ? 'degraded' : 'healthy';
  }

  /** Upstream fetches since 00:00 Asia/Shanghai of `now`. */
  fetchesToday(appId: string, now: number): number {
    const e = this.#entry(appId);
    return e.day === beijingDayKey(now) ? e.fetchesToday : 0;
  }

  /**
   * An app that left while a refresh of it was running still gets its outcome recorded: into
   * a detached entry, so a departed authorizer never comes back into the book.
   */
  #entry(appId: string): Entry {
    return this.#entries.get(appId) ?? newEntry('classic');
  }
}

/**
 * Every field present from the start: fields added later moved each entry to a new hidden
 * class with an out-of-object property array (100,000 of them to mark at every full GC).
 */
function newEntry(mode: AppMode): Entry {
  return {
    mode,
    lastRefreshAt: undefined,
    lastError: undefined,
    failing: false,
    nextRefreshAt: undefined,
    day: 0,
    fetchesToday: 0,
  };
}
