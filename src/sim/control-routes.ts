import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson } from './http-io.js';
import type { SimBackend } from './sim-backend.js';
import {
  SimInputError,
  SimNotFoundError,
  SimUnknownAppError,
  SimUnknownUserError,
} from './sim-errors.js';
import { SIM_COMPONENT_ENDPOINTS } from './sim-components.js';
import { SIM_FAULT_ENDPOINTS, SIM_FAULT_KINDS } from './sim-schemas.js';
import { wechatErrorBody } from './wechat-error-body.js';

/** Prefix of the control API; nothing under it exists on the real WeChat. */
export const CONTROL_PREFIX = '/__sim/';

interface Answer {
  status?: number;
  body: object;
}

const OK: Answer = { body: { ok: true } };

/**
 * The control API (design.md "Simulator"): tests configure apps, inject faults, rotate tokens
 * as another system would, play a mini program's device (wx.login codes, encrypted open data,
 * phone codes) and WeChat Pay (payments), and read counters, users, tickets, messages and the
 * call log. Bad input → 400, unknown app, user, ticket or route → 404, each with
 * `{ ok: false, error }`.
 */
export async function handleControlRequest(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  backend: SimBackend,
): Promise<void> {
  try {
    const answer = await route(req, url, backend);
    if (answer) sendJson(res, answer.status ?? 200, answer.body);
    else sendJson(res, 404, { ok: false, error: `no such route: ${req.method} ${url.pathname}` });
  } catch (err) {
    if (
      err instanceof SimInputError ||
      err instanceof SimUnknownAppError ||
      err instanceof SimUnknownUserError ||
      err instanceof SimNotFoundError
    ) {
      sendJson(res, err instanceof SimInputError ? 400 : 404, { ok: false, error: err.message });
    } else {
      throw err;
    }
  }
}

/** What a control route's handler gets: the request, the backend and the path's parameters. */
interface RouteContext {
  readonly req: IncomingMessage;
  readonly url: URL;
  readonly backend: SimBackend;
  readonly appId: string;
  readonly openid: string;
  /** A ticket type as the path spelled it; SimTickets validates it (400 if unknown). */
  readonly type: string;
  readonly componentAppId: string;
  readonly authorizerAppId: string;
}

interface ControlRoute {
  /** `METHOD path` under the prefix, with `:appId` / `:openid` / `:type` placeholders. */
  readonly route: string;
  /** One line for the index. */
  readonly what: string;
  readonly handle: (c: RouteContext) => Answer | Promise<Answer>;
}

/**
 * Every control route. Requests are dispatched from this table and `GET /__sim/` (the dev
 * banner's link) lists it, so a route added here is served and listed at once, never one
 * without the other.
 */
const CONTROL_ROUTES: readonly ControlRoute[] = [
  { route: 'GET health', what: 'liveness of the simulator', handle: () => OK },
  {
    route: 'POST reset',
    what: 'forget every app, token, user, fault and call',
    handle: ({ backend }) => {
      backend.reset();
      return OK;
    },
  },
  {
    route: 'POST apps',
    what: 'configure an app: {appId, secret, expiresInSeconds, ...}',
    handle: async ({ backend, req }) => {
      backend.configureApp(await readJson(req));
      return OK;
    },
  },
  {
    route: 'GET apps/:appId/counters',
    what: "an app's call, token, error and fault counters",
    handle: ({ backend, appId }) => ({ body: backend.counters(appId) }),
  },
  {
    route: 'POST apps/:appId/faults',
    what:
      `inject a fault: {kind, count, endpoints?}; kind: ${SIM_FAULT_KINDS.join(' | ')}; ` +
      `endpoints: ${SIM_FAULT_ENDPOINTS.join(', ')}`,
    handle: async ({ backend, req, appId }) => {
      backend.injectFault(appId, await readJson(req));
      return OK;
    },
  },
  {
    route: 'DELETE apps/:appId/faults',
    what: "clear an app's pending faults",
    handle: ({ backend, appId }) => {
      backend.clearFaults(appId);
      return OK;
    },
  },
  {
    route: 'POST apps/:appId/rotate',
    what: 'fetch a token as another system would ({endOverlap})',
    handle: async ({ backend, req, appId }) => rotate(backend, appId, await readJson(req, {})),
  },
  {
    route: 'POST apps/:appId/codes',
    what: 'a wx.login() code for a user ({user?, blocked?, unionid?})',
    handle: async ({ backend, req, appId }) => ({
      body: backend.login.issueCode(appId, await readJson(req, {})),
    }),
  },
  {
    route: 'GET apps/:appId/users/:openid',
    what: "a user's openid, unionid and session state",
    handle: ({ backend, appId, openid }) => ({ body: backend.login.user(appId, openid) }),
  },
  {
    route: 'POST apps/:appId/users/:openid/encrypt',
    what: 'encrypt open data with the session key ({data})',
    handle: async ({ backend, req, appId, openid }) => ({
      body: backend.login.encrypt(appId, openid, await readJson(req)),
    }),
  },
  {
    route: 'POST check',
    what: 'does WeChat accept this token? {access_token}',
    handle: async ({ backend, req }) => ({
      body: backend.check(accessTokenOf(await readJson(req))),
    }),
  },
  {
    route: 'GET calls',
    what: 'the call log (?appId=&since=)',
    handle: ({ backend, url }) => ({
      body: { calls: backend.calls(callFilter(url.searchParams)) },
    }),
  },
  {
    route: 'GET apps/:appId/tickets/:type/counters',
    what:
      'getticket counters of one type (jsapi | wx_card): ' +
      '{calls, accepted, rejectedDeadToken, inFlight, maxInFlight}',
    handle: ({ backend, appId, type }) => ({ body: backend.tickets.counters(appId, type) }),
  },
  {
    route: 'DELETE apps/:appId/tickets/:type/counters',
    what: 'zero those counters (calls still in flight stay in inFlight and maxInFlight)',
    handle: ({ backend, appId, type }) => {
      backend.tickets.resetCounters(appId, type);
      return OK;
    },
  },
  {
    route: 'POST apps/:appId/tickets/:type/check',
    what: 'is this ticket alive now, and the newest? {ticket} → {alive, newest, expiresAt?}',
    handle: async ({ backend, req, appId, type }) => ({
      body: backend.tickets.check(appId, type, await readJson(req)),
    }),
  },
  {
    route: 'GET apps/:appId/tickets/:type/newest',
    what: 'the newest ticket of the type: {ticket, issuedAt, expiresAt, alive} (404 before any)',
    handle: ({ backend, appId, type }) => ({ body: backend.tickets.newest(appId, type) }),
  },
  {
    route: 'POST apps/:appId/phone-codes',
    what:
      'a getPhoneNumber code: {phoneNumber: "+86 13800138000"} → ' +
      '{code, phoneNumber, purePhoneNumber, countryCode, expiresAt}',
    handle: async ({ backend, req, appId }) => ({
      body: backend.userData.issuePhoneCode(appId, await readJson(req)),
    }),
  },
  {
    route: 'POST apps/:appId/payments',
    what:
      'a payment for getpaidunionid: {openid, unionid, transactionId?, mchId?, outTradeNo?} → ' +
      'the payment with paidAt, answerableUntil',
    handle: async ({ backend, req, appId }) => ({
      body: backend.userData.addPayment(appId, await readJson(req)),
    }),
  },
  {
    route: 'GET apps/:appId/messages',
    what: 'the last customer-service messages sent (message/custom/send): {messages}',
    handle: ({ backend, appId }) => ({ body: { messages: backend.ordinary.messages(appId) } }),
  },
  {
    route: 'DELETE apps/:appId/messages',
    what: "forget an app's messages",
    handle: ({ backend, appId }) => {
      backend.ordinary.clearMessages(appId);
      return OK;
    },
  },
  {
    route: 'POST components',
    what:
      'configure a third-party platform: {componentAppId, secret, messageToken, encodingAesKey, ' +
      'eventUrl?, verifyTicketIntervalSeconds?, componentTokenExpiresInSeconds?, ' +
      'componentTokenOverlapSeconds?, componentTokenDailyQuota?, authorizerTokenDailyQuota?} ' +
      '(replacing one drops its authorizers and tokens)',
    handle: async ({ backend, req }) => {
      backend.components.configure(await readJson(req));
      return OK;
    },
  },
  {
    route: 'GET components/:componentAppId/counters',
    what:
      "a component's counters: {componentTokenCalls, componentTokenIssued, preAuthCodeCalls, " +
      'queryAuthCalls, authorizerTokenCalls, listCalls, pushes, pushFailures, pushesSkipped, ' +
      'faults, errors}',
    handle: ({ backend, componentAppId }) => ({
      body: backend.components.counters(componentAppId),
    }),
  },
  {
    route: 'GET components/:componentAppId/pushes',
    what:
      'the last 100 pushes to eventUrl, oldest first: ' +
      '{pushes: [{at, infoType, authorizerAppId?, timed, status, ok, error?}]}',
    handle: ({ backend, componentAppId }) => ({
      body: { pushes: backend.components.pushes(componentAppId) },
    }),
  },
  {
    route: 'POST components/:componentAppId/faults',
    what:
      'the next count calls to the component endpoints answer errcode: {errcode, count, ' +
      `endpoints?}; endpoints: ${SIM_COMPONENT_ENDPOINTS.join(', ')}`,
    handle: async ({ backend, req, componentAppId }) => {
      backend.components.injectFault(componentAppId, await readJson(req));
      return OK;
    },
  },
  {
    route: 'DELETE components/:componentAppId/faults',
    what: "clear a component's pending faults",
    handle: ({ backend, componentAppId }) => {
      backend.components.clearFaults(componentAppId);
      return OK;
    },
  },
  {
    route: 'POST components/:componentAppId/authorizers',
    what:
      'authorize new apps, pushing nothing: {count?, expiresInSeconds?, overlapSeconds?, ' +
      'dailyQuota?, tokenLength?} → {authorizerAppId, authorizationCode} ' +
      '(count > 1: {authorizers: [...]})',
    handle: async ({ backend, req, componentAppId }) => {
      const created = backend.components.createAuthorizers(componentAppId, await readJson(req, {}));
      return { body: created.length === 1 ? (created[0] ?? {}) : { authorizers: created } };
    },
  },
  {
    route: 'DELETE components/:componentAppId/authorizers/:authorizerAppId',
    what: 'unauthorize: the refresh token and authorization code die (no event is pushed)',
    handle: ({ backend, componentAppId, authorizerAppId }) => {
      backend.components.removeAuthorizer(componentAppId, authorizerAppId);
      return OK;
    },
  },
  {
    route: 'POST components/:componentAppId/authorize',
    what:
      'a customer authorizes: {authorizerAppId?, preAuthCode?, expiresInSeconds?, ' +
      'overlapSeconds?, dailyQuota?, tokenLength?} → {authorizerAppId, created, ' +
      'authorizationCode, authorizationCodeExpiresAt, push} after pushing authorized',
    handle: async ({ backend, req, componentAppId }) => ({
      body: await backend.components.authorize(componentAppId, await readJson(req, {})),
    }),
  },
  {
    route: 'POST components/:componentAppId/update-authorization',
    what:
      'a customer changes the grant: {authorizerAppId} → {authorizerAppId, ' +
      'authorizationCode, authorizationCodeExpiresAt, push} after pushing updateauthorized',
    handle: async ({ backend, req, componentAppId }) => ({
      body: await backend.components.updateAuthorization(componentAppId, await readJson(req)),
    }),
  },
  {
    route: 'POST components/:componentAppId/unauthorize',
    what:
      'a customer cancels: {authorizerAppId} → {authorizerAppId, push}; the refresh token ' +
      'and code die, then unauthorized is pushed',
    handle: async ({ backend, req, componentAppId }) => ({
      body: await backend.components.unauthorize(componentAppId, await readJson(req)),
    }),
  },
  {
    route: 'POST components/:componentAppId/push',
    what:
      'push an encrypted event to eventUrl, changing nothing else: {infoType: ' +
      'component_verify_ticket | authorized | updateauthorized | unauthorized, ' +
      'authorizerAppId?} → {status, body, ok, infoType, componentVerifyTicket?, ' +
      'authorizationCode?}',
    handle: async ({ backend, req, componentAppId }) => ({
      body: await backend.components.push(componentAppId, await readJson(req)),
    }),
  },
];

const INDEX: ControlRoute = {
  route: 'GET ',
  what: 'this index',
  handle: () => ({
    body: {
      routes: [INDEX, ...CONTROL_ROUTES].map(({ route: r, what }) => {
        const [method, path] = r.split(' ') as [string, string];
        return { method, path: `${CONTROL_PREFIX}${path}`, what };
      }),
    },
  }),
};

const ROUTES: readonly ControlRoute[] = [INDEX, ...CONTROL_ROUTES];

/**
 * The route whose `METHOD path` matches, segment by segment (`:name` matches any one
 * segment), with the values of its placeholders, URL-decoded.
 */
function match(
  method: string,
  path: string,
): { handler: ControlRoute; params: Record<string, string> } | undefined {
  const segments = path.split('/');
  for (const handler of ROUTES) {
    const [m, pattern] = handler.route.split(' ') as [string, string];
    const parts = pattern.split('/');
    if (m !== method || parts.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const fits = parts.every((part, i) => {
      const segment = segments[i] ?? '';
      if (!part.startsWith(':')) return part === segment;
      params[part.slice(1)] = safeDecode(segment);
      return segment !== '';
    });
    if (fits) return { handler, params };
  }
  return undefined;
}

async function route(
  req: IncomingMessage,
  url: URL,
  backend: SimBackend,
): Promise<Answer | undefined> {
  const found = match(req.method ?? 'GET', url.pathname.slice(CONTROL_PREFIX.length));
  if (!found) return undefined;
  const {
    appId = '',
    openid = '',
    type = '',
    componentAppId = '',
    authorizerAppId = '',
  } = found.params;
  return found.handler.handle({
    req,
    url,
    backend,
    appId,
    openid,
    type,
    componentAppId,
    authorizerAppId,
  });
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new SimInputError(`bad escape in path segment ${JSON.stringify(segment)}`);
  }
}

function rotate(backend: SimBackend, appId: string, body: unknown): Answer {
  const endOverlap = isObject(body) ? body['endOverlap'] : undefined;
  if (endOverlap !== undefined && typeof endOverlap !== 'boolean') {
    throw new SimInputError('endOverlap must be a boolean');
  }
  const outcome = backend.rotate(appId, endOverlap);
  if (outcome.ok) {
    return { body: { access_token: outcome.token.value, expires_in: outcome.expiresInSeconds } };
  }
  // The "other system" hit the app's daily quota, as a real one would.
  return { status: 409, body: { ok: false, ...wechatErrorBody(outcome.errcode, outcome.errmsg) } };
}

function accessTokenOf(body: unknown): string {
  const token = isObject(body) ? body['access_token'] : undefined;
  if (typeof token !== 'string') throw new SimInputError('access_token must be a string');
  return token;
}

function callFilter(query: URLSearchParams): { appId?: string; since?: number } {
  const since = query.get('since');
  if (since !== null && !Number.isFinite(Number(since))) {
    throw new SimInputError('since must be a number of milliseconds');
  }
  return {
    ...(query.get('appId') === null ? {} : { appId: query.get('appId') ?? '' }),
    ...(since === null ? {} : { since: Number(since) }),
  };
}

/** The JSON body; `empty` stands in for a missing one. */
async function readJson(req: IncomingMessage, empty?: unknown): Promise<unknown> {
  const raw = await readBody(req);
  if (raw === undefined) throw new SimInputError('body too large');
  if (raw.trim() === '' && empty !== undefined) return empty;
  try {
    return JSON.parse(raw);
  } catch {
    throw new SimInputError('body is not JSON');
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
