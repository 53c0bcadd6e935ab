import type { AppConfig } from '../config/config.js';
import type { Clock } from '../shared/clock.js';
import { AppMisconfiguredError, RefreshRateLimitedError } from '../shared/errors.js';
import { fingerprint } from '../shared/secret.js';
import { isLive, type TokenRecord } from '../token/token.js';
import type { TokenCache } from '../token/token-cache.js';
import type { TokenStore } from '../token/token-store.js';
import type { WeChatClient } from '../wechat/wechat-client.js';
import { isWeChatError } from '../wechat/wechat-error.js';
import type { AppStatusBook } from './app-status-book.js';
import type { ForceBudget } from './force-budget.js';
import type { RefreshOptions, RefreshResult, TokenRefresher } from './token-refresher.js';

/** How long a "WeChat still accepts this token" verdict answers further reports of it. */
const VERDICT_TTL_MS = 10_000;

export interface ForceRefreshResult {
  readonly token: TokenRecord;
  readonly refreshed: boolean;
}

export interface ForceRefresherDeps {
  readonly clock: Clock;
  readonly wechat: Pick<WeChatClient, 'checkToken'>;
  readonly cache: TokenCache;
  readonly refresher: Pick<TokenRefresher, 'refresh'>;
  readonly status: AppStatusBook;
  readonly budget: ForceBudget;
  readonly store: Pick<TokenStore, 'isKnownValid' | 'rememberValid'>;
  readonly log?: (level: 'info' | 'warn', obj: object, msg: string) => void;
}

/**
 * ForceRefresh as a conditional reset (invariant 6, client-go's ResetTokenOlderThan):
 * - a stale token that is no longer current costs nothing: the current one is returned;
 * - concurrent reports of the same token share one validity check and at most one fetch;
 * - a token WeChat still accepts is kept (the caller's error had another cause);
 * - forced fetches are rate-limited per app to protect WeChat's daily quota;
 * - an empty stale token is an operator's explicit refresh: no check, audited in the log.
 */
export class ForceRefresher {
  readonly #pending = new Map<string, Promise<ForceRefreshResult>>();

  constructor(private readonly deps: ForceRefresherDeps) {}

  async forceRefresh(
    app: AppConfig,
    staleToken: string,
    reason: string,
  ): Promise<ForceRefreshResult> {
    if (staleToken === '') return this.#operatorRefresh(app, reason);
    const current = this.deps.cache.get(app.appId);
    const now = this.deps.clock.now();
    if (current && isLive(current, now) && current.accessToken !== staleToken) {
      return { token: current, refreshed: false };
    }
    // Keyed by a fingerprint so the map never holds caller-supplied tokens verbatim.
    const key = `${app.appId}\0${fingerprint(staleToken)}`;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#checkAndRefresh(app, staleToken, current).finally(() =>
        this.#pending.delete(key),
      );
      this.#pending.set(key, pending);
    }
    return pending;
  }

  async #checkAndRefresh(
    app: AppConfig,
    staleToken: string,
    current: TokenRecord | undefined,
  ): Promise<ForceRefreshResult> {
    const fp = fingerprint(staleToken);
    const live = current !== undefined && isLive(current, this.deps.clock.now());
    // Under the app's refresh lock (cluster-wide), after the store re-read: one validity check
    // for the whole herd, whichever replicas it lands on; its verdict is shared through the
    // store so callers waiting on other replicas stop waiting too.
    const precheck = async (): Promise<'keep' | 'fetch'> => {
      if (live) {
        if (await this.deps.store.isKnownValid(app.appId, fp)) return 'keep';
        if ((await this.#stillValid(app.appId, staleToken)) === true) {
          await this.deps.store.rememberValid(app.appId, fp, VERDICT_TTL_MS);
          return 'keep';
        }
      }
      this.#guard(app);
      return 'fetch';
    };
    const keptElsewhere = () => this.deps.store.isKnownValid(app.appId, fp);
    const result = await this.#fetch(app, current, false, { precheck, keptElsewhere });
    if (result.outcome === 'kept') return { token: result.token, refreshed: false };
    if (
      app.mode === 'stable' &&
      result.outcome === 'unchanged' &&
      result.token.accessToken === staleToken
    ) {
      // Normal mode handed back the very token WeChat rejected: only force_refresh replaces it.
      this.#guard(app);
      return this.#finish(current, await this.#fetch(app, current, true));
    }
    return this.#finish(current, result);
  }

  async #operatorRefresh(app: AppConfig, reason: string): Promise<ForceRefreshResult> {
    this.deps.log?.(
      'warn',
      { appId: app.appId, reason, audit: true },
      'operator forced a token refresh',
    );
    // No quota or config block here: an operator acts after clearing the quota or fixing the
    // IP whitelist, and needs this call to find out whether it worked.
    this.#checkBudget(app);
    const current = this.deps.cache.get(app.appId);
    return this.#finish(current, await this.#fetch(app, current, app.mode === 'stable'));
  }

  /** true: WeChat accepts it; false: rejected; undefined: the check itself failed (not fatal). */
  async #stillValid(appId: string, token: string): Promise<boolean | undefined> {
    try {
      return await this.deps.wechat.checkToken(token);
    } catch (err) {
      this.deps.log?.('warn', { appId, err }, 'validity check failed; refreshing without it');
      return undefined;
    }
  }

  #guard(app: AppConfig): void {
    const blocking = this.deps.status.blockingKind(app.appId);
    if (blocking === 'config') {
      throw new AppMisconfiguredError(app.appId, this.deps.status.lastError(app.appId)!.error);
    }
    if (blocking === 'quota') throw new RefreshRateLimitedError(app.appId, 'upstream_quota', 0);
    this.#checkBudget(app);
  }

  #checkBudget(app: AppConfig): void {
    this.deps.budget.check(app.appId, app.mode, this.deps.clock.now());
  }

  async #fetch(
    app: AppConfig,
    current: TokenRecord | undefined,
    forceStable: boolean,
    checks: Pick<RefreshOptions, 'precheck' | 'keptElsewhere'> = {},
  ): Promise<RefreshResult> {
    const trigger = 'force';
    try {
      const result = await this.deps.refresher.refresh(app, trigger, {
        ...(current ? { ifGeneration: current.generation } : {}),
        forceStable,
        ...checks,
      });
      // Budget what costs quota: a classic fetch, a stable force_refresh. A normal-mode stable
      // call is cheap (500,000/day) and rotates nothing.
      const costly = app.mode === 'classic' || forceStable;
      if (costly && (result.outcome === 'fetched' || result.outcome === 'unchanged')) {
        this.deps.budget.consume(app.appId, this.deps.clock.now());
      }
      return result;
    } catch (err) {
      if (isWeChatError(err) && err.kind === 'config')
        throw new AppMisconfiguredError(app.appId, err);
      if (isWeChatError(err) && err.kind === 'quota') {
        throw new RefreshRateLimitedError(app.appId, 'upstream_quota', 0);
      }
      throw err;
    }
  }

  #finish(before: TokenRecord | undefined, result: RefreshResult): ForceRefreshResult {
    return {
      token: result.token,
      refreshed: before === undefined || result.token.generation > before.generation,
    };
  }
}
