import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { AppMode } from '../config/config.js';
import {
  forceLimitsFor,
  nextDayIn,
  type ForceBudgetPort,
  type ForceLimits,
} from '../refresher/force-budget.js';
import { beijingDayKey } from '../refresher/refresh-policy.js';
import type { Clock } from '../shared/clock.js';
import { RefreshRateLimitedError, StoreUnavailableError } from '../shared/errors.js';
import type { RedisKeys } from './redis-keys.js';

const FORCE_BUDGET_LUA = readFileSync(new URL('./lua/force-budget.lua', import.meta.url), 'utf8');

type BudgetCommand = (key: string, ...argv: string[]) => Promise<[number, number]>;

const DAILY = 1;
const INTERVAL = 2;

/**
 * The forced-fetch budget kept in Redis: every replica checks and counts against the same
 * numbers, so a herd spread over N replicas gets the configured budget, not N times it. On N
 * masters each node keeps a copy; a majority must answer, and the strictest answer wins.
 * Without a majority a forced fetch is refused (UNAVAILABLE): it costs quota, and without the
 * store there is no refresh lock to fetch under anyway.
 */
export class RedisForceBudget implements ForceBudgetPort {
  readonly #quorum: number;
  /** The last answer per app, for ListApps' "forced refreshes left" (a display, not a decision). */
  readonly #left = new Map<string, number>();

  constructor(
    private readonly clients: readonly Redis[],
    private readonly keys: RedisKeys,
    private readonly limits: ForceLimits,
    private readonly clock: Pick<Clock, 'now'>,
  ) {
    this.#quorum = Math.floor(clients.length / 2) + 1;
    for (const c of clients) {
      c.defineCommand('wxtokenForceBudget', { numberOfKeys: 1, lua: FORCE_BUDGET_LUA });
    }
  }

  async check(appId: string, mode: AppMode): Promise<void> {
    const answers = await this.#run(appId, mode, 'check');
    const now = this.clock.now();
    if (answers.some(([code]) => code === DAILY)) {
      this.#left.set(appId, 0);
      throw new RefreshRateLimitedError(appId, 'daily_budget', nextDayIn(now));
    }
    const wait = Math.max(0, ...answers.filter(([c]) => c === INTERVAL).map(([, w]) => w));
    if (wait > 0) throw new RefreshRateLimitedError(appId, 'min_interval', wait);
    this.#left.set(appId, Math.min(...answers.map(([, left]) => left)));
  }

  async consume(appId: string, mode: AppMode): Promise<void> {
    const answers = await this.#run(appId, mode, 'consume');
    this.#left.set(appId, Math.min(...answers.map(([, left]) => left)));
  }

  remaining(appId: string, mode: AppMode): number {
    return this.#left.get(appId) ?? forceLimitsFor(this.limits, mode).daily;
  }

  forget(appId: string): void {
    this.#left.delete(appId);
  }

  async #run(appId: string, mode: AppMode, op: 'check' | 'consume'): Promise<[number, number][]> {
    const { minIntervalMs, daily } = forceLimitsFor(this.limits, mode);
    const day = String(beijingDayKey(this.clock.now()));
    const key = this.keys.forceBudget(appId);
    const results = await Promise.allSettled(
      this.clients.map((c) =>
        (c as unknown as { wxtokenForceBudget: BudgetCommand }).wxtokenForceBudget(
          key,
          op,
          day,
          String(Math.ceil(minIntervalMs)),
          String(daily),
        ),
      ),
    );
    const answers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    if (answers.length < this.#quorum) {
      throw new StoreUnavailableError(`force budget ${appId}`, {
        cause: results.find((r) => r.status === 'rejected')?.reason,
      });
    }
    return answers.map(([code, value]) => [Number(code), Number(value)]);
  }
}
