import type { AppSet } from '../apps/app-directory.js';
import type { Clock } from '../shared/clock.js';
import { AppNotFoundError, TicketNotConfiguredError } from '../shared/errors.js';
import type { TicketType } from '../shared/tickets.js';
import type { AppState, AppStatusView } from '../refresher/app-status-book.js';
import type { CredentialRecord } from '../token/token.js';
import { jsapiSignature, newNonce, signableUrl } from './jsapi-signature.js';
import { engineReader, type LiveReader, type ReadableEngine } from './live-reader.js';

/** What the service needs of one ticket type's engine. */
export type TicketEngineView = ReadableEngine;

export interface TicketServiceDeps {
  readonly clock: Clock;
  readonly apps: AppSet;
  /** One engine per ticket type that at least one app opted into. */
  readonly engines: ReadonlyMap<TicketType, TicketEngineView>;
  readonly storeHealth?: () => string;
  /** Upper bound on how long GetTicket waits for an app's first ticket. */
  readonly maxWaitMs: number;
}

export interface JsapiSignature {
  readonly timestamp: number;
  readonly nonceStr: string;
  readonly signature: string;
}

export interface TicketStatusReport extends AppStatusView {
  readonly type: TicketType;
}

/** What a scrape reads of every ticket: a TicketStatusReport has all of it. */
export interface TicketFacts {
  readonly appId: string;
  readonly type: TicketType;
  readonly state: AppState;
  readonly token?: { readonly expiresAt: number } | undefined;
  readonly fetchesToday: number;
}

const NOUNS: Readonly<Record<TicketType, string>> = {
  jsapi: 'jsapi ticket',
  wx_card: 'wx_card ticket',
};

/**
 * GetTicket and SignJsapi: tickets answered from memory like GetToken (same waiting rules),
 * and the `wx.config` signature made here so the jsapi ticket never has to leave the server.
 */
export class TicketService {
  readonly #readers = new Map<TicketType, LiveReader>();
  /** scanTickets' one object, refilled for each ticket. */
  readonly #facts: {
    appId: string;
    type: TicketType;
    state: AppState;
    token: { expiresAt: number } | undefined;
    fetchesToday: number;
  } = { appId: '', type: 'jsapi', state: 'warming', token: undefined, fetchesToday: 0 };
  /** The expiry scanTickets hands out as the ticket's (`#facts.token`), refilled likewise. */
  readonly #expiry = { expiresAt: 0 };

  constructor(private readonly deps: TicketServiceDeps) {
    for (const [type, engine] of deps.engines) {
      this.#readers.set(
        type,
        engineReader(engine, {
          clock: deps.clock,
          maxWaitMs: deps.maxWaitMs,
          noun: NOUNS[type],
          storeHealth: deps.storeHealth,
        }),
      );
    }
  }

  /** NOT_FOUND for an unknown app, FAILED_PRECONDITION for a ticket type it did not opt into. */
  #reader(appId: string, type: TicketType): LiveReader {
    const app = this.deps.apps.get(appId);
    if (!app) throw new AppNotFoundError(appId);
    const reader = this.#readers.get(type);
    if (!reader || !app.tickets.includes(type)) throw new TicketNotConfiguredError(appId, type);
    return reader;
  }

  /** The live ticket from memory, or undefined (the hot path). */
  peek(appId: string, type: TicketType): CredentialRecord | undefined {
    return this.#reader(appId, type).peek(appId);
  }

  async getTicket(
    appId: string,
    type: TicketType,
    signal?: AbortSignal,
  ): Promise<CredentialRecord> {
    return this.#reader(appId, type).get(appId, signal);
  }

  async signJsapi(appId: string, url: string, signal?: AbortSignal): Promise<JsapiSignature> {
    const page = signableUrl(url);
    const ticket = await this.getTicket(appId, 'jsapi', signal);
    const timestamp = Math.floor(this.deps.clock.now() / 1000);
    const nonceStr = newNonce();
    return {
      timestamp,
      nonceStr,
      signature: jsapiSignature(ticket.value, nonceStr, timestamp, page),
    };
  }

  /**
   * The facts of one app's tickets, each handed to `visit` in one reused object (a scrape
   * reads every app's, see TokenService.scanApps); nothing for an app without tickets.
   */
  scanTickets(appId: string, visit: (ticket: TicketFacts) => void): void {
    // Nothing made per app or ticket (see TokenService.scanApps): a scrape reads every app's.
    const app = this.deps.apps.shared(appId);
    if (!app || app.tickets.length === 0) return;
    const now = this.deps.clock.now();
    for (const type of app.tickets) {
      const engine = this.deps.engines.get(type);
      if (!engine) continue;
      const expiresAt = engine.cache.expiresAtOf(appId);
      let token: { expiresAt: number } | undefined;
      if (expiresAt !== undefined) {
        this.#expiry.expiresAt = expiresAt;
        token = this.#expiry;
      }
      const facts = this.#facts;
      facts.appId = appId;
      facts.type = type;
      facts.state = engine.status.stateOf(appId, token, now);
      facts.token = token;
      facts.fetchesToday = engine.status.fetchesToday(appId, now);
      visit(facts);
    }
  }

  /** Status of one app's tickets (ListApps pages); [] for an app without tickets. */
  ticketsOf(appId: string): TicketStatusReport[] {
    const app = this.deps.apps.get(appId);
    if (!app) return [];
    const now = this.deps.clock.now();
    const out: TicketStatusReport[] = [];
    for (const type of app.tickets) {
      const engine = this.deps.engines.get(type);
      if (engine) out.push({ ...engine.status.view(appId, engine.cache.get(appId), now), type });
    }
    return out;
  }

  /** Status of every configured ticket, app by app (never the ticket itself). */
  listTickets(): TicketStatusReport[] {
    const now = this.deps.clock.now();
    const out: TicketStatusReport[] = [];
    for (const app of this.deps.apps.list()) {
      for (const type of app.tickets) {
        const engine = this.deps.engines.get(type);
        if (!engine) continue;
        out.push({ ...engine.status.view(app.appId, engine.cache.get(app.appId), now), type });
      }
    }
    return out;
  }
}
