import type { Clock } from '../shared/clock.js';
import type { RefreshLocks } from '../token/token-store.js';
import { WeChatError, type WeChatEndpoint } from '../wechat/wechat-error.js';
import type { ExchangeRecord, SessionStore } from './session-store.js';

/** A code lives 5 minutes at WeChat (wx.login and getPhoneNumber); its recorded answer as long. */
export const CODE_LIFETIME_MS = 300_000;
const LOCK_TTL_MS = 15_000;
const POLL_MS = 25;

/** One exchange of a single-use code, as OncePerCode runs it. */
export interface CodeExchange<T> {
  readonly appId: string;
  /** A hash of (app, code): the only form in which the code is ever stored. */
  readonly hash: string;
  /** The authenticated caller's name: a retry is answered only to the caller that exchanged. */
  readonly caller: string;
  /** Named in the error when another replica's exchange does not finish in time. */
  readonly endpoint: WeChatEndpoint;
  /** Holding the lock, with nothing recorded: calls WeChat and records the answer. */
  exchange(): Promise<T>;
  /** The answer a recorded result gives this caller. */
  replay(record: ExchangeRecord): Promise<T>;
  /** Called when this call is answered by another call's exchange (metrics). */
  onDedup?(): void;
}

/**
 * Single-use codes (wx.login, getPhoneNumber) exchanged upstream at most once: concurrent calls
 * of one caller in this process share one promise, and across replicas a lock keyed by the
 * code's hash plus a short-lived recorded answer make every duplicate or retry get the first
 * answer, never WeChat's "code been used".
 */
export class OncePerCode {
  readonly #inFlight = new Map<string, Promise<unknown>>();

  constructor(
    private readonly deps: {
      readonly clock: Clock;
      readonly sessions: Pick<SessionStore, 'getExchange'>;
      readonly locks: RefreshLocks;
    },
  ) {}

  run<T>(x: CodeExchange<T>): Promise<T> {
    // Shared only by calls of the same caller: another caller must not ride on this promise.
    const flightKey = `${x.hash}\0${x.caller}`;
    const running = this.#inFlight.get(flightKey) as Promise<T> | undefined;
    if (running) {
      x.onDedup?.();
      return running;
    }
    const pending = this.#acrossReplicas(x).finally(() => this.#inFlight.delete(flightKey));
    this.#inFlight.set(flightKey, pending);
    return pending;
  }

  /**
   * 1. the lock; 2. holding it, a recorded answer or the exchange (recorded before the lock
   * goes); 3. without it, the holder's recorded answer, polled until it appears. A fresh code
   * (the common case) costs one lock, one read and one write.
   */
  async #acrossReplicas<T>(x: CodeExchange<T>): Promise<T> {
    const { sessions, locks, clock } = this.deps;
    const deadline = clock.now() + LOCK_TTL_MS;
    for (;;) {
      const lock = await locks.tryAcquire(`${x.appId}:code:${x.hash}`, LOCK_TTL_MS);
      if (lock) {
        try {
          const recorded = await sessions.getExchange(x.appId, x.hash);
          if (recorded) {
            x.onDedup?.();
            return await x.replay(recorded);
          }
          return await x.exchange();
        } finally {
          // Not awaited: a code's verdict is recorded before this point (a transient failure
          // is not, and the next holder asks again), so a waiter loses nothing, and the caller
          // does not wait a store round trip for it. A failed release expires (LOCK_TTL_MS).
          locks.release(lock).catch(() => undefined);
        }
      }
      const recorded = await sessions.getExchange(x.appId, x.hash);
      if (recorded) {
        x.onDedup?.();
        return x.replay(recorded);
      }
      if (clock.now() >= deadline) {
        throw WeChatError.transport(
          x.endpoint,
          'timed out waiting for another replica to exchange this code',
        );
      }
      await clock.sleep(POLL_MS);
    }
  }
}
