import type { Clock } from '../shared/clock.js';
import { fingerprint } from '../shared/secret.js';
import { TICKET_TYPES, type TicketType } from '../shared/tickets.js';
import { failWith, type CallRecorder, type Decision, type SimReply } from './call-recorder.js';
import type { SimApp } from './sim-app.js';
import { SimNotFoundError, SimUnknownAppError } from './sim-errors.js';
import { parseSimTicketCheck, parseSimTicketType } from './sim-schemas.js';
import { openTokenCall } from './token-call.js';
import type { TicketShelf } from './ticket-shelf.js';
import type {
  SimCheckResult,
  SimNewestTicket,
  SimTicketCheck,
  SimTicketCounters,
} from './types.js';

export interface SimTicketsDeps {
  clock: Clock;
  calls: Pick<CallRecorder, 'begin' | 'answer'>;
  appOf(appId: string): SimApp | undefined;
  check(accessToken: string): SimCheckResult;
}

/**
 * No source gives getticket's answer to an unknown `type`; 40097 `invalid args` is WeChat's
 * generic errcode for a bad parameter (it is also what the login endpoints give for one).
 */
const INVALID_ARGS = 40097;

function isTicketType(type: string | undefined): type is TicketType {
  return (TICKET_TYPES as readonly (string | undefined)[]).includes(type);
}

/**
 * GET /cgi-bin/ticket/getticket (wechat-api.md §11) and its control operations: the tickets
 * of each app and type live in SimApp's TicketShelf, with counters that let a test prove its
 * server never had two getticket calls in flight for one app and type.
 */
export class SimTickets {
  readonly #deps: SimTicketsDeps;

  constructor(deps: SimTicketsDeps) {
    this.#deps = deps;
  }

  /**
   * In this order: 41001, the token's owner (counted), injected faults, 40001/42001 for a
   * dead token, 40097 for a type other than jsapi and wx_card, then a new ticket. A call
   * naming an owned token and a known type is in flight from now until `done`.
   */
  getTicket(accessToken: string | undefined, type: string | undefined): SimReply {
    const opened = openTokenCall(this.#deps, 'getticket', accessToken);
    const { call } = opened;
    const shelf = isTicketType(type) ? call.app?.tickets[type] : undefined;
    const done = shelf?.enter();
    const decision = this.#decide(opened, shelf, type, accessToken ?? '');
    const reply = this.#deps.calls.answer(call, decision);
    return done ? { ...reply, done } : reply;
  }

  counters(appId: string, type: string): SimTicketCounters {
    return this.#shelf(appId, type).counters;
  }

  resetCounters(appId: string, type: string): void {
    this.#shelf(appId, type).resetCounters();
  }

  /** Is `{ticket}` alive now, and is it the newest of the app and type? */
  check(appId: string, type: string, input: unknown): SimTicketCheck {
    const shelf = this.#shelf(appId, type);
    return shelf.check(parseSimTicketCheck(input).ticket, this.#deps.clock.now());
  }

  /** The newest ticket of the app and type (what a JS-SDK signature must use). */
  newest(appId: string, type: string): SimNewestTicket {
    const newest = this.#shelf(appId, type).newest(this.#deps.clock.now());
    if (!newest) throw new SimNotFoundError(`app ${appId} has no ${type} ticket yet`);
    return newest;
  }

  #decide(
    opened: ReturnType<typeof openTokenCall>,
    shelf: TicketShelf | undefined,
    type: string | undefined,
    accessToken: string,
  ): Decision {
    if (opened.refusal) {
      const errcode = opened.verdict?.errcode ?? 0;
      if (!('fault' in opened.refusal) && errcode !== 0) shelf?.rejectedDeadToken();
      return opened.refusal;
    }
    if (!shelf || !isTicketType(type)) return failWith(INVALID_ARGS);
    const lifetimeSeconds = opened.app.settings.ticketLifetimeSeconds;
    const ticket = shelf.mint(this.#deps.clock.now(), lifetimeSeconds * 1000);
    shelf.accepted();
    return {
      ok: true,
      body: { errcode: 0, errmsg: 'ok', ticket: ticket.value, expires_in: lifetimeSeconds },
      details: { ticketType: type, tokenFingerprint: fingerprint(accessToken) },
    };
  }

  #shelf(appId: string, type: string): TicketShelf {
    const app = this.#deps.appOf(appId);
    if (!app) throw new SimUnknownAppError(appId);
    return app.tickets[parseSimTicketType(type)];
  }
}
