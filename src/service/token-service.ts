import type { AppSet } from '../apps/app-directory.js';
import type { AppConfig, AppMode } from '../config/config.js';
import type { Clock } from '../shared/clock.js';
import { AppNotFoundError } from '../shared/errors.js';
import type { AppState, AppStatusBook, AppStatusView } from '../refresher/app-status-book.js';
import { AppOrder } from './app-order.js';
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

/**
 * What a scrape reads of every app (src/metrics/app-series-selection.ts): a status report has
 * all of it, and TokenService.scanApps fills one without building a report.
 */
export interface AppFacts {
  readonly appId: string;
  readonly state: AppState;
  readonly token?: { readonly expiresAt: number } | undefined;
  readonly fetchesToday: number;
  readonly forceBudgetRemaining: number;
}

/** How the store is laid out, as ListApps and the metrics report it. */
export interface StoreLayout {
  readonly topology: string;
  readonly primary: string;
}

/** A ListApps page: the apps after `after` (exclusive, app-id order), at most `limit`. */
export interface AppPage {
  readonly after?: string;
  readonly limit: number;
}

/** A copy of the token cache (see TokenService.mirror). */
export interface TokenMirror {
  applied(token: TokenRecord): void;
  dropped(appId: string): void;
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
  /** App ids in order, for listAppsPage; follows apps joining and leaving. */
  readonly #order: AppOrder;

  constructor(private readonly deps: TokenServiceDeps) {
    this.#reader = new LiveReader({ ...deps, noun: 'token' });
    this.#order = new AppOrder(deps.apps.list().map((a) => a.appId));
    deps.apps.subscribe({
      added: (app) => this.#order.add(app.appId),
      removed: (app) => this.#order.remove(app.appId),
    });
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

  /** Now, by the clock `peek` judges tokens with. */
  now(): number {
    return this.deps.clock.now();
  }

  /**
   * Hands `mirror` every app's current token, then every token applied and every app dropped
   * from now on: what a copy of `peek`'s answers must follow (the gRPC layer's encoded replies).
   * The copy judges a token by `servableUntil` and `now()`, as `peek` does.
   */
  mirror(mirror: TokenMirror): () => void {
    const { cache } = this.deps;
    const stopApplied = cache.subscribeAll((token) => mirror.applied(token));
    const stopDropped = cache.subscribeDrops((appId) => mirror.dropped(appId));
    for (const token of cache.tokens()) mirror.applied(token);
    return () => {
      stopApplied();
      stopDropped();
    };
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
    return this.deps.apps.list().map(this.#reporter(this.deps.clock.now()));
  }

  /**
   * The facts of at most `limit` apps after `after` (exclusive), in listAppsPage's order,
   * each handed to `visit` in one object that is reused: a 100,000-app scrape then allocates
   * nothing per app, where a report per app was most of its CPU and its garbage.
   */
  scanApps(
    after: string | undefined,
    limit: number,
    visit: (app: AppFacts) => void,
  ): { last: string | undefined; more: boolean } {
    const now = this.deps.clock.now();
    const { apps, cache, status, budget } = this.deps;
    const facts: {
      appId: string;
      state: AppState;
      token: { expiresAt: number } | undefined;
      fetchesToday: number;
      forceBudgetRemaining: number;
    } = { appId: '', state: 'warming', token: undefined, fetchesToday: 0, forceBudgetRemaining: 0 };
    // Only the expiry of each token is read, into one object too: the cache keeps records packed
    // (token-cache.ts), and a record made per app was most of a scrape's garbage again.
    const expiry = { expiresAt: 0 };
    let last: string | undefined;
    let seen = 0;
    for (const appId of this.#order.from(after)) {
      // `shared`, not `get`: an authorizer's config is made on each read (app-directory.ts).
      const app = apps.shared(appId);
      if (!app) continue;
      if (seen === limit) return { last, more: true };
      const expiresAt = cache.expiresAtOf(appId);
      let token: { expiresAt: number } | undefined;
      if (expiresAt !== undefined) {
        expiry.expiresAt = expiresAt;
        token = expiry;
      }
      facts.appId = appId;
      facts.state = status.stateOf(appId, token, now);
      facts.token = token;
      facts.fetchesToday = status.fetchesToday(appId, now);
      facts.forceBudgetRemaining = budget.remaining(appId, app.mode);
      visit(facts);
      last = appId;
      seen++;
    }
    return { last, more: false };
  }

  /** One app's report, as a ListApps page has it; undefined for an app not served. */
  report(appId: string): AppStatusReport | undefined {
    const app = this.deps.apps.get(appId);
    return app ? this.#reporter(this.deps.clock.now())(app) : undefined;
  }

  /**
   * One page of listApps in app-id order: at most `limit` apps after `after` (exclusive) that
   * `visible` lets through, and whether more follow. O(log n + page) for a caller of every
   * app, so 100,000 apps cost a ListApps page what 1,000 do.
   */
  listAppsPage(
    page: AppPage,
    visible: (appId: string) => boolean = () => true,
  ): { apps: AppStatusReport[]; more: boolean } {
    const report = this.#reporter(this.deps.clock.now());
    const apps: AppStatusReport[] = [];
    for (const appId of this.#order.from(page.after)) {
      const app = this.deps.apps.get(appId);
      if (!app || !visible(appId)) continue;
      if (apps.length === page.limit) return { apps, more: true };
      apps.push(report(app));
    }
    return { apps, more: false };
  }

  /** Reports as of `now`: what every app's report shares is read once. */
  #reporter(now: number): (app: AppConfig) => AppStatusReport {
    const leader = this.deps.isLeader();
    const store = this.deps.storeHealth?.() ?? 'embedded';
    const layout = this.deps.storeLayout?.() ?? { topology: 'embedded', primary: '' };
    // The view is built for us: extended in place, not copied (a spread per app was most of
    // a 100,000-app scrape before scrapes used scanApps).
    return (app) =>
      Object.assign(this.deps.status.view(app.appId, this.deps.cache.get(app.appId), now), {
        forceBudgetRemaining: this.deps.budget.remaining(app.appId, app.mode),
        leader,
        store,
        storeTopology: layout.topology,
        storePrimary: layout.primary,
      });
  }

  modeOf(appId: string): AppMode {
    return this.app(appId).mode;
  }
}
