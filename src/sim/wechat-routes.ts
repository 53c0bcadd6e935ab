import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../shared/clock.js';
import { WECHAT_JSON, readBody, remoteIp, sendJson } from './http-io.js';
import { loginRequestFromQuery } from './login-request.js';
import type { SimBackend, SimReply } from './sim-backend.js';
import { sendReply } from './send-reply.js';
import { tokenRequestFromQuery } from './token-request.js';
import { wechatErrorBody } from './wechat-error-body.js';

export interface WeChatRouteContext {
  backend: SimBackend;
  clock: Clock;
  /** Aborts when the client goes away or the simulator closes. */
  signal: AbortSignal;
}

/**
 * The WeChat endpoints over HTTP: parse, ask the backend, send its reply. Every answer is
 * HTTP 200 with JSON unless a fault says otherwise (wechat-api.md §0).
 */
export async function handleWeChatRequest(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  ctx: WeChatRouteContext,
): Promise<void> {
  const reply = await route(req, url, ctx.backend);
  if (reply) await sendReply(res, reply, ctx.clock, ctx.signal);
  else sendJson(res, 404, wechatErrorBody(-1, `no such api ${url.pathname}`), WECHAT_JSON);
}

async function route(
  req: IncomingMessage,
  url: URL,
  backend: SimBackend,
): Promise<SimReply | undefined> {
  switch (url.pathname) {
    case '/cgi-bin/token':
      return backend.token(tokenRequestFromQuery(url.searchParams), remoteIp(req));
    case '/cgi-bin/stable_token': {
      // An oversized body cannot be a valid request: '' makes it 47001.
      const body = req.method === 'POST' ? ((await readBody(req)) ?? '') : '';
      return backend.stableToken(req.method ?? 'GET', body, remoteIp(req));
    }
    case '/cgi-bin/get_api_domain_ip':
      return backend.apiDomainIp(url.searchParams.get('access_token') ?? undefined);
    case '/sns/jscode2session':
      return backend.login.code2Session(loginRequestFromQuery(url.searchParams));
    case '/wxa/checksession':
      return backend.login.checkSession(loginRequestFromQuery(url.searchParams));
    case '/wxa/resetusersessionkey':
      return backend.login.resetSessionKey(loginRequestFromQuery(url.searchParams));
    default:
      return undefined;
  }
}
