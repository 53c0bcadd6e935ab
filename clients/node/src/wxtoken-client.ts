import * as grpc from '@grpc/grpc-js';
import { AppToken, type AppTokenStatus } from './app-token.js';
import {
  MAX_AUTHORIZERS_PAGE,
  toAuthorizerPage,
  toPreAuthCode,
  type AuthorizerInfo,
  type AuthorizerPage,
  type PreAuthCodeResult,
} from './component.js';
import { bearerInterceptor, channelCredentials } from './channel.js';
import {
  ClientClosedError,
  errcodeOf,
  fromGrpcError,
  isTokenInvalid,
  TooManyAppsError,
  WxTokenError,
} from './errors.js';
import type { Code2SessionResponse__Output } from './generated/wxtoken/v1/Code2SessionResponse.js';
import type { JsapiSignature__Output } from './generated/wxtoken/v1/JsapiSignature.js';
import type { Session__Output } from './generated/wxtoken/v1/Session.js';
import type { Ticket__Output } from './generated/wxtoken/v1/Ticket.js';
import type { Token__Output } from './generated/wxtoken/v1/Token.js';
import type { ForceRefreshResponse__Output } from './generated/wxtoken/v1/ForceRefreshResponse.js';
import type { ComponentServiceClient } from './generated/wxtoken/v1/ComponentService.js';
import type { ListAuthorizersResponse__Output } from './generated/wxtoken/v1/ListAuthorizersResponse.js';
import type { PreAuthCode__Output } from './generated/wxtoken/v1/PreAuthCode.js';
import type { RecoverAuthorizersResponse__Output } from './generated/wxtoken/v1/RecoverAuthorizersResponse.js';
import type { LoginServiceClient } from './generated/wxtoken/v1/LoginService.js';
import type { TokenServiceClient } from './generated/wxtoken/v1/TokenService.js';
import { resolveOptions, type ResolvedOptions, type WxTokenClientOptions } from './options.js';
import { loadProto } from './proto.js';
import { timestampMs } from './timestamp.js';

export type TicketKind = 'jsapi' | 'wx_card';

export interface TicketResult {
  readonly appId: string;
  readonly type: TicketKind;
  readonly ticket: string;
  /** ms since the epoch. */
  readonly expiresAt: number | null;
}

/** What `wx.config` needs besides `appId` and `jsApiList`. */
export interface JsapiSignatureResult {
  readonly appId: string;
  /** Unix seconds. */
  readonly timestamp: number;
  readonly nonceStr: string;
  readonly signature: string;
}

export interface SessionResult {
  readonly openid: string;
  readonly unionid: string;
  /** The server-side handle of the session (session_key stays on the server). */
  readonly sessionHandle: string;
  readonly expiresAt: number | null;
  /** Only for callers granted `login:session_key`; empty otherwise. */
  readonly sessionKey: string;
}

export interface StoredSession {
  readonly appId: string;
  readonly openid: string;
  readonly unionid: string;
  readonly expiresAt: number | null;
}

type UnaryInvoker<Res> = (
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: grpc.requestCallback<Res>,
) => grpc.ClientUnaryCall;

/**
 * A wxtoken client for business servers. `token(appId)` is answered from an in-process cache
 * fed by one WatchToken stream per app (no RPC per call once warm); `tokenSync(appId)` is the
 * same cache without a promise. `withToken` runs a WeChat call and, on 40001/40014/42001, asks
 * for a compare-and-refresh with the token that failed and runs it once more.
 */
export class WxTokenClient {
  readonly #o: ResolvedOptions;
  readonly #tokens: TokenServiceClient;
  readonly #login: LoginServiceClient;
  readonly #components: ComponentServiceClient;
  readonly #apps = new Map<string, AppToken>();
  /** ForceRefresh in flight, keyed by app + stale token: one per herd (single flight). */
  readonly #refreshing = new Map<string, Promise<string>>();
  #closed = false;

  constructor(options: WxTokenClientOptions) {
    this.#o = resolveOptions(options);
    const proto = loadProto();
    const interceptors = [
      ...(options.key ? [bearerInterceptor(options.key)] : []),
      ...(options.interceptors ?? []),
    ];
    const channelOptions: grpc.ClientOptions = {
      'grpc.max_receive_message_length': this.#o.maxMessageBytes,
      'grpc.max_send_message_length': this.#o.maxMessageBytes,
      'grpc.primary_user_agent': 'wxtoken-client-node/0.1.0',
      // The channel's own reconnect backoff (grpc-js: up to 120 s) would outlast ours: a stream
      // reopened after the server came back must find the channel trying to connect.
      'grpc.initial_reconnect_backoff_ms': this.#o.backoff.initialMs,
      'grpc.max_reconnect_backoff_ms': this.#o.backoff.maxMs,
    };
    const creds = channelCredentials(options.tls);
    this.#tokens = new proto.wxtoken.v1.TokenService(options.address, creds, {
      ...channelOptions,
      interceptors,
    });
    this.#login = new proto.wxtoken.v1.LoginService(options.address, creds, {
      ...channelOptions,
      interceptors,
      channelOverride: this.#tokens.getChannel(),
    });
    this.#components = new proto.wxtoken.v1.ComponentService(options.address, creds, {
      ...channelOptions,
      interceptors,
      channelOverride: this.#tokens.getChannel(),
    });
  }

  /** The app's live access_token: from the cache, else one shared GetToken. */
  token(appId: string): Promise<string> {
    // Hot path: a warm app answers with an already-resolved promise, no async frame.
    const warm = this.#apps.get(appId)?.peekStreaming();
    if (warm !== undefined) return Promise.resolve(warm);
    if (this.#closed) return Promise.reject(new ClientClosedError());
    try {
      return this.#app(appId).get();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The cached live token, synchronously (the hot path without a promise); undefined when none
   * is cached yet (the first call starts the stream) or it is within the expiry margin.
   */
  tokenSync(appId: string): string | undefined {
    const app = this.#apps.get(appId);
    if (app !== undefined) return app.peek();
    if (this.#closed) return undefined;
    try {
      this.#app(appId);
    } catch {
      // Refused (bad app id, too many apps): token() says why.
    }
    return undefined;
  }

  /**
   * Runs `fn(token)`. When it throws an error, or resolves to a body, whose `errcode` is 40001,
   * 40014 or 42001, reports that token with ForceRefresh (shared by every caller that saw the
   * same token fail) and runs `fn` once more with the token it returns. Anything else, including
   * the second run's outcome, is returned or thrown as is.
   */
  async withToken<T>(appId: string, fn: (token: string) => T | Promise<T>): Promise<T> {
    const first = await this.token(appId);
    let result: T;
    try {
      result = await fn(first);
    } catch (err) {
      if (!isTokenInvalid(err)) throw err;
      return fn(await this.#replace(appId, first, errcodeOf(err)));
    }
    if (!isTokenInvalid(result)) return result;
    return fn(await this.#replace(appId, first, errcodeOf(result)));
  }

  async ticket(appId: string, type: TicketKind): Promise<TicketResult> {
    const t = await this.#unary<Ticket__Output>('GetTicket', appId, (md, o, cb) =>
      this.#tokens.GetTicket(
        { app_id: appId, type: type === 'jsapi' ? 'TICKET_TYPE_JSAPI' : 'TICKET_TYPE_WX_CARD' },
        md,
        o,
        cb,
      ),
    );
    return { appId: t.app_id, type, ticket: t.ticket, expiresAt: timestampMs(t.expires_at) };
  }

  async signJsapi(appId: string, url: string): Promise<JsapiSignatureResult> {
    const s = await this.#unary<JsapiSignature__Output>('SignJsapi', appId, (md, o, cb) =>
      this.#tokens.SignJsapi({ app_id: appId, url }, md, o, cb),
    );
    return {
      appId: s.app_id,
      timestamp: Number(s.timestamp),
      nonceStr: s.nonce_str,
      signature: s.signature,
    };
  }

  async code2Session(appId: string, code: string): Promise<SessionResult> {
    const r = await this.#unary<Code2SessionResponse__Output>('Code2Session', appId, (md, o, cb) =>
      this.#login.Code2Session({ app_id: appId, js_code: code }, md, o, cb),
    );
    return {
      openid: r.openid,
      unionid: r.unionid,
      sessionHandle: r.session_handle,
      expiresAt: timestampMs(r.expires_at),
      sessionKey: r.session_key,
    };
  }

  async getSession(sessionHandle: string): Promise<StoredSession> {
    const s = await this.#unary<Session__Output>('GetSession', null, (md, o, cb) =>
      this.#login.GetSession({ session_handle: sessionHandle }, md, o, cb),
    );
    return {
      appId: s.app_id,
      openid: s.openid,
      unionid: s.unionid,
      expiresAt: timestampMs(s.expires_at),
    };
  }

  /**
   * A pre_auth_code for the platform's authorization page (scope `token:read`). An authorizer
   * itself is an app: `token(authorizerAppId)` serves its access_token like any app's.
   */
  async preAuthCode(componentAppId: string): Promise<PreAuthCodeResult> {
    const p = await this.#unary<PreAuthCode__Output>(
      'CreatePreAuthCode',
      componentAppId,
      (md, o, cb) =>
        this.#components.CreatePreAuthCode({ component_app_id: componentAppId }, md, o, cb),
    );
    return toPreAuthCode(p);
  }

  /**
   * One page of the platform's authorizers in app-id order, with state and token expiry but no
   * token (scope `admin`; at most 1,000 a page, the server's default 100).
   */
  async listAuthorizers(
    componentAppId: string,
    page: { pageSize?: number; pageToken?: string } = {},
  ): Promise<AuthorizerPage> {
    const pageSize = page.pageSize ?? 0;
    if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > MAX_AUTHORIZERS_PAGE) {
      throw new WxTokenError(
        `pageSize must be an integer from 0 (the server's default) to ${MAX_AUTHORIZERS_PAGE}, got ${pageSize}`,
        { code: grpc.status.INVALID_ARGUMENT, appId: componentAppId },
      );
    }
    const r = await this.#unary<ListAuthorizersResponse__Output>(
      'ListAuthorizers',
      componentAppId,
      (md, o, cb) =>
        this.#components.ListAuthorizers(
          {
            component_app_id: componentAppId,
            page_size: pageSize,
            page_token: page.pageToken ?? '',
          },
          md,
          o,
          cb,
        ),
    );
    return toAuthorizerPage(r);
  }

  /** Every authorizer of the platform, page after page (one call per `pageSize` of them). */
  async *authorizers(componentAppId: string, pageSize = 500): AsyncGenerator<AuthorizerInfo> {
    let pageToken = '';
    do {
      const page = await this.listAuthorizers(componentAppId, { pageSize, pageToken });
      yield* page.authorizers;
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
  }

  /**
   * Rebuilds every authorizer's refresh token from WeChat's authorizer list after a lost store
   * (scope `admin`; audited); resolves with how many were recovered.
   */
  async recoverAuthorizers(componentAppId: string): Promise<number> {
    const r = await this.#unary<RecoverAuthorizersResponse__Output>(
      'RecoverAuthorizers',
      componentAppId,
      (md, o, cb) =>
        this.#components.RecoverAuthorizers({ component_app_id: componentAppId }, md, o, cb),
    );
    return r.recovered;
  }

  /** The platform's component_access_token, for code that calls component APIs itself. */
  async componentToken(componentAppId: string): Promise<string> {
    const t = await this.#unary<Token__Output>('GetComponentToken', componentAppId, (md, o, cb) =>
      this.#components.GetComponentToken({ component_app_id: componentAppId }, md, o, cb),
    );
    return t.access_token;
  }

  /** Where one app's cache stands (undefined for an app never asked for). */
  status(appId: string): AppTokenStatus | undefined {
    return this.#apps.get(appId)?.status();
  }

  /** Ends every stream and the channel; later calls reject with ClientClosedError. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const app of this.#apps.values()) app.close();
    this.#apps.clear();
    this.#tokens.close();
    this.#login.close();
    this.#components.close();
  }

  /** The app's cache, created (and its stream opened) on first use; bounded by maxApps. */
  #app(appId: string): AppToken {
    const known = this.#apps.get(appId);
    if (known) return known;
    if (typeof appId !== 'string' || appId === '' || appId.length > 64) {
      throw new WxTokenError(`app id must be 1-64 characters (got ${JSON.stringify(appId)})`, {
        code: grpc.status.INVALID_ARGUMENT,
      });
    }
    if (this.#apps.size >= this.#o.maxApps) throw new TooManyAppsError(appId, this.#o.maxApps);
    const app = new AppToken({
      appId,
      now: this.#o.now,
      random: this.#o.random,
      backoff: this.#o.backoff,
      marginMs: this.#o.marginMs,
      fallbackIntervalMs: this.#o.fallbackIntervalMs,
      log: this.#o.logger,
      openStream: (onToken, onEnd) => {
        const call = this.#tokens.WatchToken({ app_id: appId }, new grpc.Metadata());
        call.on('data', onToken);
        call.on('error', onEnd);
        call.on('status', (s: grpc.StatusObject) =>
          onEnd(s.code === grpc.status.OK ? undefined : Object.assign(new Error(s.details), s)),
        );
        return { cancel: () => call.cancel() };
      },
      getToken: () =>
        this.#unary<Token__Output>('GetToken', appId, (md, o, cb) =>
          this.#tokens.GetToken({ app_id: appId }, md, o, cb),
        ),
    });
    this.#apps.set(appId, app);
    app.ensureStream();
    return app;
  }

  /**
   * The token to use instead of `stale`, which WeChat refused: the cached one if the cache has
   * already moved past it (the stream or another caller's refresh), else one ForceRefresh per
   * app + stale token however many callers saw it fail.
   */
  #replace(appId: string, stale: string, errcode: number | null): Promise<string> {
    if (this.#closed) return Promise.reject(new ClientClosedError());
    const app = this.#app(appId);
    const cached = app.peek();
    if (cached !== undefined && cached !== stale) return Promise.resolve(cached);
    const key = `${appId}\u0000${stale}`;
    let flight = this.#refreshing.get(key);
    if (flight === undefined) {
      flight = this.#unary<ForceRefreshResponse__Output>('ForceRefresh', appId, (md, o, cb) =>
        this.#tokens.ForceRefresh(
          {
            app_id: appId,
            stale_token: stale,
            reason: `wxtoken-client: WeChat errcode ${errcode}`,
          },
          md,
          o,
          cb,
        ),
      )
        .then((reply) => {
          app.accept(reply.token, 'reply', stale);
          const fresh = app.peek();
          if (fresh === undefined) throw app.unavailable();
          return fresh;
        })
        .finally(() => this.#refreshing.delete(key));
      this.#refreshing.set(key, flight);
    }
    return flight;
  }

  /** One unary call with the default deadline; failures become WxTokenError. */
  #unary<Res>(method: string, appId: string | null, invoke: UnaryInvoker<Res>): Promise<Res> {
    if (this.#closed) return Promise.reject(new ClientClosedError());
    return new Promise<Res>((resolve, reject) => {
      invoke(new grpc.Metadata(), { deadline: Date.now() + this.#o.deadlineMs }, (err, res) => {
        if (err) reject(fromGrpcError(err, method, appId));
        else if (res === undefined) reject(new WxTokenError(`${method}: empty reply`, { appId }));
        else resolve(res);
      });
    });
  }
}
