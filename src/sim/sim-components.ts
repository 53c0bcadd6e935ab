import { randomBytes } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { MessageCrypto } from '../wechat/message-crypto.js';
import type { SimReply } from './call-recorder.js';
import { mintTokenValue } from './mint-token-value.js';
import type { IssueOutcome } from './sim-app.js';
import { SimInputError, SimNotFoundError } from './sim-errors.js';
import { TokenChannel } from './token-channel.js';
import { wechatErrorBody } from './wechat-error-body.js';

/** component_verify_ticket lifetime (wechat-api.md §13). */
const VERIFY_TICKET_MS = 12 * 3600 * 1000;
/** component_access_token lifetime and the overlap a replaced one keeps (as app tokens, §3). */
const COMPONENT_TOKEN_SECONDS = 7200;
const COMPONENT_OVERLAP_SECONDS = 300;
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
/** How long a push waits for the receiver. */
const PUSH_TIMEOUT_MS = 5_000;

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
  pushes: number;
  /** Calls answered by an injected fault (also counted in errors). */
  faults: number;
  /** errcode → how many calls to the component endpoints answered it. */
  errors: Record<string, number>;
}

interface Authorizer {
  readonly appId: string;
  refreshToken: string;
  authTime: number;
  code: { value: string; expiresAt: number } | undefined;
}

interface Component {
  readonly appId: string;
  readonly secret: string;
  readonly crypto: MessageCrypto;
  readonly eventUrl: string | undefined;
  readonly token: TokenChannel;
  /** The token value that is `previous` in `token`, forgotten at the next rotation. */
  previousTokenValue: string | undefined;
  /** verify ticket → expiry; oldest first (Map insertion order). */
  readonly tickets: Map<string, number>;
  /** In creation order, which is the order api_get_authorizer_list pages in. */
  readonly authorizers: Map<string, Authorizer>;
  /** authorization code → authorizer appid (one live code per authorizer). */
  readonly codes: Map<string, string>;
  readonly counters: SimComponentCounters;
  faults: ComponentFault[];
}

/** What SimComponents needs of the rest of the simulator: authorizers are ordinary sim apps. */
export interface SimComponentsDeps {
  clock: Clock;
  configureApp(settings: unknown): void;
  /** Mints a classic token for an app (used for authorizer tokens, so every token-taking API accepts them). */
  rotate(appId: string): IssueOutcome;
}

/** The receiver's answer to a push. */
export interface SimPushResult {
  status: number;
  body: string;
  /** Why there is no answer, when status is 0. */
  error?: string;
  infoType: SimInfoType;
  componentVerifyTicket?: string;
  authorizationCode?: string;
}

/**
 * WeChat Open Platform (third-party platform) in the simulator (wechat-api.md §13): component
 * platforms, their verify tickets and component_access_token, their authorizers (each an
 * ordinary simulator app whose tokens come from api_authorizer_token), authorization codes and
 * rotating refresh tokens, and the encrypted event pushes. Time comes only from the clock.
 */
export class SimComponents {
  readonly #deps: SimComponentsDeps;
  readonly #components = new Map<string, Component>();
  /** Live component tokens (current and previous of each component) → component appid. */
  readonly #tokenOwners = new Map<string, string>();

  constructor(deps: SimComponentsDeps) {
    this.#deps = deps;
  }

  reset(): void {
    this.#components.clear();
    this.#tokenOwners.clear();
  }

  /** `POST /__sim/components`: creates or replaces a component (its authorizers and tokens are dropped on replace). */
  configure(input: unknown): void {
    const o = objectOf(input);
    const componentAppId = str(o, 'componentAppId');
    const secret = str(o, 'secret');
    const eventUrl = o['eventUrl'] === undefined ? undefined : str(o, 'eventUrl');
    if (eventUrl !== undefined && !/^https?:\/\//.test(eventUrl)) {
      throw new SimInputError('eventUrl must be an http(s) URL');
    }
    let crypto: MessageCrypto;
    try {
      crypto = new MessageCrypto({
        componentAppId,
        messageToken: str(o, 'messageToken'),
        encodingAesKey: str(o, 'encodingAesKey'),
      });
    } catch (err) {
      throw new SimInputError((err as Error).message);
    }
    this.#dropTokens(componentAppId);
    this.#components.set(componentAppId, {
      appId: componentAppId,
      secret,
      crypto,
      eventUrl,
      token: new TokenChannel('classic'),
      previousTokenValue: undefined,
      tickets: new Map(),
      authorizers: new Map(),
      codes: new Map(),
      faults: [],
      counters: {
        componentTokenCalls: 0,
        componentTokenIssued: 0,
        preAuthCodeCalls: 0,
        queryAuthCalls: 0,
        authorizerTokenCalls: 0,
        listCalls: 0,
        pushes: 0,
        faults: 0,
        errors: {},
      },
    });
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

  /**
   * Authorizes `count` new apps (default 1), as an admin scanning the QR code would: each is an
   * app of the simulator (`expiresInSeconds`/`overlapSeconds` as for `POST /__sim/apps`) with a
   * refresh token and a live authorization code.
   */
  createAuthorizers(
    componentAppId: string,
    input: unknown,
  ): { authorizerAppId: string; authorizationCode: string }[] {
    const c = this.#component(componentAppId);
    const o = input === undefined ? {} : objectOf(input);
    const count = o['count'] === undefined ? 1 : o['count'];
    if (
      !Number.isInteger(count) ||
      (count as number) < 1 ||
      (count as number) > MAX_AUTHORIZERS_PER_CALL
    ) {
      throw new SimInputError(`count must be an integer in 1..${MAX_AUTHORIZERS_PER_CALL}`);
    }
    if (c.authorizers.size + (count as number) > MAX_AUTHORIZERS_PER_COMPONENT) {
      throw new SimInputError(
        `a component has at most ${MAX_AUTHORIZERS_PER_COMPONENT} authorizers (has ${c.authorizers.size})`,
      );
    }
    const timings: Record<string, unknown> = {};
    for (const key of ['expiresInSeconds', 'overlapSeconds']) {
      if (o[key] !== undefined) timings[key] = o[key];
    }
    const created = [];
    for (let i = 0; i < (count as number); i++) {
      const appId = `wx${randomBytes(8).toString('hex')}`;
      this.#deps.configureApp({ appId, secret: randomBytes(16).toString('hex'), ...timings });
      const authorizer: Authorizer = {
        appId,
        refreshToken: mintRefreshToken(),
        authTime: this.#deps.clock.now(),
        code: undefined,
      };
      c.authorizers.set(appId, authorizer);
      created.push({ authorizerAppId: appId, authorizationCode: this.#newCode(c, authorizer) });
    }
    return created;
  }

  /** Unauthorizes: the refresh token and any authorization code die; live tokens run out. */
  removeAuthorizer(componentAppId: string, authorizerAppId: string): void {
    const c = this.#component(componentAppId);
    const a = c.authorizers.get(authorizerAppId);
    if (!a) throw new SimNotFoundError(`no authorizer ${authorizerAppId} of ${componentAppId}`);
    if (a.code) c.codes.delete(a.code.value);
    c.authorizers.delete(authorizerAppId);
  }

  /** Builds, seals and POSTs one event to the component's eventUrl; answers what the receiver said. */
  async push(componentAppId: string, input: unknown): Promise<SimPushResult> {
    const c = this.#component(componentAppId);
    const o = objectOf(input);
    const infoType = o['infoType'] as SimInfoType;
    if (!SIM_INFO_TYPES.includes(infoType)) {
      throw new SimInputError(`infoType must be one of ${SIM_INFO_TYPES.join(', ')}`);
    }
    if (!c.eventUrl) throw new SimInputError(`component ${componentAppId} has no eventUrl`);
    const now = this.#deps.clock.now();
    const createTime = Math.floor(now / 1000);
    const fields: [string, string][] = [
      ['AppId', c.appId],
      ['CreateTime', String(createTime)],
      ['InfoType', infoType],
    ];
    const result: Partial<SimPushResult> = {};
    if (infoType === 'component_verify_ticket') {
      const ticket = `ticket@@@${randomBytes(32).toString('base64url')}`;
      c.tickets.set(ticket, now + VERIFY_TICKET_MS);
      while (c.tickets.size > MAX_TICKETS)
        c.tickets.delete(c.tickets.keys().next().value as string);
      fields.push(['ComponentVerifyTicket', ticket]);
      result.componentVerifyTicket = ticket;
    } else {
      const authorizerAppId = str(o, 'authorizerAppId');
      fields.push(['AuthorizerAppid', authorizerAppId]);
      if (infoType !== 'unauthorized') {
        const a = c.authorizers.get(authorizerAppId);
        if (!a) throw new SimNotFoundError(`no authorizer ${authorizerAppId} of ${componentAppId}`);
        const code = this.#newCode(c, a);
        fields.push(['AuthorizationCode', code]);
        fields.push([
          'AuthorizationCodeExpiredTime',
          String(Math.floor((a.code?.expiresAt ?? 0) / 1000)),
        ]);
        result.authorizationCode = code;
      }
    }
    const xml = `<xml>${fields.map(([k, v]) => (k === 'CreateTime' || k === 'AuthorizationCodeExpiredTime' ? `<${k}>${v}</${k}>` : `<${k}><![CDATA[${v}]]></${k}>`)).join('')}</xml>`;
    const timestamp = String(createTime);
    const nonce = randomBytes(8).toString('hex');
    const sealed = c.crypto.seal(xml, timestamp, nonce);
    const target = new URL(c.eventUrl);
    target.searchParams.set('timestamp', timestamp);
    target.searchParams.set('nonce', nonce);
    target.searchParams.set('msg_signature', sealed.msgSignature);
    target.searchParams.set('encrypt_type', 'aes');
    c.counters.pushes++;
    try {
      const res = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'text/xml' },
        body: `<xml><AppId><![CDATA[${c.appId}]]></AppId><Encrypt><![CDATA[${sealed.encrypt}]]></Encrypt></xml>`,
        signal: AbortSignal.timeout(PUSH_TIMEOUT_MS),
      });
      return { status: res.status, body: await res.text(), infoType, ...result };
    } catch (err) {
      // No answer (refused, reset, timed out): status 0, as a browser's fetch reports it.
      return { status: 0, body: '', error: (err as Error).message, infoType, ...result };
    }
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
    if (body.json['component_appsecret'] !== c.secret) return fail(c, 40125);
    const ticket = body.json['component_verify_ticket'];
    const expiresAt = typeof ticket === 'string' ? c.tickets.get(ticket) : undefined;
    if (expiresAt === undefined) return fail(c, 61006);
    const now = this.#deps.clock.now();
    if (now >= expiresAt) return fail(c, 61005);
    const outgoingPrevious = c.previousTokenValue;
    c.previousTokenValue = c.token.current?.value;
    const issued = c.token.rotate(
      mintTokenValue(136),
      now,
      COMPONENT_TOKEN_SECONDS * 1000,
      COMPONENT_OVERLAP_SECONDS * 1000,
    );
    // Only current and previous are ever valid: forget the token that just fell off.
    if (outgoingPrevious) this.#tokenOwners.delete(outgoingPrevious);
    this.#tokenOwners.set(issued.value, c.appId);
    c.counters.componentTokenIssued++;
    return ok({ component_access_token: issued.value, expires_in: COMPONENT_TOKEN_SECONDS });
  }

  /** POST /cgi-bin/component/api_create_preauthcode. */
  preAuthCode(method: string, token: string | undefined, rawBody: string | undefined): SimReply {
    const opened = this.#open('api_create_preauthcode', method, token, rawBody);
    if ('reply' in opened) return opened.reply;
    opened.c.counters.preAuthCodeCalls++;
    return ok({
      pre_auth_code: `preauthcode@@@${randomBytes(24).toString('base64url')}`,
      expires_in: PRE_AUTH_CODE_SECONDS,
    });
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
    if (!a?.code || now >= a.code.expiresAt) return fail(c, 61010);
    c.codes.delete(a.code.value);
    a.code = undefined;
    const issued = this.#authorizerToken(c, a);
    if ('reply' in issued) return issued.reply;
    return ok({
      authorization_info: {
        authorizer_appid: a.appId,
        authorizer_access_token: issued.token,
        expires_in: issued.expiresIn,
        authorizer_refresh_token: a.refreshToken,
        func_info: [],
      },
    });
  }

  /** POST /cgi-bin/component/api_authorizer_token: a new token AND a new refresh token each time. */
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
    return ok({
      authorizer_access_token: issued.token,
      expires_in: issued.expiresIn,
      authorizer_refresh_token: a.refreshToken,
    });
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
    return ok({ total_count: c.authorizers.size, list });
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

  #newCode(c: Component, a: Authorizer): string {
    if (a.code) c.codes.delete(a.code.value);
    const value = `queryauthcode@@@${randomBytes(24).toString('base64url')}`;
    a.code = { value, expiresAt: this.#deps.clock.now() + AUTH_CODE_MS };
    c.codes.set(value, a.appId);
    return value;
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

function ok(body: object): SimReply {
  return { kind: 'json', body, delayMs: 0 };
}

function fail(c: Component | undefined, errcode: number): SimReply {
  if (c) c.counters.errors[errcode] = (c.counters.errors[errcode] ?? 0) + 1;
  return { kind: 'json', body: wechatErrorBody(errcode), delayMs: 0 };
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

function mintRefreshToken(): string {
  return `refreshtoken@@@${randomBytes(32).toString('base64url')}`;
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
