import type { AppSet } from './apps/app-directory.js';
import type { Config } from './config/config.js';
import { createCredentialEngine, type CredentialEngine } from './refresher/credential-engine.js';
import type { RefreshEvent } from './refresher/credential-refresher.js';
import { ticketKind, type TicketClient } from './refresher/ticket-kind.js';
import type { Clock, Random } from './shared/clock.js';
import { TICKET_TYPES, type TicketType } from './shared/tickets.js';
import { TicketService } from './service/ticket-service.js';
import type { TokenCore } from './token-core.js';
import type { RefreshLocks, TokenStore } from './token/token-store.js';

export interface TicketCoreDeps {
  readonly clock: Clock;
  readonly random: Random;
  /** Every app served (configured and authorizers); each engine follows those holding its type. */
  readonly apps: AppSet;
  /** The ticket types some app or platform opted into: one engine each. */
  readonly types: readonly TicketType[];
  readonly wechat: TicketClient;
  /** The access_token side: tickets are fetched with its live token and recover it on 40001. */
  readonly tokens: Pick<TokenCore, 'service'>;
  /** Each ticket type's own records and locks. */
  readonly backend: (type: TicketType) => { store: TokenStore; locks: RefreshLocks };
  readonly refresh: Config['refresh'];
  readonly maxConcurrentFetches: number;
  /** A ticket fetch may recover the token first: getticket, check, token fetch, getticket. */
  readonly lockTtlMs: number;
  readonly maxWaitMs: number;
  readonly storeHealth?: () => string;
  readonly onRefresh?: (event: RefreshEvent) => void;
  readonly log?: (level: 'info' | 'warn' | 'error', obj: object, msg: string) => void;
}

export type TicketCore = ReturnType<typeof createTicketCore>;

/** Ticket types a configured app or a platform's authorizers (authorizerTickets) opted into. */
export function ticketTypes(config: Pick<Config, 'apps' | 'components'>): TicketType[] {
  return TICKET_TYPES.filter(
    (type) =>
      config.apps.some((a) => a.tickets.includes(type)) ||
      config.components.some((c) => c.authorizerTickets.includes(type)),
  );
}

/**
 * Tickets on the credential engine: one engine per ticket type that some app opted into
 * (`apps[].tickets`), each with its own records, locks and refresh-ahead schedule, and the
 * service behind GetTicket and SignJsapi. A ticket fetch takes the app's live token from the
 * token core and, when getticket rejects it, recovers it there by compare-and-refresh.
 */
export function createTicketCore(d: TicketCoreDeps) {
  const tokens = d.tokens.service;
  const engines = new Map<TicketType, CredentialEngine>();
  for (const type of d.types) {
    const apps = d.apps.filter((a) => a.tickets.includes(type));
    const { store, locks } = d.backend(type);
    const kind = ticketKind(type, d.wechat, {
      live: (appId) => tokens.getToken(appId),
      recover: async (app, rejected) =>
        (await tokens.forceRefresh(app.appId, rejected, `getticket (${type}) rejected the token`))
          .token,
    });
    engines.set(
      type,
      createCredentialEngine({
        kind,
        clock: d.clock,
        random: d.random,
        apps,
        store,
        locks,
        refresh: d.refresh,
        maxConcurrentFetches: d.maxConcurrentFetches,
        lockTtlMs: d.lockTtlMs,
        ...(d.onRefresh ? { onRefresh: d.onRefresh } : {}),
        ...(d.log ? { log: d.log } : {}),
      }),
    );
  }
  const service = new TicketService({
    clock: d.clock,
    apps: d.apps,
    engines,
    maxWaitMs: d.maxWaitMs,
    ...(d.storeHealth ? { storeHealth: d.storeHealth } : {}),
  });
  return { engines, service };
}
