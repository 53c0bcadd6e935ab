import type { TicketType } from '../../src/shared/tickets.js';
import type { SimCall, SimCheckResult, SimCounters } from '../../src/sim/types.js';

/** What the simulator counts of one app's getticket calls of one type. */
export interface SimTicketCounters {
  calls: number;
  accepted: number;
  rejectedDeadToken: number;
  inFlight: number;
  maxInFlight: number;
}

/**
 * A client of the simulator's control API (/__sim/), as business teams would use it; the
 * benchmarks (bench/) drive the simulator through it too.
 */
export class SimControl {
  constructor(readonly url: string) {}

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`sim ${method} ${path}: HTTP ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  /** Any control route (e.g. the third-party ones under /__sim/components). */
  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.#call(method, path, body);
  }

  configureApp(settings: Record<string, unknown>): Promise<unknown> {
    return this.#call('POST', '/__sim/apps', settings);
  }

  counters(appId: string): Promise<SimCounters> {
    return this.#call('GET', `/__sim/apps/${encodeURIComponent(appId)}/counters`);
  }

  /** The call log of `appId` from `since` (simulator clock ms, the host clock). */
  async calls(appId: string, since = 0): Promise<SimCall[]> {
    const r = await this.#call<{ calls: SimCall[] }>(
      'GET',
      `/__sim/calls?appId=${encodeURIComponent(appId)}&since=${since}`,
    );
    return r.calls;
  }

  fault(
    appId: string,
    fault: { kind: string; count: number; endpoints?: string[] },
  ): Promise<unknown> {
    return this.#call('POST', `/__sim/apps/${encodeURIComponent(appId)}/faults`, fault);
  }

  rotate(appId: string, endOverlap = false): Promise<{ access_token: string; expires_in: number }> {
    return this.#call('POST', `/__sim/apps/${encodeURIComponent(appId)}/rotate`, { endOverlap });
  }

  /** The simulator's verdict on a token right now (not counted, not logged). */
  check(accessToken: string): Promise<SimCheckResult> {
    return this.#call('POST', '/__sim/check', { access_token: accessToken });
  }

  /** getticket counters of one app and type. */
  ticketCounters(appId: string, type: TicketType): Promise<SimTicketCounters> {
    return this.#call('GET', `/__sim/apps/${encodeURIComponent(appId)}/tickets/${type}/counters`);
  }

  /** Is `ticket` alive now at the simulator, and the newest of its app and type? */
  checkTicket(
    appId: string,
    type: TicketType,
    ticket: string,
  ): Promise<{ alive: boolean; newest: boolean }> {
    return this.#call('POST', `/__sim/apps/${encodeURIComponent(appId)}/tickets/${type}/check`, {
      ticket,
    });
  }

  newestTicket(
    appId: string,
    type: TicketType,
  ): Promise<{ ticket: string; issuedAt: number; expiresAt: number; alive: boolean }> {
    return this.#call('GET', `/__sim/apps/${encodeURIComponent(appId)}/tickets/${type}/newest`);
  }

  /** A getPhoneNumber button code for `phoneNumber` ("+86 13800138000"). */
  phoneCode(appId: string, phoneNumber: string): Promise<{ code: string }> {
    return this.#call('POST', `/__sim/apps/${encodeURIComponent(appId)}/phone-codes`, {
      phoneNumber,
    });
  }

  /** A payment getpaidunionid can answer for (within its window). */
  payment(appId: string, payment: Record<string, string>): Promise<unknown> {
    return this.#call('POST', `/__sim/apps/${encodeURIComponent(appId)}/payments`, payment);
  }
}
