import type { AppConfig } from '../config/config.js';
import type { Clock } from '../shared/clock.js';
import { RefreshRateLimitedError, StoreUnavailableError } from '../shared/errors.js';
import { fingerprint } from '../shared/secret.js';
import { isLive, type TokenRecord } from '../token/token.js';
import type { TokenCache } from '../token/token-cache.js';
import type { CheckState, TokenStore } from '../token/token-store.js';
import type { WeChatClient } from '../wechat/wechat-client.js';
import { AppMisconfiguredError } from '../wechat/upstream-errors.js';
import { isWeChatError } from '../wechat/wechat-error.js';
import type { AppStatusBook } from './app-status-book.js';
import type { ForceBudgetPort } from './force-budget.js';
import type { RefreshOptions, RefreshResult, CredentialRefresher } from './credential-refresher.js';

/**
 * How many times one report re-enters the refresh path after sharing a refresh whose verdict
 * predates it (another report's check): each time waits for a check or a fetch to finish.
 */
const MAX_ROUNDS = 8;

export interface ForceRefreshResult {
  readonly token: TokenRecord;
  readonly refreshed: boolean;
}

/** Reports of one token that share a check and a fetch, with each one's arrival mark. */
interface Flight {
  readonly marks: Promise<number>[];
  result: Promise<ForceRefreshResult>;
}

export interface ForceRefresherDeps {
  readonly clock: Clock;
  readonly wechat: Pick<WeChatClient, 'checkToken'>;
  readonly cache: TokenCache;
  readonly refresher: Pick<CredentialRefresher, 'refresh'>;
  readonly status: AppStatusBook;
  readonly budget: ForceBudgetPort;
  readonly store: Pick<TokenStore, 'checkState' | 'beginCheck' | 'recordVerdict'>;
  readonly log?: (level: 'info' | 'warn', obj: object, msg: string) => void;
}

/**
 * ForceRefresh as a conditional reset (invariant 6, client-go's ResetTokenOlderThan):
 * - a stale token that is no longer current costs nothing: the current one is returned;
 * - concurrent reports of the same token share one validity check and at most one fetch;
 * - a token WeChat still accepts is kept (the caller's error had another cause), but a verdict
 *   answers only the reports that arrived before its check was sent: a token can die at WeChat
 *   at any moment, and a caller who saw it die must not be told "still valid" by an older check;
 * - forced fetches are rate-limited per app to protect WeChat's daily quota;
 * - an empty stale token is an operator's explicit refresh: no check, audited in the log.
 */
export class ForceRefresher {
  /** Flights still taking reports, by app and token fingerprint. */
  readonly #open = new Map<string, Flight>();

  constructor(private readonly deps: ForceRefresherDeps) {}

  async forceRefresh(
    app: AppConfig,
    staleToken: string,
    reason: string,
  ): Promise<ForceRefreshResult> {
    if (staleToken === '') return this.#operatorRefresh(app, reason);
    const current = this.deps.cache.get(app.appId);
    const now = this.deps.clock.now();
    if (current && isLive(current, now) && current.value !== staleToken) {
      return { token: current, refreshed: false };
    }
    // Reports of one token join one open flight synchronously (keyed by a fingerprint, so
    // the map never holds caller-supplied tokens verbatim). Each brings its arrival mark: how
    // many checks of the token were sent, cluster-wide, before it arrived.
    const fp = fingerprint(staleToken);
    const key = `${app.appId}\0${fp}`;
    const mark = this.#checksSent(app.appId, fp);
    const open = this.#open.get(key);
    if (open) {
      open.marks.push(mark);
      return open.result;
    }
    const flight: Flight = { marks: [mark], result: Promise.resolve(undefined as never) };
    this.#open.set(key, flight);
    // The flight closes before it decides anything: later reports start the next one.
    const close = (): void => {
      if (this.#open.get(key) === flight) this.#open.delete(key);
    };
    flight.result = this.#checkAndRefresh(app, staleToken, fp, flight, close, current).finally(
      close,
    );
    return flight.result;
  }

  async #checksSent(appId: string, fp: string): Promise<number> {
    try {
      return (await this.deps.store.checkState(appId, fp)).sent;
    } catch {
      // Store unreachable: no verdict can be trusted as fresh; this report needs its own check.
      return Number.POSITIVE_INFINITY;
    }
  }

  async #checkAndRefresh(
    app: AppConfig,
    staleToken: string,
    fp: string,
    flight: Flight,
    close: () => void,
    current: TokenRecord | undefined,
  ): Promise<ForceRefreshResult> {
    const live = current !== undefined && isLive(current, this.deps.clock.now());
    const { store } = this.deps;
    /** The latest arrival among the flight's reports: a verdict must be newer than all. */
    const arrival = async (): Promise<number> => {
      close();
      return Math.max(...(await Promise.all(flight.marks)));
    };
    const fresh = (state: CheckState, after: number): boolean =>
      state.latest !== undefined && state.latest.seq > after && state.latest.valid;
    for (let round = 1; ; round++) {
      // Set when this flight's own precheck or wait decided to keep the token.
      let keptFresh = false;
      // Under the app's refresh lock (cluster-wide), after the store re-read, so checks of one
      // token run one at a time: a verdict sent after every report of the flight arrived
      // answers them; else the flight sends the next check, which answers all of them.
      const precheck = async (): Promise<'keep' | 'fetch'> => {
        if (live) {
          const after = await arrival();
          keptFresh = fresh(await store.checkState(app.appId, fp), after);
          if (keptFresh) return 'keep';
          const seq = await store.beginCheck(app.appId, fp);
          const valid = await this.#stillValid(app.appId, staleToken);
          if (valid !== undefined) {
            await store.recordVerdict(app.appId, fp, { seq, valid }).catch(() => undefined);
          }
          keptFresh = valid === true;
          if (keptFresh) return 'keep';
        }
        await this.#guard(app);
        return 'fetch';
      };
      // While another replica holds the lock: its verdict answers the flight if it is fresh.
      const keptElsewhere = async (): Promise<boolean> =>
        (keptFresh = fresh(await store.checkState(app.appId, fp), await arrival()));
      const result = await this.#fetch(app, current, false, { precheck, keptElsewhere });
      if (result.outcome === 'kept') {
        // Joined a refresh already under way: its verdict answers this flight only if its
        // check was sent after every report arrived; if not, run again (the next check).
        keptFresh ||= fresh(await store.checkState(app.appId, fp), await arrival());
        if (keptFresh) return { token: result.token, refreshed: false };
        if (round < MAX_ROUNDS) continue;
        throw new StoreUnavailableError(`force refresh ${app.appId}: checks kept overlapping`);
      }
      if (
        app.mode === 'stable' &&
        result.outcome === 'unchanged' &&
        result.token.value === staleToken
      ) {
        // Normal mode handed back the very token WeChat rejected: only force_refresh replaces it.
        await this.#guard(app);
        return this.#finish(current, await this.#fetch(app, current, true));
      }
      return this.#finish(current, result);
    }
  }

  async #operatorRefresh(app: AppConfig, reason: string): Promise<ForceRefreshResult> {
    this.deps.log?.(
      'warn',
      { appId: app.appId, reason, audit: true },
      'operator forced a token refresh',
    );
    // No quota or config block here: an operator acts after clearing the quota or fixing the
    // IP whitelist, and needs this call to find out whether it worked.
    await this.#checkBudget(app);
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

  async #guard(app: AppConfig): Promise<void> {
    const blocking = this.deps.status.blockingKind(app.appId);
    if (blocking === 'config') {
      throw new AppMisconfiguredError(app.appId, this.deps.status.lastError(app.appId)!.error);
    }
    if (blocking === 'quota') throw new RefreshRateLimitedError(app.appId, 'upstream_quota', 0);
    await this.#checkBudget(app);
  }

  async #checkBudget(app: AppConfig): Promise<void> {
    await this.deps.budget.check(app.appId, app.mode);
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
        // The fetch happened: a budget that cannot be written is logged, not turned into a
        // failed call (the caller has its new token).
        await this.deps.budget.consume(app.appId, app.mode).catch((err: unknown) => {
          this.deps.log?.(
            'warn',
            { appId: app.appId, err },
            'forced fetch not counted in the budget',
          );
        });
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
