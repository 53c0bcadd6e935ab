import type { Clock } from '../shared/clock.js';
import type { Lease, LeaseHandle } from './lease.js';

/** Cap on a follower's retry interval (see retryIntervalMs). */
const FOLLOWER_RETRY_MS = 250;

export interface LeaderElectorOptions {
  readonly lease: Lease;
  readonly clock: Clock;
  readonly ttlMs: number;
  /** How often the leader extends; config checks it is < ttlMs / 2. */
  readonly renewIntervalMs: number;
  /**
   * How soon a follower tries again after finding the lease held. Default: renewIntervalMs,
   * capped at 250 ms, so a lease released on SIGTERM is taken within ~¼ s, not a renew interval
   * (attempts are one SET NX per Redis node). After an error the follower waits
   * renewIntervalMs, so an outage does not multiply retries and log lines.
   */
  readonly retryIntervalMs?: number;
  /** Leader-only work; it must stop when `signal` aborts. */
  readonly onStartedLeading: (signal: AbortSignal) => Promise<void>;
  readonly onStoppedLeading?: () => void;
  /** The lease could not be extended (lost, or could lapse first): leadership ends now. */
  readonly onExtensionFailed?: () => void;
  readonly onError?: (err: unknown) => void;
}

/**
 * Leadership as a lease (invariant 7), one loop with callbacks like client-go's
 * leaderelection: acquire → onStartedLeading(signal) → extend every renewInterval →
 * on a failed extension, or when the lease could lapse before the extension returns,
 * abort the signal at once → onStoppedLeading. On shutdown the lease is released so
 * another replica takes over without waiting for the TTL.
 */
export class LeaderElector {
  #leading = false;

  constructor(private readonly o: LeaderElectorOptions) {}

  isLeader(): boolean {
    return this.#leading;
  }

  /** Runs until `signal` aborts; resolves after leader-only work stopped and the lease is released. */
  async run(signal: AbortSignal): Promise<void> {
    const retry = this.o.retryIntervalMs ?? Math.min(this.o.renewIntervalMs, FOLLOWER_RETRY_MS);
    while (!signal.aborted) {
      let wait = retry;
      try {
        const handle = await this.o.lease.tryAcquire(this.o.ttlMs);
        if (handle && handle.expiresAt > this.o.clock.now()) await this.#lead(handle, signal);
      } catch (err) {
        this.o.onError?.(err);
        wait = this.o.renewIntervalMs;
      }
      if (!signal.aborted) await this.o.clock.sleep(wait, signal).catch(() => undefined);
    }
  }

  async #lead(first: LeaseHandle, signal: AbortSignal): Promise<void> {
    const work = new AbortController();
    let handle: LeaseHandle | null = first;
    // Watchdog: if an extension has not landed by the time the lease lapses, stop leading.
    let watchdog = this.#arm(handle, work);
    this.#leading = true;
    const done = this.o
      .onStartedLeading(work.signal)
      .catch((err: unknown) => this.o.onError?.(err));
    try {
      while (!signal.aborted && !work.signal.aborted) {
        await this.o.clock
          .sleep(this.o.renewIntervalMs, AbortSignal.any([signal, work.signal]))
          .catch(() => undefined);
        if (signal.aborted || work.signal.aborted) break;
        // Raced against the watchdog: a hung extend must not keep us "leading" past the lapse.
        handle = await this.#safe(() =>
          nullOnAbort(this.o.lease.extend(handle!, this.o.ttlMs), work.signal),
        );
        this.o.clock.clearTimeout(watchdog);
        if (!handle || handle.expiresAt <= this.o.clock.now()) {
          this.o.onExtensionFailed?.();
          break;
        }
        watchdog = this.#arm(handle, work);
      }
    } finally {
      this.o.clock.clearTimeout(watchdog);
      this.#leading = false;
      work.abort(new Error('leadership ended'));
      await done;
      this.o.onStoppedLeading?.();
      if (handle && signal.aborted) await this.#safe(() => this.o.lease.release(handle!));
    }
  }

  #arm(handle: LeaseHandle, work: AbortController) {
    return this.o.clock.setTimeout(
      () => work.abort(new Error('lease lapsed before it could be extended')),
      handle.expiresAt - this.o.clock.now(),
    );
  }

  async #safe<T>(fn: () => Promise<T>): Promise<T | null> {
    try {
      return await fn();
    } catch (err) {
      this.o.onError?.(err);
      return null;
    }
  }
}

/** Settles like `promise`, or with null as soon as `signal` aborts. */
function nullOnAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | null> {
  if (signal.aborted) return Promise.resolve(null);
  return new Promise<T | null>((resolve, reject) => {
    const onAbort = (): void => resolve(null);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
