import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson } from './http-io.js';
import type { SimBackend } from './sim-backend.js';
import { SimInputError, SimUnknownAppError, SimUnknownUserError } from './sim-errors.js';
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
 * as another system would, play a mini program's device (wx.login codes, encrypted open data),
 * and read counters, users and the call log. Bad input → 400, unknown app, user or route → 404,
 * each with `{ ok: false, error }`.
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
      err instanceof SimUnknownUserError
    ) {
      sendJson(res, err instanceof SimInputError ? 400 : 404, { ok: false, error: err.message });
    } else {
      throw err;
    }
  }
}

/**
 * The control routes, as `GET /__sim/` lists them (the dev banner points there). Every `case`
 * below has its line here; test/sim/control-api.http.test.ts calls each one listed.
 */
export const CONTROL_ROUTES: readonly { readonly route: string; readonly what: string }[] = [
  { route: 'GET health', what: 'liveness of the simulator' },
  { route: 'POST reset', what: 'forget every app, token, user, fault and call' },
  { route: 'POST apps', what: 'configure an app: {appId, secret, expiresInSeconds, ...}' },
  { route: 'GET apps/:appId/counters', what: "an app's call, token, error and fault counters" },
  { route: 'POST apps/:appId/faults', what: 'inject a fault: {kind, count, endpoints?}' },
  { route: 'DELETE apps/:appId/faults', what: "clear an app's pending faults" },
  {
    route: 'POST apps/:appId/rotate',
    what: 'fetch a token as another system would ({endOverlap})',
  },
  { route: 'POST apps/:appId/codes', what: 'a wx.login() code for a user ({user?, unionid?})' },
  { route: 'GET apps/:appId/users/:openid', what: "a user's openid, unionid and session state" },
  {
    route: 'POST apps/:appId/users/:openid/encrypt',
    what: 'encrypt open data with the session key',
  },
  { route: 'POST check', what: 'does WeChat accept this token? {access_token}' },
  { route: 'GET calls', what: 'the call log (?appId=&since=)' },
];

async function route(
  req: IncomingMessage,
  url: URL,
  backend: SimBackend,
): Promise<Answer | undefined> {
  const path = url.pathname.slice(CONTROL_PREFIX.length);
  const route = path
    .replace(/^apps\/[^/]+\//, 'apps/:appId/')
    .replace(/^apps\/:appId\/users\/[^/]+/, 'apps/:appId/users/:openid');
  const key = `${req.method ?? 'GET'} ${route}`;
  const appId = decodeURIComponent(/^apps\/([^/]+)\//.exec(path)?.[1] ?? '');
  const openid = decodeURIComponent(/^apps\/[^/]+\/users\/([^/]+)/.exec(path)?.[1] ?? '');
  switch (key) {
    case 'GET ':
      return {
        body: {
          routes: CONTROL_ROUTES.map(({ route: r, what }) => {
            const [method, path] = r.split(' ') as [string, string];
            return { method, path: `${CONTROL_PREFIX}${path}`, what };
          }),
        },
      };
    case 'GET health':
      return OK;
    case 'POST reset':
      backend.reset();
      return OK;
    case 'POST apps':
      backend.configureApp(await readJson(req));
      return OK;
    case 'GET apps/:appId/counters':
      return { body: backend.counters(appId) };
    case 'POST apps/:appId/faults':
      backend.injectFault(appId, await readJson(req));
      return OK;
    case 'DELETE apps/:appId/faults':
      backend.clearFaults(appId);
      return OK;
    case 'POST apps/:appId/rotate':
      return rotate(backend, appId, await readJson(req, {}));
    case 'POST apps/:appId/codes':
      return { body: backend.login.issueCode(appId, await readJson(req, {})) };
    case 'GET apps/:appId/users/:openid':
      return { body: backend.login.user(appId, openid) };
    case 'POST apps/:appId/users/:openid/encrypt':
      return { body: backend.login.encrypt(appId, openid, await readJson(req)) };
    case 'POST check':
      return { body: backend.check(accessTokenOf(await readJson(req))) };
    case 'GET calls':
      return { body: { calls: backend.calls(callFilter(url.searchParams)) } };
    default:
      return undefined;
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
