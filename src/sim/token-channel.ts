import type { SimChannel } from './types.js';

/** A token as issued: its value and lifetime in clock milliseconds. */
export interface IssuedToken {
  readonly value: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** 0 valid, 40001 superseded or unknown, 42001 expired without being superseded (wechat-api.md §3). */
export type TokenVerdict = 0 | 40001 | 42001;

/**
 * One token channel of one app: the state model of wechat-api.md §3. Only `current` and the
 * immediately `previous` token are remembered; a rotation gives the outgoing token a grace of
 * `min(its natural expiry, rotation time + overlap)` and silently kills the one before it, which
 * is what ends a leaked token after two rotations. Pure: time is passed in.
 */
export class TokenChannel {
  readonly kind: SimChannel;
  #current: IssuedToken | undefined;
  #previous: { token: IssuedToken; graceUntil: number } | undefined;

  constructor(kind: SimChannel) {
    this.kind = kind;
  }

  get current(): IssuedToken | undefined {
    return this.#current;
  }

  /** Makes `value` current; the outgoing token keeps a grace of `overlapMs` at most. */
  rotate(value: string, now: number, lifetimeMs: number, overlapMs: number): IssuedToken {
    const outgoing = this.#current;
    this.#previous = outgoing && {
      token: outgoing,
      graceUntil: Math.min(outgoing.expiresAt, now + overlapMs),
    };
    this.#current = { value, issuedAt: now, expiresAt: now + lifetimeMs };
    return this.#current;
  }

  /** Ends the previous token's grace now (a leak response, or another system rotating). */
  endOverlap(now: number): void {
    if (this.#previous) {
      this.#previous.graceUntil = Math.min(this.#previous.graceUntil, now);
    }
  }

  verdict(value: string, now: number): TokenVerdict {
    if (this.#current?.value === value) {
      // Never superseded, so past its lifetime it is "expired", not "not latest".
      return now < this.#current.expiresAt ? 0 : 42001;
    }
    if (this.#previous?.token.value === value) {
      return now < this.#previous.graceUntil ? 0 : 40001;
    }
    return 40001;
  }
}
