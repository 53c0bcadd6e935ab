/**
 * Time as a dependency. Every time-dependent part takes a Clock so tests can move a
 * fake one instead of sleeping through token lifetimes; main.ts passes systemClock.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch (wall time: expiry times, Beijing days). */
  now(): number;
  /**
   * Milliseconds on a clock that never jumps (NTP steps, an operator's `date -s`): for
   * intervals, rate limits and elapsed time. Its zero means nothing; only differences do.
   */
  monotonic(): number;
  /** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export interface TimerHandle {
  /** Lets the process exit while this timer is pending (no-op on fake clocks). */
  unref?(): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Randomness for jitter, injected like the clock ([0, 1)). */
export type Random = () => number;
