import type { Clock, TimerHandle } from '../../src/shared/clock.js';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A manual clock: time moves only when a test calls `advance`, which fires due timers
 * in order and lets the promise jobs they start settle between timers.
 */
export class FakeClock implements Clock {
  /** Monotonic time; timers run on it. The wall clock is it plus #wallStep. */
  #now: number;
  #wallStep = 0;
  #seq = 0;
  readonly #timers = new Map<number, Pending>();

  constructor(start = Date.UTC(2026, 10, 25, 4, 0, 0)) {
    this.#now = start;
  }

  now(): number {
    return this.#now + this.#wallStep;
  }

  monotonic(): number {
    return this.#now;
  }

  /** Steps the wall clock only (an NTP correction, `date -s`): timers and monotonic time don't move. */
  stepWall(ms: number): void {
    this.#wallStep += ms;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), seq: id, fn });
    return { id } as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete((handle as { id: number }).id);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const handle = this.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        this.clearTimeout(handle);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await flushPromises();
      const next = [...this.#timers.values()]
        .filter((t) => t.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.#timers.delete(next.seq);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    this.#now = target;
    await flushPromises();
  }
}

/** Lets queued promise jobs (and the ones they queue) run. */
export async function flushPromises(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}
