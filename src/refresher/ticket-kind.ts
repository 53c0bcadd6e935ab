import type { AppConfig } from '../config/config.js';
import type { TicketType } from '../shared/tickets.js';
import type { TokenRecord } from '../token/token.js';
import { WeChatError, isTokenInvalid, isWeChatError } from '../wechat/wechat-error.js';
import type { CredentialKind, CredentialKindName, FetchedCredential } from './credential-kind.js';

/** The one WeChat call a ticket kind makes (`/cgi-bin/ticket/getticket`). */
export interface TicketClient {
  getTicket(
    accessToken: string,
    type: TicketType,
  ): Promise<{ ticket: string; expiresInSeconds: number; sentAt: number }>;
}

/** The app's access_token, as a ticket fetch needs it. */
export interface TicketTokens {
  /** The app's live token from this replica's memory (waits, bounded, for a first one). */
  live(appId: string): Promise<TokenRecord>;
  /**
   * getticket rejected `rejected` (40001/40014/42001): compare-and-refresh with exactly that
   * token (invariant 6), resolving with the token that is current afterwards.
   */
  recover(app: AppConfig, rejected: string): Promise<TokenRecord>;
}

export const TICKET_KIND_NAMES: Readonly<Record<TicketType, CredentialKindName>> = {
  jsapi: 'jsapi_ticket',
  wx_card: 'wx_card_ticket',
};

/**
 * A ticket (`jsapi` or `wx_card`) as a credential kind. It depends on the app's access_token:
 * every fetch uses a token that is live in this replica's memory, never a dead one (a getticket
 * with a dead token is a bug, not a retry). WeChat may still reject that token (reset in the
 * admin console, fetched by another system): then the token is recovered by compare-and-refresh
 * with the token used, and the getticket is repeated once with the new one.
 */
export function ticketKind(
  type: TicketType,
  client: TicketClient,
  tokens: TicketTokens,
): CredentialKind {
  const fetchWith = async (token: TokenRecord): Promise<FetchedCredential> => {
    const t = await client.getTicket(token.value, type);
    return { value: t.ticket, expiresInSeconds: t.expiresInSeconds, sentAt: t.sentAt };
  };
  return {
    name: TICKET_KIND_NAMES[type],
    endpoint: 'getticket',
    fetch: async (app) => {
      const token = await upstream(() => tokens.live(app.appId), 'no live access_token');
      try {
        return await fetchWith(token);
      } catch (err) {
        if (!isTokenInvalid(err)) throw err;
        const recovered = await upstream(
          () => tokens.recover(app, token.value),
          'recovering the access_token getticket rejected',
        );
        // WeChat says the token works, yet getticket refused it: not something a retry fixes.
        if (recovered.value === token.value) throw err;
        return fetchWith(recovered);
      }
    },
  };
}

/**
 * The token side fails with the service's own errors (no live token, forced-refresh budget
 * spent); the refresher records and schedules on WeChatErrors, so those become one (retryable,
 * on the getticket endpoint) that keeps the token side's message.
 */
async function upstream<T>(call: () => Promise<T>, what: string): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (isWeChatError(err)) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw WeChatError.transport('getticket', `${what}: ${message}`, err);
  }
}
