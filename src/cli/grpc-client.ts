import * as grpc from '@grpc/grpc-js';
import type { ForceRefreshRequest } from '../grpc/generated/wxtoken/v1/ForceRefreshRequest.js';
import type { ForceRefreshResponse__Output } from '../grpc/generated/wxtoken/v1/ForceRefreshResponse.js';
import type { ListAppsRequest } from '../grpc/generated/wxtoken/v1/ListAppsRequest.js';
import type { ListAppsResponse__Output } from '../grpc/generated/wxtoken/v1/ListAppsResponse.js';
import type { ListAuditEventsRequest } from '../grpc/generated/wxtoken/v1/ListAuditEventsRequest.js';
import type { ListAuditEventsResponse__Output } from '../grpc/generated/wxtoken/v1/ListAuditEventsResponse.js';
import type { Token__Output } from '../grpc/generated/wxtoken/v1/Token.js';
import type { Ticket__Output } from '../grpc/generated/wxtoken/v1/Ticket.js';
import type { TicketType } from '../grpc/generated/wxtoken/v1/TicketType.js';
import type { JsapiSignature__Output } from '../grpc/generated/wxtoken/v1/JsapiSignature.js';
import type { TokenServiceClient } from '../grpc/generated/wxtoken/v1/TokenService.js';
import { loadProto } from '../grpc/proto.js';

/**
 * A TokenService client for the on-call commands (and tests), plaintext by default. With `key`,
 * every call carries `authorization: Bearer <key>` (an interceptor, so it works on plaintext
 * loopback channels too).
 */
export function tokenClient(
  addr: string,
  key?: string,
  channel: { credentials?: grpc.ChannelCredentials; options?: grpc.ChannelOptions } = {},
): TokenServiceClient {
  const proto = loadProto();
  return new proto.wxtoken.v1.TokenService(
    addr,
    channel.credentials ?? grpc.credentials.createInsecure(),
    { ...channel.options, interceptors: bearerInterceptors(key) },
  );
}

/** `authorization: Bearer <key>` on every call (none without a key). */
export function bearerInterceptors(key: string | undefined): grpc.Interceptor[] {
  if (!key) return [];
  return [
    (options, next) =>
      new grpc.InterceptingCall(next(options), {
        start(metadata, listener, start) {
          metadata.set('authorization', `Bearer ${key}`);
          start(metadata, listener);
        },
      }),
  ];
}

type Callback<Res> = (err: grpc.ServiceError | null, res?: Res) => void;

/** A unary call's callback that settles a promise. */
export function settle<Res>(
  resolve: (r: Res) => void,
  reject: (e: unknown) => void,
): Callback<Res> {
  return (err, res) => (err ? reject(err) : resolve(res as Res));
}

/** Call options with a deadline `timeoutMs` from now. */
export const opts = (timeoutMs: number): grpc.CallOptions => ({
  deadline: Date.now() + timeoutMs,
});

export function getToken(
  c: TokenServiceClient,
  appId: string,
  timeoutMs = 10_000,
): Promise<Token__Output> {
  return new Promise((resolve, reject) =>
    c.GetToken({ app_id: appId }, new grpc.Metadata(), opts(timeoutMs), settle(resolve, reject)),
  );
}

export function forceRefresh(
  c: TokenServiceClient,
  req: ForceRefreshRequest,
  timeoutMs = 15_000,
): Promise<ForceRefreshResponse__Output> {
  return new Promise((resolve, reject) =>
    c.ForceRefresh(req, new grpc.Metadata(), opts(timeoutMs), settle(resolve, reject)),
  );
}

/** One ListApps page (the first one without `req`). */
export function listApps(
  c: TokenServiceClient,
  timeoutMs = 10_000,
  req: ListAppsRequest = {},
): Promise<ListAppsResponse__Output> {
  return new Promise((resolve, reject) =>
    c.ListApps(req, new grpc.Metadata(), opts(timeoutMs), settle(resolve, reject)),
  );
}

/** Every app, page after page (each page within `timeoutMs`). */
export async function listAllApps(
  c: TokenServiceClient,
  timeoutMs = 10_000,
  pageSize = 0,
): Promise<ListAppsResponse__Output['apps']> {
  const apps: ListAppsResponse__Output['apps'] = [];
  let pageToken = '';
  do {
    const page = await listApps(c, timeoutMs, { page_size: pageSize, page_token: pageToken });
    apps.push(...page.apps);
    pageToken = page.next_page_token;
  } while (pageToken !== '');
  return apps;
}

export function listAuditEvents(
  c: TokenServiceClient,
  req: ListAuditEventsRequest,
  timeoutMs = 10_000,
): Promise<ListAuditEventsResponse__Output> {
  return new Promise((resolve, reject) =>
    c.ListAuditEvents(req, new grpc.Metadata(), opts(timeoutMs), settle(resolve, reject)),
  );
}

export function getTicket(
  c: TokenServiceClient,
  appId: string,
  type: TicketType,
  timeoutMs = 10_000,
): Promise<Ticket__Output> {
  return new Promise((resolve, reject) =>
    c.GetTicket(
      { app_id: appId, type },
      new grpc.Metadata(),
      opts(timeoutMs),
      settle(resolve, reject),
    ),
  );
}

export function signJsapi(
  c: TokenServiceClient,
  appId: string,
  url: string,
  timeoutMs = 10_000,
): Promise<JsapiSignature__Output> {
  return new Promise((resolve, reject) =>
    c.SignJsapi(
      { app_id: appId, url },
      new grpc.Metadata(),
      opts(timeoutMs),
      settle(resolve, reject),
    ),
  );
}
