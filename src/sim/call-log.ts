import type { SimCall } from './types.js';

/** Enough for any test; bounded so a long `wxtoken dev` session does not grow without end. */
const DEFAULT_CAPACITY = 10_000;

export interface CallFilter {
  appId?: string;
  /** Calls at or after this clock time (ms). */
  since?: number;
}

/** The most recent calls to the WeChat endpoints, oldest first. */
export class CallLog {
  readonly #capacity: number;
  #calls: SimCall[] = [];

  constructor(capacity = DEFAULT_CAPACITY) {
    this.#capacity = capacity;
  }

  record(call: SimCall): void {
    this.#calls.push(call);
    if (this.#calls.length > this.#capacity) this.#calls.shift();
  }

  list(filter: CallFilter = {}): SimCall[] {
    return this.#calls
      .filter((c) => filter.appId === undefined || c.appId === filter.appId)
      .filter((c) => filter.since === undefined || c.at >= filter.since)
      .map((c) => ({ ...c }));
  }

  clear(): void {
    this.#calls = [];
  }
}
