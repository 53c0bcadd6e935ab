import type { AppSet } from '../apps/app-directory.js';
import type { AppConfig, AppMode } from '../config/config.js';
import type { Clock } from '../shared/clock.js';
import { AppNotFoundError } from '../shared/errors.js';
import type { AppStatusBook, AppStatusView } from '../refresher/app-status-book.js';
import { LiveReader } from './live-reader.js';
import type { ForceBudget } from '../refresher/force-budget.js';
import type { ForceRefresher, ForceRefreshResult } from '../refresher/force-refresher.js';
import type { TokenRecord } from '../token/token.js';
import type { TokenCache } from '../token/token-cache.js';

export interface AppStatusReport extends AppStatusView {
  readonly forceBudgetRemaining: number;
  readonly leader: boolean;
  readonly store: string;
  /** embedded | standalone | quorum | sentinel | cluster (issue 16). */
  readonly storeTopology: string;
  /** host:port of the node commands go to (standalone, sentinel); '' when unknown or many. */
  readonly storePrimary: string;
}

/** How the store is laid out, as ListApps and the metrics report it. */
export interface StoreLayout {
  readonly topology: string;
  readonly primary: string;
}

export interface TokenServiceDeps {
  readonly clock: Clock;
  readonly apps: AppSet;
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
  readonly storeLayout?: () => StoreLayout;
  /** Upper bound on how long GetToken waits for an app's first token. */
  readonly maxWaitMs: number;
}

/**
 * What the gRPC handlers call. GetToken is answered from memory; it waits only while an
 * app has never had a token (warming) or a fetch is under way, bounded by the caller's
 * deadline, and otherwise fails at once with the last upstream error (invariant 3).
 */
export class TokenService {
  readonly #reader: LiveReader;

  constructor(private readonly deps: TokenServiceDeps) {
    this.#reader = new LiveReader({ ...deps, noun: 'token' });
  }

  app(appId: string): AppConfig {
    const app = this.deps.apps.get(appId);
    if (!app) throw new AppNotFoundError(appId);
    return app;
  }

  /** The live token from memory, or undefined. The hot path: no awaits, no allocation. */
  peek(appId: string): TokenRecord | undefined {
    return this.#reader.peek(appId);
  }

  async getToken(appId: string, signal?: AbortSignal): Promise<TokenRecord> {
    this.app(appId);
    return this.#reader.get(appId, signal);
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
    const layout = this.deps.storeLayout?.() ?? { topology: 'embedded', primary: '' };
    return this.deps.apps.list().map((app) => ({
      ...this.deps.status.view(app.appId, this.deps.cache.get(app.appId), now),
      forceBudgetRemaining: this.deps.budget.remaining(app.appId, app.mode),
      leader: this.deps.isLeader(),
      store: this.deps.storeHealth?.() ?? 'embedded',
      storeTopology: layout.topology,
      storePrimary: layout.primary,
    }));
  }

  modeOf(appId: string): AppMode {
    return this.app(appId).mode;
  }
}
