const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * The Beijing calendar day of a clock time. China has one zone, UTC+8, and no DST, so no tz
 * database is needed. That quotas roll over at 00:00 Beijing is UNCONFIRMED (wechat-api.md §11).
 */
export function beijingDay(nowMs: number): number {
  return Math.floor((nowMs + 8 * HOUR_MS) / DAY_MS);
}

export function minuteOf(nowMs: number): number {
  return Math.floor(nowMs / 60_000);
}

/**
 * Counts uses within one period (a day, a minute) and refuses past a limit. The limit is passed
 * per call so that reconfiguring an app changes it without losing today's count.
 */
export class QuotaCounter {
  readonly #periodOf: (nowMs: number) => number;
  #period = Number.NaN;
  #used = 0;

  constructor(periodOf: (nowMs: number) => number) {
    this.#periodOf = periodOf;
  }

  /** Takes one use if the period's count is under `limit`; refused takes are not counted. */
  tryTake(nowMs: number, limit: number): boolean {
    this.#roll(nowMs);
    if (this.#used >= limit) return false;
    this.#used++;
    return true;
  }

  used(nowMs: number): number {
    this.#roll(nowMs);
    return this.#used;
  }

  #roll(nowMs: number): void {
    const period = this.#periodOf(nowMs);
    if (period !== this.#period) {
      this.#period = period;
      this.#used = 0;
    }
  }
}
