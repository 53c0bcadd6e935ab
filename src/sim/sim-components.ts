import type { Clock } from '../shared/clock.js';
import { MessageCrypto } from '../wechat/message-crypto.js';
import type { SimReply } from './call-recorder.js';
import type { IssueOutcome } from './classic-tokens.js';
import { pushEvent, type EventAnswer } from './event-push.js';
import { mintTokenValue } from './mint-token-value.js';
import { QuotaCounter, beijingDay } from './quota-counter.js';
import { pooledRandomBytes } from './random-pool.js';
import { RepeatingPush } from './repeating-push.js';
import { SimInputError, SimNotFoundError } from './sim-errors.js';
import {
  parseSimAppSettings,
  parseSimAuthorize,
  parseSimAuthorizerRef,
  parseSimComponentSettings,
  parseSimCreateAuthorizers,
  type ResolvedSimComponentSettings,
  type SimAuthorizerTimings,
} from './sim-schemas.js';
import { TokenChannel } from './token-channel.js';
import type { ResolvedSimAppSettings } from './types.js';
import { wechatErrorBody } from './wechat-error-body.js';

/** component_verify_ticket lifetime (wechat-api.md §13). */
const VERIFY_TICKET_MS = 12 * 3600 * 1000;
const PRE_AUTH_CODE_SECONDS = 1800;
/** AuthorizationCodeExpiredTime of an `authorized` event: one hour after it is issued. */
const AUTH_CODE_MS = 3600 * 1000;
/** api_get_authorizer_list's page limit (§13). */
export const MAX_LIST_COUNT = 500;
/** Past this, creating an authorizer is refused (400) instead of growing without bound. */
export const MAX_AUTHORIZERS_PER_COMPONENT = 200_000;
/** Verify tickets remembered per component: 12 h of pushes every 10 min is 72. */
const MAX_TICKETS = 200;
/** Authorizers one control call may create. */
export const MAX_AUTHORIZERS_PER_CALL = 10_000;
/** Pre-auth codes remembered per component (for `authorize {preAuthCode}`); the oldest go first. */
export const MAX_PRE_AUTH_CODES = 1000;
/** Pushes remembered per component for `GET .../pushes`. */
export const MAX_PUSH_LOG = 100;

/** The component endpoints, as faults name them. */
export const SIM_COMPONENT_ENDPOINTS = [
  'api_component_token',
  'api_create_preauthcode',
  'api_query_auth',
  'api_authorizer_token',
  'api_get_authorizer_list',
] as const;
type ComponentEndpoint = (typeof SIM_COMPONENT_ENDPOINTS)[number];

interface ComponentFault {
  errcode: number;
  remaining: number;
  endpoints: readonly ComponentEndpoint[];
}

export const SIM_INFO_TYPES = [
  'component_verify_ticket',
  'authorized',
  'updateauthorized',
  'unauthorized',
] as const;
export type SimInfoType = (typeof SIM_INFO_TYPES)[number];

/** Per-component counters, as `GET /__sim/components/:id/counters` shows them. */
export interface SimComponentCounters {
  componentTokenCalls: number;
  componentTokenIssued: number;
  preAuthCodeCalls: number;
  queryAuthCalls: number;
  authorizerTokenCalls: number;
  listCalls: number;
  /** Events pushed to eventUrl, timed verify tickets and control-driven pushes alike. */
  pushes: number;
  /** Pushes the receiver did not take: no answer, not HTTP 200, or a body other than `success`. */
  pushFailures: number;
  /** Timed verify-ticket pushes not started because the previous one was still in flight. */
  pushesSkipped: number;
  /** Calls answered by an injected fault (also counted in errors). */
  faults: number;
  /** errcode → how many calls to the component endpoints answered it. */
  errors: Record<string, number>;
}

/**
 * One authorizer as the component sees it: a few fields and strings, so that 100,000 fit in a
 * few tens of MiB. Its tokens live in the simulator's app of the same appid (a light one until
 * something uses it as a full app).
 */
interface Authorizer {
  readonly appId: string;
  refreshToken: string;
  authTime: number;
  /** The one live authorization code, if any, and when it dies. */
  code: string | undefined;
  codeExpiresAt: number;
}

interface Component {
  readonly appId: string;
  readonly settings: ResolvedSimComponentSettings;
  readonly crypto: MessageCrypto;
  readonly token: TokenChannel;
  /** The token value that is `previous` in `token`, forgotten at the next rotation. */
  previousTokenValue: string | undefined;
  readonly tokenDaily: QuotaCounter;
  /** verify ticket → expiry; oldest first (Map insertion order). */
  readonly tickets: Map<string, number>;
  /** pre-auth code → expiry; oldest first. */
  readonly preAuthCodes: Map<string, number>;
  /** In creation order, which is the order api_get_authorizer_list pages in. */
  readonly authorizers: Map<string, Authorizer>;
  /** authorization code → authorizer appid (one live code per authorizer). */
  readonly codes: Map<string, string>;
  /** App settings of authorizers created without timings of their own, shared by all of them. */
  defaultAuthorizerSettings: ResolvedSimAppSettings | undefined;
  readonly counters: SimComponentCounters;
  /** Oldest first, at most MAX_PUSH_LOG. */
  readonly pushLog: SimPushRecord[];
  faults: ComponentFault[];
  timer: RepeatingPush | undefined;
}

/** What SimComponents needs of the rest of the simulator: authorizers are apps of it. */
export interface SimComponentsDeps {
  clock: Clock;
  /**
   * Makes `appId` an app that gets classic tokens (a light one: see SimBackend.addLightApp);
   * `settings` may be shared by many. An app that exists already is kept as it is.
   */
  addLightApp(appId: string, settings: ResolvedSimAppSettings): void;
  /** Mints a classic token for an app (used for authorizer tokens, so every token-taking API accepts them). */
  rotate(appId: string): IssueOutcome;
}

/** The receiver's answer to a push, and what the push carried. */
export interface SimPushResult extends EventAnswer {
  infoType: SimInfoType;
  componentVerifyTicket?: string;
  authorizationCode?: string;
}

/** One push as `GET /__sim/components/:id/pushes` lists it (never a ticket or code). */
export interface SimPushRecord {
  /** When it went out, on the simulator's clock. */
  at: number;
  infoType: SimInfoType;
  authorizerAppId?: string;
  /** Whether the timer sent it (a verify ticket) rather than a control call. */
  timed: boolean;
  status: number;
  ok: boolean;
  error?: string;
}

/** What `authorize` did: the authorizer, its new code, and the push of the `authorized` event. */
export interface SimAuthorization {
  authorizerAppId: string;
  /** False when the authorizer existed and was authorized again. */
  created: boolean;
  authorizationCode: string;
  /** Milliseconds on the simulator's clock (the event carries it in seconds). */
  authorizationCodeExpiresAt: number;
  push: SimPushResult;
}

/**
 * WeChat Open Platform (third-party platform) in the simulator (wechat-api.md §13): component
 * platforms, their verify tickets (pushed on demand or on a timer) and component_access_token
 * with its daily quota, their authorizers (light apps of the simulator whose tokens come from
 * api_authorizer_token and count against the authorizer's own quota), authorization codes and
 * rotating refresh tokens, and the encrypted event pushes. Time comes only from the clock.
 */
export class SimComponents {
  readonly #deps: SimComponentsDeps;
  readonly #components = new Map<string, Component>();
  /** Live component tokens (current and previous of each component) → component appid. */
  readonly #tokenOwners = new Map<string, string>();
  /** Aborts pushes in flight when the simulator closes. */
  readonly #closing = new AbortController();

  constructor(deps: SimComponentsDeps) {
    this.#deps = deps;
  }

  /** Forgets every component; their timers stop. */
  reset(): void {
    for (const c of this.#components.values()) c.timer?.stop();
    this.#components.clear();
    this.#tokenOwners.clear();
  }

  /** Stops every timer and aborts pushes in flight; no timer starts afterwards. */
  close(): void {
    this.#closing.abort(new Error('the simulator is closed'));
    for (const c of this.#components.values()) c.timer?.stop();
  }

  /**
   * `POST /__sim/components`: creates or replaces a component (its authorizers, tickets and
   * tokens are dropped on replace). With `verifyTicketIntervalSeconds` it pushes a fresh verify
   * ticket to `eventUrl` at once and then every interval on the simulator's clock.
   */
  configure(input: unknown): void {
    const settings = parseSimComponentSettings(input);
    let crypto: MessageCrypto;
    try {
      crypto = new MessageCrypto(settings);
    } catch (err) {
      throw new SimInputError((err as Error).message);
    }
    const componentAppId = settings.componentAppId;
    this.#components.get(componentAppId)?.timer?.stop();
    this.#dropTokens(componentAppId);
    const c: Component = {
      appId: componentAppId,
      settings,
      crypto,
      token: new TokenChannel('classic'),
      previousTokenValue: undefined,
      tokenDaily: new QuotaCounter(beijingDay),
      tickets: new Map(),
      preAuthCodes: new Map(),
      authorizers: new Map(),
      codes: new Map(),
      defaultAuthorizerSettings: undefined,
      pushLog: [],
      faults: [],
      timer: undefined,
      counters: {
        componentTokenCalls: 0,
        componentTokenIssued: 0,
        preAuthCodeCalls: 0,
        queryAuthCalls: 0,
        authorizerTokenCalls: 0,
        listCalls: 0,
        pushes: 0,
        pushFailures: 0,
        pushesSkipped: 0,
        faults: 0,
        errors: {},
      },
    };
    this.#components.set(componentAppId, c);
    const interval = settings.verifyTicketIntervalSeconds;
    if (interval !== undefined && !this.#closing.signal.aborted) {
      c.timer = new RepeatingPush(
        this.#deps.clock,
        interval * 1000,
        () => this.#send(c, 'component_verify_ticket', this.#ticketFields(c), {}, true),
        () => c.counters.pushesSkipped++,
      );
      c.timer.start();
    }
  }

  /**
   * `{errcode, count, endpoints?}`: the component's next `count` calls to one of `endpoints`
   * (default: all five) answer `errcode` (e.g. -1, 45009, 61005), once the component is known
   * and before its secret, ticket or token is checked, as an app's faults do.
   */
  injectFault(componentAppId: string, input: unknown): void {
    const c = this.#component(componentAppId);
    const o = objectOf(input);
    const { errcode, count } = o;
    if (!Number.isInteger(errcode) || errcode === 0) {
      throw new SimInputError('errcode must be a non-zero integer');
    }
    if (!Number.isInteger(count) || (count as number) < 1 || (count as number) > 1_000_000) {
      throw new SimInputError('count must be an integer in 1..1000000');
    }
    const endpoints = o['endpoints'] ?? SIM_COMPONENT_ENDPOINTS;
    if (
      !Array.isArray(endpoints) ||
      endpoints.length === 0 ||
      !endpoints.every((e) => SIM_COMPONENT_ENDPOINTS.includes(e as ComponentEndpoint))
    ) {
      throw new SimInputError(
        `endpoints must be a non-empty list of ${SIM_COMPONENT_ENDPOINTS.join(', ')}`,
      );
    }
    if (c.faults.length >= 1000) throw new SimInputError('at most 1000 pending faults');
    c.faults.push({
      errcode: errcode as number,
      remaining: count as number,
      endpoints: endpoints as ComponentEndpoint[],
    });
  }

  clearFaults(componentAppId: string): void {
    this.#component(componentAppId).faults = [];
  }

  counters(componentAppId: string): SimComponentCounters {
    return structuredClone(this.#component(componentAppId).counters);
  }

  /** The last pushes to the component's eventUrl, oldest first. */
  pushes(componentAppId: string): SimPushRecord[] {
    return structuredClone(this.#component(componentAppId).pushLog);
  }

  /**
   * Authorizes `count` new apps (default 1) without pushing anything: each has a refresh token
   * and a live authorization code. `expiresInSeconds`, `overlapSeconds`, `dailyQuota` and
   * `tokenLength` are its app settings (dailyQuota defaults to the component's
   * authorizerTokenDailyQuota).
   */
  createAuthorizers(
    componentAppId: string,
    input: unknown,
  ): { authorizerAppId: string; authorizationCode: string }[] {
    const c = this.#component(componentAppId);
    const { count = 1, ...timings } = parseSimCreateAuthorizers(input ?? {});
    if (count > MAX_AUTHORIZERS_PER_CALL) {
      throw new SimInputError(`count must be an integer in 1..${MAX_AUTHORIZERS_PER_CALL}`);
    }
    this.#checkRoom(c, count);
    const settings = this.#authorizerSettings(c, timings);
    const created = [];
    for (let i = 0; i < count; i++) {
      const a = this.#addAuthorizer(c, newAppId(), settings);
      created.push({ authorizerAppId: a.appId, authorizationCode: this.#newCode(c, a) });
    }
    return created;
  }

  /**
   * What a customer completing the authorization page does: the authorizer (a new app, or
   * `authorizerAppId`, new or already authorized) gets a fresh authorization code, and the
   * sealed `authorized` event carrying it (and `preAuthCode`, which must be one this component
   * issued and still alive) is POSTed to eventUrl. The authorization stands whatever the
   * receiver answers, as it does on WeChat.
   */
  async authorize(componentAppId: string, input: unknown): Promise<SimAuthorization> {
    const c = this.#component(componentAppId);
    const { authorizerAppId, preAuthCode, ...timings } = parseSimAuthorize(input ?? {});
    const eventUrl = this.#eventUrl(c);
    if (preAuthCode !== undefined) {
      const expiresAt = c.preAuthCodes.get(preAuthCode);
      if (expiresAt === undefined || this.#deps.clock.now() >= expiresAt) {
        throw new SimInputError('preAuthCode is not a live pre_auth_code of this component');
      }
    }
    let a = authorizerAppId === undefined ? undefined : c.authorizers.get(authorizerAppId);
    const created = a === undefined;
    if (!a) {
      this.#checkRoom(c, 1);
      a = this.#addAuthorizer(
        c,
        authorizerAppId ?? newAppId(),
        this.#authorizerSettings(c, timings),
      );
    }
    const code = this.#newCode(c, a);
    const fields = this.#authorizationFields(c, a);
    if (preAuthCode !== undefined) fields.push(['PreAuthCode', preAuthCode]);
    const push = await this.#send(c, 'authorized', fields, { authorizationCode: code }, false, {
      eventUrl,
      authorizerAppId: a.appId,
    });
    return {
      authorizerAppId: a.appId,
      created,
      authorizationCode: code,
      authorizationCodeExpiresAt: a.codeExpiresAt,
      push,
    };
  }

  /**
   * The customer changing what the authorizer granted: a fresh authorization code, pushed in
   * an `updateauthorized` event. The refresh token is unchanged.
   */
  async updateAuthorization(
    componentAppId: string,
    input: unknown,
  ): Promise<Omit<SimAuthorization, 'created'>> {
    const c = this.#component(componentAppId);
    const { authorizerAppId } = parseSimAuthorizerRef(input);
    const eventUrl = this.#eventUrl(c);
    const a = this.#authorizer(c, authorizerAppId);
    const code = this.#newCode(c, a);
    const push = await this.#send(
      c,
      'updateauthorized',
      this.#authorizationFields(c, a, 'updateauthorized'),
      { authorizationCode: code },
      false,
      { eventUrl, authorizerAppId },
    );
    return {
      authorizerAppId,
      authorizationCode: code,
      authorizationCodeExpiresAt: a.codeExpiresAt,
      push,
    };
  }

  /**
   * The customer cancelling the authorization: the refresh token and any code die at once
   * (tokens already issued run out on their own), and `unauthorized` is pushed.
   */
  async unauthorize(
    componentAppId: string,
    input: unknown,
  ): Promise<{ authorizerAppId: string; push: SimPushResult }> {
    const c = this.#component(componentAppId);
    const { authorizerAppId } = parseSimAuthorizerRef(input);
    const eventUrl = this.#eventUrl(c);
    this.removeAuthorizer(componentAppId, authorizerAppId);
    const fields: [string, string][] = [
      ...this.#header(c, 'unauthorized'),
      ['AuthorizerAppid', authorizerAppId],
    ];
    const push = await this.#send(c, 'unauthorized', fields, {}, false, {
      eventUrl,
      authorizerAppId,
    });
    return { authorizerAppId, push };
  }

  /** Unauthorizes without a push: the refresh token and any authorization code die. */
  removeAuthorizer(componentAppId: string, authorizerAppId: string): void {
    const c = this.#component(componentAppId);
    const a = this.#authorizer(c, authorizerAppId);
    if (a.code !== undefined) c.codes.delete(a.code);
    c.authorizers.delete(authorizerAppId);
  }

  /**
   * `POST .../push`: builds, seals and POSTs one event to the component's eventUrl, changing
   * nothing but a new ticket or code; answers what the receiver said.
   */
  async push(componentAppId: string, input: unknown): Promise<SimPushResult> {
    const c = this.#component(componentAppId);
    const o = objectOf(input);
    const infoType = o['infoType'] as SimInfoType;
    if (!SIM_INFO_TYPES.includes(infoType)) {
      throw new SimInputError(`infoType must be one of ${SIM_INFO_TYPES.join(', ')}`);
    }
    const eventUrl = this.#eventUrl(c);
    if (infoType === 'component_verify_ticket') {
      return this.#send(c, infoType, this.#ticketFields(c), {}, false, { eventUrl });
    }
    const authorizerAppId = str(o, 'authorizerAppId');
    if (infoType === 'unauthorized') {
      const fields: [string, string][] = [
        ...this.#header(c, infoType),
        ['AuthorizerAppid', authorizerAppId],
      ];
      return this.#send(c, infoType, fields, {}, false, { eventUrl, authorizerAppId });
    }
    const a = this.#authorizer(c, authorizerAppId);
    const code = this.#newCode(c, a);
    const fields = this.#authorizationFields(c, a, infoType);
    return this.#send(c, infoType, fields, { authorizationCode: code }, false, {
      eventUrl,
      authorizerAppId,
    });
  }

  /** POST /cgi-bin/component/api_component_token. */
  componentToken(method: string, rawBody: string | undefined): SimReply {
    const body = parsePost(method, rawBody);
    if ('errcode' in body) return fail(undefined, body.errcode);
    const appId = body.json['component_appid'];
    const c = typeof appId === 'string' ? this.#components.get(appId) : undefined;
    if (c) c.counters.componentTokenCalls++;
    if (!c) return fail(undefined, 40013);
    const fault = takeFault(c, 'api_component_token');
    if (fault) return fault;
    if (body.json['component_appsecret'] !== c.settings.secret) return fail(c, 40125);
    const ticket = body.json['component_verify_ticket'];
    const expiresAt = typeof ticket === 'string' ? c.tickets.get(ticket) : undefined;
    if (expiresAt === undefined) return fail(c, 61006);
    const now = this.#deps.clock.now();
    if (now >= expiresAt) return fail(c, 61005);
    // Only mints count, as for /cgi-bin/token; that WeChat counts the same way is UNCONFIRMED.
    if (!c.tokenDaily.tryTake(now, c.settings.componentTokenDailyQuota)) return fail(c, 45009);
    const outgoingPrevious = c.previousTokenValue;
    c.previousTokenValue = c.token.current?.value;
    const issued = c.token.rotate(
      mintTokenValue(136),
      now,
      c.settings.componentTokenExpiresInSeconds * 1000,
      c.settings.componentTokenOverlapSeconds * 1000,
    );
    // Only current and previous are ever valid: forget the token that just fell off.
    if (outgoingPrevious) this.#tokenOwners.delete(outgoingPrevious);
    this.#tokenOwners.set(issued.value, c.appId);
    c.counters.componentTokenIssued++;
    return ok(c, {
      component_access_token: issued.value,
      expires_in: c.settings.componentTokenExpiresInSeconds,
    });
  }

  /** POST /cgi-bin/component/api_create_preauthcode. */
  preAuthCode(method: string, token: string | undefined, rawBody: string | undefined): SimReply {
    const opened = this.#open('api_create_preauthcode', method, token, rawBody);
    if ('reply' in opened) return opened.reply;
    const { c } = opened;
    c.counters.preAuthCodeCalls++;
    const now = this.#deps.clock.now();
    const code = `preauthcode@@@${pooledRandomBytes(24).toString('base64url')}`;
    // All live the same time, so the expired ones are the oldest.
    for (const [old, expiresAt] of c.preAuthCodes) {
      if (now < expiresAt && c.preAuthCodes.size < MAX_PRE_AUTH_CODES) break;
      c.preAuthCodes.delete(old);
    }
    c.preAuthCodes.set(code, now + PRE_AUTH_CODE_SECONDS * 1000);
    return ok(c, { pre_auth_code: code, expires_in: PRE_AUTH_CODE_SECONDS });
  }

  /** POST /cgi-bin/component/api_query_auth: the authorization code is single-use. */
  queryAuth(method: string, token: string | undefined, rawBody: string | undefined): SimReply {
    const opened = this.#open('api_query_auth', method, token, rawBody);
    if ('reply' in opened) return opened.reply;
    const { c, json } = opened;
    c.counters.queryAuthCalls++;
    const code = json['authorization_code'];
    const appId = typeof code === 'string' ? c.codes.get(code) : undefined;
    const a = appId === undefined ? undefined : c.authorizers.get(appId);
    const now = this.#deps.clock.now();
    if (a?.code === undefined || now >= a.codeExpiresAt) return fail(c, 61010);
    c.codes.delete(a.code);
    a.code = undefined;
    const issued = this.#authorizerToken(c, a);
    if ('reply' in issued) return issued.reply;
    return ok(c, {
      authorization_info: {
        authorizer_appid: a.appId,
        authorizer_access_token: issued.token,
        expires_in: issued.expiresIn,
        authorizer_refresh_token: a.refreshToken,
        func_info: [],
      },
    });
  }

  /**
   * POST /cgi-bin/component/api_authorizer_token: a new token AND a new refresh token each
   * time; each one counts against the authorizer's own daily quota (45009 past it).
   */
  authorizerToken(
    method: string,
    token: string | undefined,
    rawBody: string | undefined,
  ): SimReply {
    const opened = this.#open('api_authorizer_token', method, token, rawBody);
    if ('reply' in opened) return opened.reply;
    const { c, json } = opened;
    c.counters.authorizerTokenCalls++;
    const appId = json['authorizer_appid'];
    const a = typeof appId === 'string' ? c.authorizers.get(appId) : undefined;
    if (!a || json['authorizer_refresh_token'] !== a.refreshToken) return fail(c, 61023);
    const issued = this.#authorizerToken(c, a);
    if ('reply' in issued) return issued.reply;
    a.refreshToken = mintRefreshToken();
    return ok(c, {
      authorizer_access_token: issued.token,
      expires_in: issued.expiresIn,
      authorizer_refresh_token: a.refreshToken,
    });
  }

  /**
   * For /sns/component/jscode2session: 0 when `token` is `componentAppId`'s live token and
   * `appId` one of its authorizers; else 41001 (no token), 40001 (unknown or dead), 42001 (past
   * its life), 40013 (another platform's token) or 61003 (not authorized to this platform).
   */
  loginVerdict(componentAppId: string, token: string, appId: string): number {
    if (!token) return 41001;
    const owner = this.#tokenOwners.get(token);
    const c = owner === undefined ? undefined : this.#components.get(owner);
    if (!c) return 40001;
    const verdict = c.token.verdict(token, this.#deps.clock.now());
    if (verdict !== 0) return verdict;
    if (componentAppId !== c.appId) return 40013;
    return c.authorizers.has(appId) ? 0 : 61003;
  }

  /** POST /cgi-bin/component/api_get_authorizer_list: current refresh tokens, in authorization order. */
  authorizerList(method: string, token: string | undefined, rawBody: string | undefined): SimReply {
    const opened = this.#open('api_get_authorizer_list', method, token, rawBody);
    if ('reply' in opened) return opened.reply;
    const { c, json } = opened;
    c.counters.listCalls++;
    const { offset, count } = json;
    if (
      !Number.isInteger(offset) ||
      (offset as number) < 0 ||
      !Number.isInteger(count) ||
      (count as number) < 1 ||
      (count as number) > MAX_LIST_COUNT
    ) {
      return fail(c, 40097);
    }
    const list = [];
    let i = 0;
    const end = (offset as number) + (count as number);
    for (const a of c.authorizers.values()) {
      if (i >= end) break;
      if (i++ >= (offset as number)) {
        list.push({
          authorizer_appid: a.appId,
          refresh_token: a.refreshToken,
          auth_time: Math.floor(a.authTime / 1000),
        });
      }
    }
    return ok(c, { total_count: c.authorizers.size, list });
  }

  /**
   * Method, body and token checks shared by the endpoints that take a component_access_token:
   * 43002, 44002/47001, then 41001 / 40001 (unknown or dead token; 42001 past its life), then
   * 40013 when the body's component_appid is not the token's component.
   */
  #open(
    endpoint: ComponentEndpoint,
    method: string,
    token: string | undefined,
    rawBody: string | undefined,
  ): { reply: SimReply } | { c: Component; json: Record<string, unknown> } {
    if (!token) return { reply: fail(undefined, 41001) };
    const owner = this.#tokenOwners.get(token);
    const c = owner === undefined ? undefined : this.#components.get(owner);
    if (!c) return { reply: fail(undefined, 40001) };
    const fault = takeFault(c, endpoint);
    if (fault) return { reply: fault };
    const verdict = c.token.verdict(token, this.#deps.clock.now());
    if (verdict !== 0) return { reply: fail(c, verdict) };
    const body = parsePost(method, rawBody);
    if ('errcode' in body) return { reply: fail(c, body.errcode) };
    if (body.json['component_appid'] !== c.appId) return { reply: fail(c, 40013) };
    return { c, json: body.json };
  }

  #authorizerToken(
    c: Component,
    a: Authorizer,
  ): { token: string; expiresIn: number } | { reply: SimReply } {
    const outcome = this.#deps.rotate(a.appId);
    if (!outcome.ok) return { reply: fail(c, outcome.errcode) };
    return { token: outcome.token.value, expiresIn: outcome.expiresInSeconds };
  }

  #addAuthorizer(c: Component, appId: string, settings: ResolvedSimAppSettings): Authorizer {
    this.#deps.addLightApp(appId, settings);
    const a: Authorizer = {
      appId,
      refreshToken: mintRefreshToken(),
      authTime: this.#deps.clock.now(),
      code: undefined,
      codeExpiresAt: 0,
    };
    c.authorizers.set(appId, a);
    return a;
  }

  /** Shared settings for the authorizers of one call; one object per component without timings. */
  #authorizerSettings(c: Component, timings: SimAuthorizerTimings): ResolvedSimAppSettings {
    const own = Object.values(timings).some((v) => v !== undefined);
    if (!own && c.defaultAuthorizerSettings) return c.defaultAuthorizerSettings;
    // appId and secret are placeholders: a light app's are never read (SimBackend.addLightApp).
    const settings = parseSimAppSettings({
      appId: 'authorizer',
      secret: 'unused',
      dailyQuota: c.settings.authorizerTokenDailyQuota,
      ...Object.fromEntries(Object.entries(timings).filter(([, v]) => v !== undefined)),
    });
    if (!own) c.defaultAuthorizerSettings = settings;
    return settings;
  }

  #checkRoom(c: Component, count: number): void {
    if (c.authorizers.size + count > MAX_AUTHORIZERS_PER_COMPONENT) {
      throw new SimInputError(
        `a component has at most ${MAX_AUTHORIZERS_PER_COMPONENT} authorizers (has ${c.authorizers.size})`,
      );
    }
  }

  #newCode(c: Component, a: Authorizer): string {
    if (a.code !== undefined) c.codes.delete(a.code);
    const value = `queryauthcode@@@${pooledRandomBytes(24).toString('base64url')}`;
    a.code = value;
    a.codeExpiresAt = this.#deps.clock.now() + AUTH_CODE_MS;
    c.codes.set(value, a.appId);
    return value;
  }

  #header(c: Component, infoType: SimInfoType): [string, string][] {
    return [
      ['AppId', c.appId],
      ['CreateTime', String(Math.floor(this.#deps.clock.now() / 1000))],
      ['InfoType', infoType],
    ];
  }

  /** Mints a verify ticket valid 12 h (the oldest beyond MAX_TICKETS are forgotten). */
  #ticketFields(c: Component): [string, string][] {
    const ticket = `ticket@@@${pooledRandomBytes(32).toString('base64url')}`;
    c.tickets.set(ticket, this.#deps.clock.now() + VERIFY_TICKET_MS);
    while (c.tickets.size > MAX_TICKETS) c.tickets.delete(c.tickets.keys().next().value as string);
    return [...this.#header(c, 'component_verify_ticket'), ['ComponentVerifyTicket', ticket]];
  }

  /** The fields of an authorized / updateauthorized event carrying the authorizer's live code. */
  #authorizationFields(
    c: Component,
    a: Authorizer,
    infoType: 'authorized' | 'updateauthorized' = 'authorized',
  ): [string, string][] {
    return [
      ...this.#header(c, infoType),
      ['AuthorizerAppid', a.appId],
      ['AuthorizationCode', a.code ?? ''],
      ['AuthorizationCodeExpiredTime', String(Math.floor(a.codeExpiresAt / 1000))],
    ];
  }

  /**
   * Seals and POSTs one event, counting it and logging the answer. `eventUrl` is checked by the
   * caller before it changes anything; the timer passes none and reads the component's.
   */
  async #send(
    c: Component,
    infoType: SimInfoType,
    fields: readonly (readonly [string, string])[],
    carried: { authorizationCode?: string },
    timed: boolean,
    target: { eventUrl?: string; authorizerAppId?: string } = {},
  ): Promise<SimPushResult> {
    const at = this.#deps.clock.now();
    const ticket = fields.find(([k]) => k === 'ComponentVerifyTicket')?.[1];
    c.counters.pushes++;
    const answer = await pushEvent({
      crypto: c.crypto,
      componentAppId: c.appId,
      eventUrl: target.eventUrl ?? this.#eventUrl(c),
      fields,
      createTime: Math.floor(at / 1000),
      signal: this.#closing.signal,
    });
    if (!answer.ok) c.counters.pushFailures++;
    c.pushLog.push({
      at,
      infoType,
      ...(target.authorizerAppId === undefined ? {} : { authorizerAppId: target.authorizerAppId }),
      timed,
      status: answer.status,
      ok: answer.ok,
      ...(answer.error === undefined ? {} : { error: answer.error }),
    });
    if (c.pushLog.length > MAX_PUSH_LOG) c.pushLog.shift();
    return {
      ...answer,
      infoType,
      ...(ticket === undefined ? {} : { componentVerifyTicket: ticket }),
      ...carried,
    };
  }

  #eventUrl(c: Component): string {
    const url = c.settings.eventUrl;
    if (url === undefined) throw new SimInputError(`component ${c.appId} has no eventUrl`);
    return url;
  }

  #authorizer(c: Component, authorizerAppId: string): Authorizer {
    const a = c.authorizers.get(authorizerAppId);
    if (!a) throw new SimNotFoundError(`no authorizer ${authorizerAppId} of ${c.appId}`);
    return a;
  }

  #dropTokens(componentAppId: string): void {
    for (const [value, owner] of this.#tokenOwners) {
      if (owner === componentAppId) this.#tokenOwners.delete(value);
    }
  }

  #component(componentAppId: string): Component {
    const c = this.#components.get(componentAppId);
    if (!c) throw new SimNotFoundError(`no component ${componentAppId}`);
    return c;
  }
}

/** The first pending fault for this endpoint, consuming one use of it. */
function takeFault(c: Component, endpoint: ComponentEndpoint): SimReply | undefined {
  const index = c.faults.findIndex((f) => f.endpoints.includes(endpoint));
  const fault = c.faults[index];
  if (!fault) return undefined;
  if (--fault.remaining === 0) c.faults.splice(index, 1);
  c.counters.faults++;
  return fail(c, fault.errcode);
}

function ok(c: Component, body: object): SimReply {
  return { kind: 'json', body, delayMs: c.settings.latencyMs };
}

function fail(c: Component | undefined, errcode: number): SimReply {
  if (c) c.counters.errors[errcode] = (c.counters.errors[errcode] ?? 0) + 1;
  return { kind: 'json', body: wechatErrorBody(errcode), delayMs: c?.settings.latencyMs ?? 0 };
}

function parsePost(
  method: string,
  raw: string | undefined,
): { json: Record<string, unknown> } | { errcode: number } {
  if (method !== 'POST') return { errcode: 43002 };
  if (raw === undefined) return { errcode: 47001 };
  if (raw.trim() === '') return { errcode: 44002 };
  try {
    const json: unknown = JSON.parse(raw);
    if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
      return { json: json as Record<string, unknown> };
    }
  } catch {
    // falls through to 47001
  }
  return { errcode: 47001 };
}

function newAppId(): string {
  return `wx${pooledRandomBytes(8).toString('hex')}`;
}

function mintRefreshToken(): string {
  return `refreshtoken@@@${pooledRandomBytes(32).toString('base64url')}`;
}

function objectOf(input: unknown): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new SimInputError('body must be a JSON object');
  }
  return input as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '')
    throw new SimInputError(`${key} must be a non-empty string`);
  return v;
}
