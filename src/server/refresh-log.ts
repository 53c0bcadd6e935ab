import type { RefreshEvent } from '../refresher/credential-refresher.js';
import type { Clock, TimerHandle } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { operatorHint } from '../wechat/wechat-error.js';

/** How often a platform's authorizer refreshes are summed up in one line. */
export const AUTHORIZER_SUMMARY_MS = 60_000;

/**
 * The refresh log. A refresh of a configured app or of a component token is a line each, and
 * so is every failed refresh. A third-party platform's authorizers succeed by the hundred
 * thousand: each platform gets one `authorizer refreshes` line a minute with the counts (by
 * credential, trigger and outcome), and the line per authorizer is at debug level. In a refresh
 * wave of 100,000 authorizers (~1,200 a second) a line each was 14 % of the leader's CPU in a
 * profile (serializing, redacting and writing them), and 100,000 lines a token lifetime that
 * nobody reads.
 */
export class RefreshLog {
  /** platform -> "credential trigger result" -> refreshes since the last summary. */
  readonly #counts = new Map<string, Map<string, number>>();
  #timer: TimerHandle | undefined;

  constructor(
    private readonly log: Logger,
    /** The platform (componentAppId) an app is an authorizer of; undefined for other apps. */
    private readonly componentOf: (appId: string) => string | undefined,
    private readonly clock: Clock,
    private readonly summaryMs = AUTHORIZER_SUMMARY_MS,
  ) {}

  record(e: RefreshEvent): void {
    const failed = e.result === 'error' || e.result === 'fenced';
    const component = failed ? undefined : this.componentOf(e.appId);
    if (component === undefined) {
      if (failed) this.log.warn(lineOf(e), 'refresh failed');
      else this.log.info(lineOf(e), 'refresh');
      return;
    }
    if (this.log.isLevelEnabled('debug')) this.log.debug(lineOf(e), 'refresh');
    let counts = this.#counts.get(component);
    if (!counts) {
      counts = new Map();
      this.#counts.set(component, counts);
    }
    const key = `${e.kind} ${e.trigger} ${e.result}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (this.#timer === undefined) {
      this.#timer = this.clock.setTimeout(() => {
        this.#timer = undefined;
        this.flush();
      }, this.summaryMs);
      this.#timer.unref?.();
    }
  }

  /** Logs each platform's counts since the last summary (nothing when none refreshed). */
  flush(): void {
    for (const [component, counts] of this.#counts) {
      let refreshed = 0;
      for (const n of counts.values()) refreshed += n;
      this.log.info(
        { component, refreshed, by: Object.fromEntries(counts) },
        'authorizer refreshes',
      );
    }
    this.#counts.clear();
  }

  /** Logs what is counted and stops the summary timer (shutdown). */
  close(): void {
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.flush();
  }
}

function lineOf(e: RefreshEvent): object {
  return {
    appId: e.appId,
    ...(e.kind !== 'access_token' ? { credential: e.kind } : {}),
    trigger: e.trigger,
    result: e.result,
    generation: e.generation,
    durationMs: Math.round(e.durationMs),
    ...(e.error
      ? {
          errcode: e.error.errcode,
          errmsg: e.error.errmsg,
          kind: e.error.kind,
          hint: operatorHint(e.error),
        }
      : {}),
  };
}
