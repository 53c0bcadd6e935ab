import { randomBytes } from 'node:crypto';
import type { SimNewestTicket, SimTicketCheck, SimTicketCounters } from './types.js';

/**
 * Tickets remembered per app and type. A load test minting thousands must not grow memory
 * without end; past this, the oldest are forgotten even if unexpired (and then read as dead).
 */
export const MAX_TICKETS_PER_TYPE = 256;

interface Ticket {
  readonly value: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/**
 * A ticket in WeChat's shape: 86 characters of [A-Za-z0-9_-], like the official example
 * `sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg`
 * (wechat-api.md §11). Random from crypto, so one can never be guessed from another.
 */
export function mintTicketValue(): string {
  return randomBytes(64).toString('base64url');
}

/**
 * One app's tickets of one type (wechat-api.md §11) and the getticket counters of that type.
 * Every mint is a new ticket; an earlier one stays usable until its own expiry (WeChat does not
 * document that a new getticket kills the previous ticket, so nothing here kills one early).
 * Pure: time is passed in.
 */
export class TicketShelf {
  /** Oldest first. */
  #tickets: Ticket[] = [];
  #counters: SimTicketCounters = fresh(0);

  /** A new ticket living `lifetimeMs`; expired tickets are forgotten on the way. */
  mint(now: number, lifetimeMs: number, value = mintTicketValue()): Ticket {
    this.#tickets = this.#tickets.filter((t) => now < t.expiresAt);
    const ticket = { value, issuedAt: now, expiresAt: now + lifetimeMs };
    this.#tickets.push(ticket);
    if (this.#tickets.length > MAX_TICKETS_PER_TYPE) this.#tickets.shift();
    return ticket;
  }

  check(value: string, now: number): SimTicketCheck {
    const ticket = this.#tickets.find((t) => t.value === value);
    if (!ticket) return { alive: false, newest: false };
    return {
      alive: now < ticket.expiresAt,
      newest: ticket === this.#tickets.at(-1),
      expiresAt: ticket.expiresAt,
    };
  }

  newest(now: number): SimNewestTicket | undefined {
    const ticket = this.#tickets.at(-1);
    if (!ticket) return undefined;
    const { value, issuedAt, expiresAt } = ticket;
    return { ticket: value, issuedAt, expiresAt, alive: now < expiresAt };
  }

  /** How many tickets are remembered (bounded by MAX_TICKETS_PER_TYPE). */
  get size(): number {
    return this.#tickets.length;
  }

  get counters(): SimTicketCounters {
    return { ...this.#counters };
  }

  /** A call of this type arrived; returns what ends it (idempotent). */
  enter(): () => void {
    const c = this.#counters;
    c.calls++;
    c.inFlight++;
    c.maxInFlight = Math.max(c.maxInFlight, c.inFlight);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      // After a reset the call may already be gone from the count; never go below zero.
      this.#counters.inFlight = Math.max(0, this.#counters.inFlight - 1);
    };
  }

  accepted(): void {
    this.#counters.accepted++;
  }

  rejectedDeadToken(): void {
    this.#counters.rejectedDeadToken++;
  }

  /** Zeroes the counters; calls still in flight stay counted in inFlight and maxInFlight. */
  resetCounters(): void {
    this.#counters = fresh(this.#counters.inFlight);
  }
}

function fresh(inFlight: number): SimTicketCounters {
  return { calls: 0, accepted: 0, rejectedDeadToken: 0, inFlight, maxInFlight: inFlight };
}
