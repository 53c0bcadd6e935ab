import type * as grpc from '@grpc/grpc-js';
import { status as grpcStatus } from '@grpc/grpc-js';
import { callerOfFailure } from '../auth/call-guard.js';
import { peerHost } from './unauthenticated-refusals.js';
import { ANONYMOUS, type Caller } from '../auth/authorizer.js';
import { InvalidArgumentError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { TokenService } from '../service/token-service.js';
import type { TicketService } from '../service/ticket-service.js';
import { decodePageToken, encodePageToken, pageSize } from './app-page-token.js';
import { MAX_SIGNED_URL_CHARS } from '../service/jsapi-signature.js';
import { toStatus } from './error-mapper.js';
import { assertWellFormed, callSignal, unary, type BoundaryDeps } from './call-boundary.js';
import { toProtoAppStatus, toProtoAuditEvent, toProtoTicket, toProtoToken } from './convert.js';
import type { TokenServiceHandlers } from './generated/wxtoken/v1/TokenService.js';
import { optionalString, requireAppId, requireTicketType } from './validate.js';
import { MAX_CREDENTIAL_CHARS } from '../wechat/success-body.js';
import type { EncodedTokens } from './encoded-tokens.js';

const MAX_REASON_CHARS = 512;
const DEFAULT_AUDIT_EVENTS = 100;
const MAX_AUDIT_EVENTS = 1000;

export interface StreamRegistry {
  /** Registers an open stream of `caller`; throws TooManyStreamsError past the caller's cap. */
  add(stream: grpc.ServerWritableStream<unknown, unknown>, caller: string): () => void;
}

/** Thin handlers: validate, call the service, convert. Errors go through the boundary. */
export function tokenHandlers(
  service: TokenService,
  tickets: TicketService,
  deps: BoundaryDeps & {
    readonly log: Logger;
    readonly streams: StreamRegistry;
    readonly canUseApp: (caller: Caller, appId: string) => boolean;
    readonly auditLog: AuditLog;
    /** Replies encoded ahead, answered first (the same tokens `service.peek` serves). */
    readonly encodedTokens?: Pick<EncodedTokens, 'get'>;
  },
): TokenServiceHandlers {
  const encoded = deps.encodedTokens;
  return {
    // Not async: a live token is answered synchronously (the hot path, see unary()).
    GetToken: unary('GetToken', deps, (req, call) => {
      const appId = requireAppId(req.app_id);
      const ready = encoded?.get(appId);
      if (ready) return ready;
      const live = service.peek(appId);
      if (live) return toProtoToken(live);
      return service.getToken(appId, callSignal(call)).then(toProtoToken);
    }),

    // Logged and recorded by the boundary's auditor (src/grpc/rpc-audit.ts), refusals included.
    ForceRefresh: unary('ForceRefresh', deps, async (req, _call, caller) => {
      const appId = requireAppId(req.app_id);
      const stale = optionalString(req.stale_token, 'stale_token', MAX_CREDENTIAL_CHARS);
      const reason = optionalString(req.reason, 'reason', MAX_REASON_CHARS);
      if (stale === '' && reason.trim() === '') {
        throw new InvalidArgumentError(
          'reason',
          'required when stale_token is empty (an operator refresh is audited)',
        );
      }
      const result = await service.forceRefresh(appId, stale, reason);
      const token = toProtoToken(result.token);
      // Refreshing is not reading: without token:read the caller learns the outcome (refreshed,
      // generation, expiry) but not the token itself.
      const readable = caller.scopes.has('token:read');
      return {
        token: readable ? token : { ...token, access_token: '' },
        refreshed: result.refreshed,
      };
    }),

    // Not async either: a live ticket is answered from memory like a token.
    GetTicket: unary('GetTicket', deps, (req, call) => {
      const appId = requireAppId(req.app_id);
      const type = requireTicketType(req.type);
      const live = tickets.peek(appId, type);
      if (live) return toProtoTicket(live, type);
      return tickets.getTicket(appId, type, callSignal(call)).then((t) => toProtoTicket(t, type));
    }),

    SignJsapi: unary('SignJsapi', deps, async (req, call) => {
      const appId = requireAppId(req.app_id);
      const url = optionalString(req.url, 'url', MAX_SIGNED_URL_CHARS);
      const signed = await tickets.signJsapi(appId, url, callSignal(call));
      return {
        app_id: appId,
        timestamp: String(signed.timestamp),
        nonce_str: signed.nonceStr,
        signature: signed.signature,
      };
    }),

    // One page in app-id order (app-page-token.ts): O(page), whatever the number of apps.
    ListApps: unary('ListApps', deps, async (req, _call, caller) => {
      const limit = pageSize(req.page_size);
      const after = decodePageToken(req.page_token);
      const page = service.listAppsPage(
        { ...(after !== undefined ? { after } : {}), limit },
        (appId) => deps.canUseApp(caller, appId),
      );
      const last = page.apps.at(-1);
      return {
        apps: page.apps.map((a) => toProtoAppStatus(a, tickets.ticketsOf(a.appId))),
        next_page_token: page.more && last ? encodePageToken(last.appId) : '',
      };
    }),

    ListAuditEvents: unary('ListAuditEvents', deps, async (req, _call, caller) => {
      const appId = req.app_id ? requireAppId(req.app_id) : undefined;
      const limit = req.limit || DEFAULT_AUDIT_EVENTS;
      if (limit < 0 || limit > MAX_AUDIT_EVENTS) {
        throw new InvalidArgumentError('limit', `must be between 0 and ${MAX_AUDIT_EVENTS}`);
      }
      const events = await deps.auditLog.list({
        ...(appId !== undefined ? { appId } : {}),
        limit,
        // Events of apps the caller may not use stay hidden; app-less ones (ListApps) are
        // for callers of every app.
        visible: (e) => deps.canUseApp(caller, e.appId === '' ? '*' : e.appId),
        // An admin of some apps sees only their events: read just those (issue 11 §4).
        ...(caller.apps.has('*') ? {} : { apps: [...caller.apps] }),
      });
      return { events: events.map(toProtoAuditEvent) };
    }),

    // Refusals are logged and counted like a unary call's; a stream that opens counts as OK.
    WatchToken: (call) => {
      const started = performance.now();
      let caller: Caller = ANONYMOUS;
      try {
        if (deps.guard) caller = deps.guard('WatchToken', call, call.request);
        assertWellFormed(call.request);
        const appId = requireAppId(call.request.app_id);
        const stream = call as grpc.ServerWritableStream<unknown, unknown>;
        // Without auth every caller is "anonymous": count those per peer host instead.
        const holder = caller === ANONYMOUS ? `anonymous@${peerHost(call.getPeer())}` : caller.name;
        const unregister = deps.streams.add(stream, holder);
        const unsubscribe = service.watch(appId, (token) => call.write(toProtoToken(token)));
        const stop = (): void => {
          unsubscribe();
          unregister();
        };
        call.once('cancelled', stop);
        call.once('close', stop);
        call.once('error', stop);
        deps.observer?.onCallEnd?.('WatchToken', grpcStatus.OK, performance.now() - started);
      } catch (err) {
        const status = toStatus(err);
        const by = callerOfFailure(err) ?? caller;
        deps.observer?.onCallEnd?.('WatchToken', status.code, performance.now() - started);
        if (status.code === grpcStatus.UNAUTHENTICATED && deps.audit) {
          const request = call.request as unknown;
          const peer = call.getPeer();
          deps.audit({ method: 'WatchToken', request, caller: by, ...status, peer });
        } else
          deps.log.warn(
            {
              method: 'WatchToken',
              app:
                typeof call.request?.app_id === 'string'
                  ? call.request.app_id.slice(0, 64)
                  : undefined,
              code: grpcStatus[status.code],
              caller: by.name,
              details: status.details,
            },
            'rpc failed',
          );
        call.emit('error', {
          code: status.code,
          details: status.details,
          metadata: status.metadata,
        });
      }
    },
  };
}
