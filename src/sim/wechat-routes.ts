import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../shared/clock.js';
import { WECHAT_JSON, readBody, remoteIp, sendJson } from './http-io.js';
import { loginRequestFromQuery } from './login-request.js';
import type { SimBackend, SimReply } from './sim-backend.js';
import { sendReply } from './send-reply.js';
import { paidUnionidRequestFromQuery } from './sim-user-data.js';
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
  if (reply) {
    try {
      await sendReply(res, reply, ctx.clock, ctx.signal);
    } finally {
      reply.done?.();
    }
  } else sendJson(res, 404, wechatErrorBody(-1, `no such api ${url.pathname}`), WECHAT_JSON);
}

async function route(
  req: IncomingMessage,
  url: URL,
  backend: SimBackend,
): Promise<SimReply | undefined> {
  const token = url.searchParams.get('access_token') ?? undefined;
  const method = req.method ?? 'GET';
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
    case '/sns/component/jscode2session':
      return backend.login.componentCode2Session(
        loginRequestFromQuery(url.searchParams),
        (componentAppId, componentToken, appId) =>
          backend.components.loginVerdict(componentAppId, componentToken, appId),
      );
    case '/wxa/checksession':
      return backend.login.checkSession(loginRequestFromQuery(url.searchParams));
    case '/wxa/resetusersessionkey':
      return backend.login.resetSessionKey(loginRequestFromQuery(url.searchParams));
    case '/cgi-bin/ticket/getticket':
      return backend.tickets.getTicket(token, url.searchParams.get('type') ?? undefined);
    case '/cgi-bin/getcallbackip':
      return backend.ordinary.callbackIp(token);
    case '/cgi-bin/message/custom/send':
      return backend.ordinary.customSend(method, token, await postBody(req));
    case '/wxa/getwxacodeunlimit':
      return backend.ordinary.wxaCode(method, token, await postBody(req));
    case '/wxa/business/getuserphonenumber':
      return backend.userData.phoneNumber(method, token, await postBody(req));
    case '/cgi-bin/component/api_component_token':
      return backend.components.componentToken(method, await postBody(req));
    case '/cgi-bin/component/api_create_preauthcode':
      return backend.components.preAuthCode(method, componentToken(url), await postBody(req));
    case '/cgi-bin/component/api_query_auth':
      return backend.components.queryAuth(method, componentToken(url), await postBody(req));
    case '/cgi-bin/component/api_authorizer_token':
      return backend.components.authorizerToken(method, componentToken(url), await postBody(req));
    case '/cgi-bin/component/api_get_authorizer_list':
      return backend.components.authorizerList(method, componentToken(url), await postBody(req));
    case '/wxa/getpaidunionid':
      return backend.userData.paidUnionid(paidUnionidRequestFromQuery(url.searchParams));
    default:
      return undefined;
  }
}

function componentToken(url: URL): string | undefined {
  return url.searchParams.get('component_access_token') ?? undefined;
}

/**
 * A POST's body ('' without one), or undefined when it is over the 64 KiB read cap; a GET's
 * is never read (the endpoint answers 43002 first).
 */
async function postBody(req: IncomingMessage): Promise<string | undefined> {
  return req.method === 'POST' ? readBody(req) : '';
}
