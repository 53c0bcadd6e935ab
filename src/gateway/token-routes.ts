import * as grpc from '@grpc/grpc-js';
import type { Caller } from '../auth/authorizer.js';
import type { CallerRateLimiter } from '../auth/caller-rate-limiter.js';
import type { CallAuditor } from '../grpc/rpc-audit.js';
import type { LoginService } from '../login/login-service.js';
import type { TicketService } from '../service/ticket-service.js';
import type { TokenService } from '../service/token-service.js';
import type { Clock } from '../shared/clock.js';
import { AppNotFoundError, TicketNotConfiguredError } from '../shared/errors.js';
import { TICKET_TYPES, type TicketType } from '../shared/tickets.js';
import { LoginCodeError } from '../wechat/upstream-errors.js';
import type { GatewayAuth } from './gateway-auth.js';
import type { TokenIndex } from './token-index.js';
import { EncodedBody } from './json-reply.js';
import type { Query } from './query-reader.js';
import { answer, type WeChatErrorBody } from './wechat-answers.js';

export interface TokenRoutesDeps {
  readonly clock: Clock;
  readonly tokens: TokenService;
  readonly tickets: TicketService;
  readonly login: LoginService;
  readonly auth: GatewayAuth;
  readonly index: TokenIndex;
  /** Per-caller limits; `ForceRefresh` bounds force_refresh like the gRPC call. */
  readonly limiter: CallerRateLimiter;
  readonly audit?: CallAuditor;
  /** How long a token request waits for an app's first token (warming). */
  readonly maxWaitMs: number;
}

/** `/cgi-bin/token` and `/cgi-bin/stable_token` parameters, from the query or the JSON body. */
export interface TokenParams {
  readonly grant_type?: unknown;
  readonly appid?: unknown;
  readonly secret?: unknown;
  readonly force_refresh?: unknown;
}

export type Body = Record<string, unknown>;
/** The caller's end of the connection (a socket), for the audit. */
export interface Peer {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

/** What a route answers: a body, or one already serialised (the token reply, reused). */
export type Reply = Body | EncodedBody;

const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * The token paths of the gateway, answered from this replica's memory like GetToken: WeChat's
 * own JSON shapes and errcodes, `expires_in` the whole seconds of life left (never more).
 */
export class TokenRoutes {
  /**
   * The last token reply made. One entry, not one per app: with many apps it is simply remade
   * (a JSON.stringify), and nothing here grows with the apps or the callers.
   */
  #lastReply: { token: string; expiresIn: number; body: EncodedBody } | undefined;

  constructor(private readonly d: TokenRoutesDeps) {}

  /**
   * GET/POST `/cgi-bin/token`, POST `/cgi-bin/stable_token`. Answered at once (no promise)
   * when the token is in memory: the hot path. `peer` is read only for the audit.
   */
  token(p: TokenParams, peer: Peer): Reply | Promise<Reply> {
    const appId = text(p.appid);
    const secret = text(p.secret);
    if (appId === '') return answer('noAppId');
    if (secret === '') return answer('noSecret');
    if (text(p.grant_type) !== 'client_credential') return answer('badGrantType');
    // The secret is checked first, whatever the appid: an unknown key learns nothing of the apps.
    const caller = this.d.auth.callerFor(secret, appId);
    if (!caller) return answer('badSecret');
    if (!this.d.auth.canUse(caller, appId) || !this.#known(appId)) return answer('badAppId');
    if (!caller.scopes.has('token:read')) return answer('forbidden', 'the caller lacks token:read');
    if (p.force_refresh === true) return this.#forceRefresh(appId, caller, peer);
    const live = this.d.tokens.peek(appId);
    if (live) return this.#tokenBody(live.value, live.expiresAt);
    return this.#firstToken(appId);
  }

  /** An app still warming: wait (bounded) for its first token. */
  async #firstToken(appId: string): Promise<Reply> {
    try {
      const t = await this.d.tokens.getToken(appId, AbortSignal.timeout(this.d.maxWaitMs));
      return this.#tokenBody(t.value, t.expiresAt);
    } catch (err) {
      return answer('busy', `no live token: ${(err as Error).message}`);
    }
  }

  /** GET `/cgi-bin/ticket/getticket?access_token=T&type=jsapi|wx_card`. */
  async ticket(token: string, type: string): Promise<Body> {
    if (token === '') return answer('noToken');
    const appId = this.d.index.appOf(token, this.d.clock.now());
    if (!appId) return answer('badToken');
    if (!(TICKET_TYPES as readonly string[]).includes(type)) return answer('badArgs', 'type');
    return this.#ticket(appId, type as TicketType);
  }

  async #ticket(appId: string, type: TicketType): Promise<Body> {
    try {
      // From memory when live; only a wait for the first ticket needs a deadline.
      const t =
        this.d.tickets.peek(appId, type) ??
        (await this.d.tickets.getTicket(appId, type, AbortSignal.timeout(this.d.maxWaitMs)));
      return {
        errcode: 0,
        errmsg: 'ok',
        ticket: t.value,
        expires_in: this.#lifeLeft(t.expiresAt),
      };
    } catch (err) {
      if (err instanceof TicketNotConfiguredError) return answer('forbidden', err.message);
      return answer('busy', `no live ticket: ${(err as Error).message}`);
    }
  }

  /** GET `/sns/jscode2session`: the idempotent Code2Session, in WeChat's reply shape. */
  async jscode2session(q: Query): Promise<Body> {
    const appId = q.appid ?? '';
    const secret = q.secret ?? '';
    const code = q.js_code ?? '';
    if (appId === '') return answer('noAppId');
    if (secret === '') return answer('noSecret');
    if (q.grant_type !== 'authorization_code') return answer('badGrantType');
    const caller = this.d.auth.callerFor(secret, appId);
    if (!caller) return answer('badSecret');
    if (!this.d.auth.canUse(caller, appId) || !this.#known(appId)) return answer('badAppId');
    if (!caller.scopes.has('login')) return answer('forbidden', 'the caller lacks login');
    if (code === '' || code.length > 256) return answer('badCode');
    try {
      // The same per-caller budget as the gRPC Code2Session (limits.code2SessionPerSecond).
      this.d.limiter.take(caller.name, 'Code2Session');
    } catch (err) {
      return answer('rateLimited', (err as Error).message);
    }
    try {
      const r = await this.d.login.code2Session(appId, code, caller.name);
      const exposeKey = caller.scopes.has('login:session_key') && r.exposedSessionKey;
      return {
        openid: r.session.openid,
        ...(r.session.unionid ? { unionid: r.session.unionid } : {}),
        ...(exposeKey ? { session_key: r.exposedSessionKey } : {}),
      };
    } catch (err) {
      if (err instanceof LoginCodeError) {
        return { errcode: err.upstream.errcode ?? -1, errmsg: err.upstream.errmsg };
      }
      return answer('busy', (err as Error).message);
    }
  }

  /**
   * `force_refresh: true`: compare-and-refresh of the current token (invariant 6: WeChat is
   * asked first whether it still works), with the same budgets and audit as ForceRefresh.
   */
  async #forceRefresh(appId: string, caller: Caller, peer: Peer): Promise<Reply> {
    if (!caller.scopes.has('token:refresh')) {
      return answer('forbidden', 'force_refresh needs the token:refresh scope');
    }
    const reason = 'gateway: stable_token force_refresh';
    const request = { app_id: appId, stale_token: '', reason };
    const audit = (code: grpc.status, details: string, reply?: unknown): void =>
      this.d.audit?.({
        method: 'ForceRefresh',
        request,
        caller,
        code,
        details,
        reply,
        peer: `${peer.remoteAddress ?? ''}:${peer.remotePort ?? ''}`,
      });
    try {
      this.d.limiter.take(caller.name, 'ForceRefresh');
      const current = this.d.tokens.peek(appId);
      const r = await this.d.tokens.forceRefresh(appId, current?.value ?? '', reason);
      audit(grpc.status.OK, '', {
        token: { generation: String(r.token.generation) },
        refreshed: r.refreshed,
      });
      return this.#tokenBody(r.token.value, r.token.expiresAt);
    } catch (err) {
      audit(grpc.status.RESOURCE_EXHAUSTED, (err as Error).message);
      return answer('rateLimited', (err as Error).message);
    }
  }

  #known(appId: string): boolean {
    try {
      this.d.tokens.app(appId);
      return true;
    } catch (err) {
      if (err instanceof AppNotFoundError) return false;
      throw err;
    }
  }

  /** The token reply, serialised once per app, token and second of life left. */
  #tokenBody(token: string, expiresAt: number): EncodedBody {
    const expiresIn = this.#lifeLeft(expiresAt);
    const last = this.#lastReply;
    if (last?.token === token && last.expiresIn === expiresIn) return last.body;
    const body = new EncodedBody(JSON.stringify({ access_token: token, expires_in: expiresIn }));
    this.#lastReply = { token, expiresIn, body };
    return body;
  }

  /** Whole seconds of life left: rounded down, so an SDK never believes in a second too many. */
  #lifeLeft(expiresAt: number): number {
    return Math.max(0, Math.floor((expiresAt - this.d.clock.now()) / 1000));
  }
}

export type { WeChatErrorBody };
