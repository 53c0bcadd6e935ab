import type * as grpc from '@grpc/grpc-js';
import { ANONYMOUS, bearerKey, type Caller, type Authorizer } from './authorizer.js';
import type { CallerRateLimiter } from './caller-rate-limiter.js';
import { METHOD_SCOPES } from './scopes.js';
import { PermissionDeniedError } from '../shared/errors.js';
import { fingerprint } from '../shared/secret.js';

/** What the guard reads from a call: metadata and the TLS peer. */
export interface GuardedCall {
  readonly metadata: grpc.Metadata;
  getAuthContext(): { sslPeerCertificate?: { subject?: unknown } } | null;
}

export type CallGuard = (method: string, call: GuardedCall, request: unknown) => Caller;

/**
 * The one place every RPC is authenticated, authorized and rate-limited, before any handler
 * runs (style.md point 13): the method's scope, the request's app_id against the caller's
 * apps, `admin` for an operator refresh (ForceRefresh without a stale token), and the
 * caller's rate limit for the methods that spend WeChat quota.
 */
export function createCallGuard(
  authorizer: Authorizer,
  limiter: CallerRateLimiter,
  /** Per session handle (CheckSession, ResetSessionKey): many callers cannot hammer one user. */
  perHandle?: CallerRateLimiter,
): CallGuard {
  return (method, call, request) => {
    let caller: Caller;
    try {
      caller = authenticate(authorizer, call);
    } catch (err) {
      throw attribute(err, UNAUTHENTICATED);
    }
    try {
      const req = (request ?? {}) as {
        app_id?: unknown;
        stale_token?: unknown;
        component_app_id?: unknown;
      };
      const appId = typeof req.app_id === 'string' && req.app_id !== '' ? req.app_id : undefined;
      const scope = METHOD_SCOPES[method];
      // Fail closed: a method nobody gave a scope is refused, not merely authenticated.
      if (!scope) throw new PermissionDeniedError(`method ${method} is not open to callers`);
      authorizer.authorize(caller, scope, appId);
      const component = req.component_app_id;
      if (typeof component === 'string' && component !== '') {
        authorizer.authorizeComponent(caller, component);
      }
      if (method === 'ForceRefresh' && !req.stale_token) authorizer.authorize(caller, 'admin');
      // Limits are per caller identity; without auth there is none to limit by (loopback only).
      if (caller !== ANONYMOUS) limiter.take(caller.name, method);
      const handle = (request as { session_handle?: unknown } | undefined)?.session_handle;
      if (perHandle && typeof handle === 'string' && handle !== '') {
        // One bucket per handle for all its methods; named by a fingerprint: a handle is a
        // credential and never goes into a message.
        if (SESSION_METHODS.has(method)) perHandle.take(fingerprint(handle), SESSION_CALLS);
      }
    } catch (err) {
      throw attribute(err, caller);
    }
    return caller;
  };
}

/** The per-handle limiter's one limit name, shared by the methods that act on a session. */
export const SESSION_CALLS = 'session calls';
const SESSION_METHODS: ReadonlySet<string> = new Set(['CheckSession', 'ResetSessionKey']);

/** Who a refused call came from, for its log line: nobody known, or the authenticated caller. */
const UNAUTHENTICATED: Caller = { name: 'unauthenticated', apps: new Set(), scopes: new Set() };
const refusedCallers = new WeakMap<object, Caller>();

function attribute(err: unknown, caller: Caller): unknown {
  if (typeof err === 'object' && err !== null) refusedCallers.set(err, caller);
  return err;
}

/** The caller a guard refusal belongs to ("unauthenticated" when authentication failed). */
export function callerOfFailure(err: unknown): Caller | undefined {
  return typeof err === 'object' && err !== null ? refusedCallers.get(err) : undefined;
}

/**
 * The caller, reading the TLS peer certificate only when the authorizer would look at it: with
 * auth configured and no bearer key. grpc-js's getAuthContext goes through node's http2 socket
 * proxy (~0.5 % of the server's CPU under GetToken load): the hot path must not pay it for nothing.
 */
function authenticate(authorizer: Authorizer, call: GuardedCall): Caller {
  if (!authorizer.enabled) return ANONYMOUS;
  const bearer = bearerKey(call.metadata.get('authorization')[0]) !== undefined;
  return authorizer.authenticate(call.metadata, bearer ? undefined : peerCommonName(call));
}

function peerCommonName(call: GuardedCall): string | undefined {
  const subject = call.getAuthContext()?.sslPeerCertificate?.subject as
    { CN?: string | string[] } | undefined;
  const cn = subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn;
}
