import type { AppConfig, AppMode } from '../config/config.js';
import type { Clock } from '../shared/clock.js';
import { AppNotFoundError } from '../shared/errors.js';
import { TokenUnavailableError } from '../wechat/upstream-errors.js';
import type { AppStatusBook, AppStatusView } from '../refresher/app-status-book.js';
import type { ForceBudget } from '../refresher/force-budget.js';
import type { ForceRefresher, ForceRefreshResult } from '../refresher/force-refresher.js';
import { isServable, type TokenRecord } from './token.js';
import type { TokenCache } from './token-cache.js';

export interface AppStatusReport extends AppStatusView {
  readonly forceBudgetRemaining: number;
  readonly leader: boolean;
  readonly store: string;
}

export interface TokenServiceDeps {
  readonly clock: Clock;
  readonly apps: readonly AppConfig[];
  readonly cache: TokenCache;
  readonly status: AppStatusBook;
  readonly forcer: Pick<ForceRefresher, 'forceRefresh'>;
  readonly budget: Pick<ForceBudget, 'remaining'>;
  /** True while a fetch for the app is running in this process. */
  readonly isRefreshing: (appId: string) => boolean;
  /** Calls `listener` with the app id of every failed refresh attempt. */
  readonly onRefreshFailed: (listener: (appId: string) => void) => () => void;
  readonly isLeader: () => boolean;
  readonly storeHealth?: () => string;
  /** Upper bound on how long GetToken waits for an app's first token. */
  readonly maxWaitMs: number;
}

/**
 * What the gRPC handlers call. GetToken is answered from memory; it waits only while an
 * app has never had a token (warming) or a fetch is under way, bounded by the caller's
 * deadline, and otherwise fails at once with the last upstream error (invariant 3).
 */
export class TokenService {
  readonly #apps: ReadonlyMap<string, AppConfig>;

  constructor(private readonly deps: TokenServiceDeps) {
    this.#apps = new Map(deps.apps.map((a) => [a.appId, a]));
  }

  app(appId: string): AppConfig {
    const app = this.#apps.get(appId);
    if (!app) throw new AppNotFoundError(appId);
    return app;
  }

  /** The live token from memory, or undefined. The hot path: no awaits, no allocation. */
  peek(appId: string): TokenRecord | undefined {
    const token = this.deps.cache.get(appId);
    return isServable(token, this.deps.clock.now()) ? token : undefined;
  }

  async getToken(appId: string, signal?: AbortSignal): Promise<TokenRecord> {
    this.app(appId);
    const live = this.peek(appId);
    if (live) return live;
    const view = this.deps.status.view(appId, this.deps.cache.get(appId), this.deps.clock.now());
    // A warming app waits for its first token, unless the store is down: then no classic
    // fetch can start (no lock) and the caller learns why at once instead of after maxWaitMs.
    const waitable = view.state === 'warming' && !this.#storeDown();
    if (!waitable && !this.deps.isRefreshing(appId)) throw this.#unavailable(view);
    return this.#waitForLive(appId, signal);
  }

  async #waitForLive(appId: string, signal?: AbortSignal): Promise<TokenRecord> {
    const ac = new AbortController();
    const timer = this.deps.clock.setTimeout(() => ac.abort(), this.deps.maxWaitMs);
    const both = signal ? AbortSignal.any([signal, ac.signal]) : ac.signal;
    // A failed fetch ends the wait at once: the caller learns why instead of timing out.
    const unsubscribe = this.deps.onRefreshFailed((failed) => {
      if (failed === appId) ac.abort();
    });
    try {
      return await this.deps.cache.waitFor(
        appId,
        (t) => isServable(t, this.deps.clock.now()),
        both,
      );
    } catch {
      const now = this.deps.clock.now();
      throw this.#unavailable(this.deps.status.view(appId, this.deps.cache.get(appId), now));
    } finally {
      unsubscribe();
      this.deps.clock.clearTimeout(timer);
    }
  }

  forceRefresh(appId: string, staleToken: string, reason: string): Promise<ForceRefreshResult> {
    return this.deps.forcer.forceRefresh(this.app(appId), staleToken, reason);
  }

  /** Calls `listener` with the current live token (if any) and then every new one. */
  watch(appId: string, listener: (token: TokenRecord) => void): () => void {
    this.app(appId);
    const unsubscribe = this.deps.cache.subscribe(appId, listener);
    const live = this.peek(appId);
    if (live) listener(live);
    return unsubscribe;
  }

  listApps(): AppStatusReport[] {
    const now = this.deps.clock.now();
    return this.deps.apps.map((app) => ({
      ...this.deps.status.view(app.appId, this.deps.cache.get(app.appId), now),
      forceBudgetRemaining: this.deps.budget.remaining(app.appId, app.mode),
      leader: this.deps.isLeader(),
      store: this.deps.storeHealth?.() ?? 'embedded',
    }));
  }

  modeOf(appId: string): AppMode {
    return this.app(appId).mode;
  }

  #storeDown(): boolean {
    return this.deps.storeHealth?.() === 'down';
  }

  #unavailable(view: AppStatusView): TokenUnavailableError {
    const reason =
      view.state === 'warming'
        ? this.#storeDown()
          ? 'the token store (Redis) is not reachable yet: no token read or fetched; retrying'
          : 'the first token has not been fetched yet'
        : view.state === 'config_error'
          ? 'WeChat rejected the app configuration'
          : view.state === 'quota_exhausted'
            ? "WeChat's daily token quota is spent"
            : view.lastError
              ? 'the last refresh failed and the token has expired'
              : 'the token has expired';
    return new TokenUnavailableError(view.appId, reason, view.lastError?.error);
  }
}
