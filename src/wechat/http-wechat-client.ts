import type { Clock } from '../shared/clock.js';
import { Secret } from '../shared/secret.js';
import {
  KeepAliveTransport,
  ReplyTooLargeError,
  UpstreamTimeoutError,
} from './keep-alive-transport.js';
import { describeBody, redact } from './redact-url.js';
import type { TicketType } from '../shared/tickets.js';
import {
  ackProblem,
  credentialsIn,
  phoneProblem,
  sessionProblem,
  ticketProblem,
  tokenProblem,
  unionidProblem,
} from './success-body.js';
import type {
  AppCredentials,
  Code2SessionResult,
  FetchedTicket,
  FetchedToken,
  PaidUnionIdQuery,
  PhoneNumberInfo,
  ResetSessionKeyResult,
  WeChatClient,
} from './wechat-client.js';
import {
  isTokenInvalid,
  isWeChatError,
  WeChatError,
  type WeChatEndpoint,
  type WeChatErrorKind,
} from './wechat-error.js';

/** checksession's answer for a session_key that is not the user's current one. */
const INVALID_SIGNATURE = 87009;

/** One finished upstream call, for metrics. Carries no token, secret, code, key or URL. */
export interface UpstreamEvent {
  endpoint: WeChatEndpoint;
  appId?: string;
  /** Wall time of the whole call (send to parsed body or failure), monotonic. */
  durationMs: number;
  /** 0 on success, WeChat's errcode on an errcode body, null on a transport failure. */
  errcode: number | null;
  /** Set on failures only. */
  kind?: WeChatErrorKind;
}

/** Metrics hook: called exactly once per upstream call; it must not throw (errors are ignored). */
export interface UpstreamObserver {
  onResponse(e: UpstreamEvent): void;
}

export interface HttpWeChatClientOptions {
  /** e.g. https://api.weixin.qq.com (a trailing slash is ignored). */
  baseUrl: string;
  /** Per request, covering connect, headers and body. */
  timeoutMs: number;
  /** Gives `sentAt`, the base of expires_at. */
  clock: Clock;
  observer?: UpstreamObserver;
}

export interface Call {
  endpoint: WeChatEndpoint;
  appId?: string;
  /**
   * Credentials this call carries (secret, token, js_code, signature); scrubbed from anything
   * that ends up in a message. Credentials in the reply are found by name (credentialsIn).
   */
  sensitive: readonly string[];
  path: string;
  /** A JSON body to POST; without one the call is a GET. */
  json?: string;
  /** A larger reply cap than the default 64 KiB, for the one endpoint that needs it (lists). */
  maxReplyBytes?: number;
}

export type Body = Record<string, unknown>;

/**
 * WeChatClient over HTTPS, on a pool of keep-alive connections (KeepAliveTransport). Bodies
 * are parsed as JSON whatever the Content-Type (wechat-api.md §0). Every failure is a
 * WeChatError; messages never contain the request URL, the AppSecret or a token.
 */
export class HttpWeChatClient implements WeChatClient {
  readonly #transport: KeepAliveTransport;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #observer: UpstreamObserver | undefined;

  constructor(options: HttpWeChatClientOptions) {
    if (!(options.timeoutMs > 0) || !Number.isFinite(options.timeoutMs)) {
      throw new RangeError(`timeoutMs must be a positive number, got ${options.timeoutMs}`);
    }
    this.#transport = new KeepAliveTransport(options.baseUrl, options.timeoutMs);
    this.#timeoutMs = options.timeoutMs;
    this.#clock = options.clock;
    this.#observer = options.observer;
  }

  async getToken(app: AppCredentials): Promise<FetchedToken> {
    const secret = app.secret.reveal();
    const query = new URLSearchParams({
      grant_type: 'client_credential',
      appid: app.appId,
      secret,
    });
    return this.#fetchToken({
      endpoint: 'token',
      appId: app.appId,
      sensitive: [secret],
      path: `/cgi-bin/token?${query.toString()}`,
    });
  }

  async getStableToken(app: AppCredentials, forceRefresh: boolean): Promise<FetchedToken> {
    const secret = app.secret.reveal();
    return this.#fetchToken({
      endpoint: 'stable_token',
      appId: app.appId,
      sensitive: [secret],
      path: '/cgi-bin/stable_token',
      json: JSON.stringify({
        grant_type: 'client_credential',
        appid: app.appId,
        secret,
        force_refresh: forceRefresh,
      }),
    });
  }

  async checkToken(accessToken: string): Promise<boolean> {
    const query = new URLSearchParams({ access_token: accessToken });
    try {
      const { body } = await this.#call({
        endpoint: 'get_api_domain_ip',
        sensitive: [accessToken],
        path: `/cgi-bin/get_api_domain_ip?${query.toString()}`,
      });
      if (!Array.isArray(body.ip_list)) {
        throw WeChatError.transport('get_api_domain_ip', 'malformed success body: no ip_list');
      }
      return true;
    } catch (err) {
      if (isTokenInvalid(err)) return false;
      throw err;
    }
  }

  async code2Session(app: AppCredentials, jsCode: string): Promise<Code2SessionResult> {
    const secret = app.secret.reveal();
    const query = new URLSearchParams({
      appid: app.appId,
      secret,
      js_code: jsCode,
      grant_type: 'authorization_code',
    });
    const { body } = await this.#call(
      {
        endpoint: 'jscode2session',
        appId: app.appId,
        sensitive: [secret, jsCode],
        path: `/sns/jscode2session?${query.toString()}`,
      },
      (b) => sessionProblem(b),
    );
    return sessionFrom(body);
  }

  async checkSessionKey(accessToken: string, openid: string, signature: string): Promise<boolean> {
    try {
      await this.#call(sessionCall('checksession', accessToken, openid, signature), ackProblem);
      return true;
    } catch (err) {
      // Reported to the observer as errcode 87009 like any errcode, then answered as false.
      if (isWeChatError(err) && err.errcode === INVALID_SIGNATURE) return false;
      throw err;
    }
  }

  async resetSessionKey(
    accessToken: string,
    openid: string,
    signature: string,
  ): Promise<ResetSessionKeyResult> {
    const { body } = await this.#call(
      sessionCall('resetusersessionkey', accessToken, openid, signature),
      (b) => sessionProblem(b, openid),
    );
    return { openid, sessionKey: new Secret(body.session_key as string) };
  }

  async getTicket(accessToken: string, type: TicketType): Promise<FetchedTicket> {
    const query = new URLSearchParams({ access_token: accessToken, type });
    const { body, sentAt } = await this.#call(
      {
        endpoint: 'getticket',
        sensitive: [accessToken],
        path: `/cgi-bin/ticket/getticket?${query.toString()}`,
      },
      ticketProblem,
    );
    return { ticket: body.ticket as string, expiresInSeconds: body.expires_in as number, sentAt };
  }

  async getPhoneNumber(accessToken: string, code: string): Promise<PhoneNumberInfo> {
    const query = new URLSearchParams({ access_token: accessToken });
    const { body } = await this.#call(
      {
        endpoint: 'getuserphonenumber',
        sensitive: [accessToken, code],
        path: `/wxa/business/getuserphonenumber?${query.toString()}`,
        json: JSON.stringify({ code }),
      },
      phoneProblem,
    );
    const info = body.phone_info as Record<string, unknown>;
    return {
      phoneNumber: info.phoneNumber as string,
      purePhoneNumber: info.purePhoneNumber as string,
      // WeChat's example has a string; a number (86) is taken as its digits.
      countryCode: String(info.countryCode as string | number),
    };
  }

  async getPaidUnionId(accessToken: string, query: PaidUnionIdQuery): Promise<{ unionid: string }> {
    const params = new URLSearchParams({ access_token: accessToken, openid: query.openid });
    if ('transactionId' in query) {
      params.set('transaction_id', query.transactionId);
    } else {
      params.set('mch_id', query.mchId);
      params.set('out_trade_no', query.outTradeNo);
    }
    const { body } = await this.#call(
      {
        endpoint: 'getpaidunionid',
        sensitive: [accessToken],
        path: `/wxa/getpaidunionid?${params.toString()}`,
      },
      unionidProblem,
    );
    return { unionid: body.unionid as string };
  }

  async #fetchToken(call: Call): Promise<FetchedToken> {
    const { body, sentAt } = await this.#call(call, (b) => tokenProblem(b));
    return {
      accessToken: body.access_token as string,
      expiresInSeconds: body.expires_in as number,
      sentAt,
    };
  }

  /** One request as `#call` makes it: for the component API, which shares the transport. */
  call(
    call: Call,
    validate?: (body: Body) => string | undefined,
  ): Promise<{ body: Body; sentAt: number }> {
    return this.#call(call, validate);
  }

  /**
   * One request: send, read, parse, map errcodes, then `validate` the success body; reports
   * the outcome to the observer exactly once.
   */
  async #call(
    call: Call,
    validate: (body: Body) => string | undefined = () => undefined,
  ): Promise<{ body: Body; sentAt: number }> {
    const started = performance.now();
    const report = (errcode: number | null, kind?: WeChatErrorKind): void => {
      const event: UpstreamEvent = {
        endpoint: call.endpoint,
        durationMs: performance.now() - started,
        errcode,
      };
      if (call.appId !== undefined) event.appId = call.appId;
      if (kind !== undefined) event.kind = kind;
      try {
        this.#observer?.onResponse(event);
      } catch {
        // Metrics must never change the outcome of a call.
      }
    };
    try {
      const sentAt = this.#clock.now();
      const body = await this.#send(call);
      throwOnErrcode({ ...call, sensitive: [...call.sensitive, ...credentialsIn(body)] }, body);
      const problem = validate(body);
      if (problem) throw WeChatError.transport(call.endpoint, `malformed success body: ${problem}`);
      report(0);
      return { body, sentAt };
    } catch (err) {
      const wx = err instanceof WeChatError ? err : this.#failure(call, err);
      report(wx.errcode, wx.kind);
      throw wx;
    }
  }

  /** 1. send with a timeout; 2. reject non-2xx; 3. take the body as text; 4. JSON.parse it. */
  async #send(call: Call): Promise<Body> {
    let text: string;
    try {
      const reply = await this.#transport.request(call.path, call.json, call.maxReplyBytes);
      if (reply.text === undefined) {
        throw WeChatError.transport(call.endpoint, `HTTP ${reply.status}`);
      }
      text = reply.text;
    } catch (err) {
      if (err instanceof WeChatError) throw err;
      throw this.#failure(call, err);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw WeChatError.transport(
        call.endpoint,
        `non-JSON body (${describeBody(text, call.sensitive)})`,
      );
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      throw WeChatError.transport(call.endpoint, 'non-JSON body (not a JSON object)');
    }
    return json as Body;
  }

  /** A timeout, a refused connection, a reset...: always a redacted transport error. */
  #failure(call: Call, err: unknown): WeChatError {
    if (err instanceof UpstreamTimeoutError) {
      return WeChatError.transport(call.endpoint, `timeout after ${this.#timeoutMs}ms`);
    }
    if (err instanceof ReplyTooLargeError) {
      return WeChatError.transport(
        call.endpoint,
        `reply body over ${err.maxBytes} bytes; not read`,
      );
    }
    // A socket error says what happened (ECONNREFUSED...); a wrapped one, its cause does.
    const cause: unknown = err instanceof Error && err.cause !== undefined ? err.cause : err;
    const raw = cause instanceof Error ? cause.message : String(cause);
    const code = (cause as { code?: unknown } | null)?.code;
    const message = redact(raw, call.sensitive).slice(0, 200);
    const safeCause = new Error(message);
    if (typeof code === 'string') Object.assign(safeCause, { code });
    return WeChatError.transport(call.endpoint, `request failed: ${message}`, safeCause);
  }
}

/** A nonzero errcode body becomes WeChatError(errcode, errmsg); errmsg is scrubbed too. */
function throwOnErrcode(call: Call, body: Body): void {
  let errcode = body.errcode;
  if (errcode === undefined || errcode === 0) return;
  if (typeof errcode === 'string' && /^-?\d+$/.test(errcode)) errcode = Number(errcode);
  if (typeof errcode !== 'number' || !Number.isInteger(errcode)) {
    throw WeChatError.transport(call.endpoint, 'malformed body: errcode is not an integer');
  }
  if (errcode === 0) return;
  const errmsg = typeof body.errmsg === 'string' ? redact(body.errmsg, call.sensitive) : '';
  throw new WeChatError(call.endpoint, errcode, errmsg.slice(0, 300));
}

/** checksession and resetusersessionkey take the same query, signed with the current key. */
function sessionCall(
  endpoint: 'checksession' | 'resetusersessionkey',
  accessToken: string,
  openid: string,
  signature: string,
): Call {
  const query = new URLSearchParams({
    access_token: accessToken,
    openid,
    signature,
    sig_method: 'hmac_sha256',
  });
  return {
    endpoint,
    sensitive: [accessToken, signature],
    path: `/wxa/${endpoint}?${query.toString()}`,
  };
}

/** A jscode2session reply that passed sessionProblem, as the login service takes it. */
export function sessionFrom(body: Body): Code2SessionResult {
  const result: Code2SessionResult = {
    openid: body.openid as string,
    sessionKey: new Secret(body.session_key as string),
  };
  if (typeof body.unionid === 'string' && body.unionid !== '') result.unionid = body.unionid;
  return result;
}
