import type { Clock } from '../shared/clock.js';
import { TokenUnavailableError } from '../wechat/upstream-errors.js';
import type { AppStatusBook, AppStatusView } from '../refresher/app-status-book.js';
import type { CredentialRefresher } from '../refresher/credential-refresher.js';
import { isServable, type CredentialRecord } from '../token/token.js';
import type { TokenCache } from '../token/token-cache.js';

export interface LiveReaderDeps {
  readonly clock: Clock;
  readonly cache: TokenCache;
  readonly status: AppStatusBook;
  /** True while a fetch for the app is running in this process. */
  readonly isRefreshing: (appId: string) => boolean;
  /** Calls `listener` with the app id of every failed refresh attempt. */
  readonly onRefreshFailed: (listener: (appId: string) => void) => () => void;
  readonly storeHealth?: () => string;
  /** Upper bound on how long a read waits for an app's first credential. */
  readonly maxWaitMs: number;
  /** What the credential is called in errors: "token", "jsapi ticket". */
  readonly noun: string;
}

/** What a reader needs of a credential engine. */
export interface ReadableEngine {
  readonly cache: TokenCache;
  readonly status: AppStatusBook;
  readonly refresher: Pick<CredentialRefresher, 'isRefreshing' | 'subscribe'>;
}

/** A reader of one engine's credentials, ending a wait as soon as a fetch of that app fails. */
export function engineReader(
  engine: ReadableEngine,
  o: { clock: Clock; maxWaitMs: number; noun: string; storeHealth?: (() => string) | undefined },
): LiveReader {
  return new LiveReader({
    clock: o.clock,
    cache: engine.cache,
    status: engine.status,
    isRefreshing: (appId) => engine.refresher.isRefreshing(appId),
    onRefreshFailed: (listener) =>
      engine.refresher.subscribe((e) => {
        if (e.result === 'error') listener(e.appId);
      }),
    ...(o.storeHealth ? { storeHealth: o.storeHealth } : {}),
    maxWaitMs: o.maxWaitMs,
    noun: o.noun,
  });
}

/**
 * Reads one kind of credential from this replica's memory, for GetToken and GetTicket alike.
 * It waits only while an app has never had one (warming) or a fetch is under way, bounded by
 * maxWaitMs and the caller's deadline, and otherwise fails at once with the last upstream
 * error (invariant 3: never a dead value).
 */
export class LiveReader {
  constructor(private readonly deps: LiveReaderDeps) {}

  /** The live credential from memory, or undefined. The hot path: no awaits, no allocation. */
  peek(appId: string): CredentialRecord | undefined {
    const record = this.deps.cache.get(appId);
    return isServable(record, this.deps.clock.now()) ? record : undefined;
  }

  async get(appId: string, signal?: AbortSignal): Promise<CredentialRecord> {
    const live = this.peek(appId);
    if (live) return live;
    const view = this.deps.status.view(appId, this.deps.cache.get(appId), this.deps.clock.now());
    // A warming app waits for its first value, unless the store is down: then no classic
    // fetch can start (no lock) and the caller learns why at once instead of after maxWaitMs.
    const waitable = view.state === 'warming' && !this.#storeDown();
    if (!waitable && !this.deps.isRefreshing(appId)) throw this.#unavailable(view);
    return this.#waitForLive(appId, signal);
  }

  async #waitForLive(appId: string, signal?: AbortSignal): Promise<CredentialRecord> {
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

  #storeDown(): boolean {
    return this.deps.storeHealth?.() === 'down';
  }

  #unavailable(view: AppStatusView): TokenUnavailableError {
    const noun = this.deps.noun;
    const reason =
      view.state === 'warming'
        ? this.#storeDown()
          ? `the token store (Redis) is not reachable yet: no ${noun} read or fetched; retrying`
          : `the first ${noun} has not been fetched yet`
        : view.state === 'config_error'
          ? 'WeChat rejected the app configuration'
          : view.state === 'quota_exhausted'
            ? `WeChat's daily ${noun} quota is spent`
            : view.lastError
              ? `the last refresh failed and the ${noun} has expired`
              : `the ${noun} has expired`;
    return new TokenUnavailableError(view.appId, reason, view.lastError?.error, noun);
  }
}
