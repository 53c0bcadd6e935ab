import type { Clock } from '../shared/clock.js';
import { MapSweeper } from '../shared/map-sweeper.js';
import { ShardedMap } from '../shared/sharded-map.js';
import { supersedes, type TokenRecord } from './token.js';
import {
  packedExpiresAt,
  packedValue,
  packRecord,
  unpackRecord,
  type PackedRecord,
} from './packed-record.js';

type Listener = (token: TokenRecord) => void;

/**
 * Previous tokens looked at per token applied, to forget the ones past their expiry. Every app
 * applies one token per lifetime, so the hand goes round all apps 16 times a lifetime whatever
 * their number: a 2 h token's predecessor, dead at WeChat from its own expiry (5-6 minutes
 * after the refresh with the default refresh.aheadSeconds), is dropped at most ~7.5 minutes
 * later instead of being held for the rest of the 2 h (a string per app, see packed-record.ts).
 */
export const PREVIOUS_SWEEP_STEP = 16;

/**
 * This replica's in-memory view of every app's token: what GetToken answers from
 * (design.md: the hot path never waits on the store or WeChat). Updates only move
 * forward (`supersedes`), so a late or duplicated notification can never roll back.
 *
 * Records are held packed (packed-record.ts: one string per app instead of four objects): every
 * read makes a fresh record object, equal to the one applied but not the same object.
 */
export class TokenCache {
  readonly #current = new Map<string, PackedRecord>();
  /**
   * Sharded: swept entries leave and come back with the next refresh, and a plain Map of
   * 100,000 apps would stall the loop rehashing every few tens of thousands of them.
   */
  readonly #previous = new ShardedMap<PackedRecord>();
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #anyListeners = new Set<Listener>();
  readonly #dropListeners = new Set<(appId: string) => void>();
  readonly #sweeper: MapSweeper<string, PackedRecord> | undefined;

  /**
   * With a clock, a previous token past its expiry is forgotten a little later (see
   * PREVIOUS_SWEEP_STEP); without one, it is kept until the next replacement.
   */
  constructor(clock?: Pick<Clock, 'now'>) {
    this.#sweeper = clock
      ? new MapSweeper(
          this.#previous,
          (t) => packedExpiresAt(t) <= clock.now(),
          PREVIOUS_SWEEP_STEP,
        )
      : undefined;
  }

  get(appId: string): TokenRecord | undefined {
    const packed = this.#current.get(appId);
    return packed === undefined ? undefined : unpackRecord(appId, packed);
  }

  /**
   * The token the current one replaced (still valid at WeChat during the overlap), until it is
   * swept after its own expiry.
   */
  previous(appId: string): TokenRecord | undefined {
    const packed = this.#previous.get(appId);
    return packed === undefined ? undefined : unpackRecord(appId, packed);
  }

  /** The current token's expiresAt (read without making the record: a scrape reads every app's). */
  expiresAtOf(appId: string): number | undefined {
    const packed = this.#current.get(appId);
    return packed === undefined ? undefined : packedExpiresAt(packed);
  }

  /** Whether `value` is `appId`'s current or previous token (read without making records). */
  holds(appId: string, value: string): boolean {
    const current = this.#current.get(appId);
    if (current !== undefined && packedValue(current) === value) return true;
    const previous = this.#previous.get(appId);
    return previous !== undefined && packedValue(previous) === value;
  }

  /**
   * Applies `token` if it supersedes what is cached (a higher generation, or the same one
   * fetched later: see `supersedes`); returns whether it was applied.
   */
  offer(token: TokenRecord): boolean {
    const packed = this.#current.get(token.appId);
    const cached = packed === undefined ? undefined : unpackRecord(token.appId, packed);
    if (cached && !supersedes(token, cached)) return false;
    if (packed !== undefined && cached?.value !== token.value) {
      this.#previous.set(token.appId, packed);
    }
    this.#current.set(token.appId, packRecord(token));
    this.#sweeper?.sweep();
    for (const listener of this.#listeners.get(token.appId) ?? []) listener(token);
    for (const listener of this.#anyListeners) listener(token);
    return true;
  }

  /** Forgets an app that left (an unauthorized authorizer): nothing of it is served again. */
  drop(appId: string): void {
    this.#current.delete(appId);
    this.#previous.delete(appId);
    for (const listener of this.#dropListeners) listener(appId);
  }

  /** Every app's current token, in no particular order. */
  *tokens(): IterableIterator<TokenRecord> {
    for (const [appId, packed] of this.#current) yield unpackRecord(appId, packed);
  }

  /** Calls `listener` with every app dropped from now on (see `drop`). */
  subscribeDrops(listener: (appId: string) => void): () => void {
    this.#dropListeners.add(listener);
    return () => this.#dropListeners.delete(listener);
  }

  /** Calls `listener` with every token applied for any app from now on. */
  subscribeAll(listener: Listener): () => void {
    this.#anyListeners.add(listener);
    return () => this.#anyListeners.delete(listener);
  }

  /** Calls `listener` with every token applied for `appId` from now on. */
  subscribe(appId: string, listener: Listener): () => void {
    let set = this.#listeners.get(appId);
    if (!set) {
      set = new Set();
      this.#listeners.set(appId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      // An app's set goes with its last listener: authorizers come and go by the thousand.
      if (set.size === 0 && this.#listeners.get(appId) === set) this.#listeners.delete(appId);
    };
  }

  /**
   * Resolves with the first applied token (current or future) that satisfies `accept`;
   * rejects with the signal's reason when it aborts first.
   */
  waitFor(
    appId: string,
    accept: (token: TokenRecord) => boolean,
    signal: AbortSignal,
  ): Promise<TokenRecord> {
    const cached = this.get(appId);
    if (cached && accept(cached)) return Promise.resolve(cached);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        unsubscribe();
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        done();
        reject(signal.reason);
      };
      const unsubscribe = this.subscribe(appId, (token) => {
        if (!accept(token)) return;
        done();
        resolve(token);
      });
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
