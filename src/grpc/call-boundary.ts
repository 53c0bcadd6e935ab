import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../shared/logger.js';
import { ANONYMOUS, type Caller } from '../auth/authorizer.js';
import { callerOfFailure, type CallGuard } from '../auth/call-guard.js';
import { InvalidArgumentError } from '../shared/errors.js';
import { toStatus } from './error-mapper.js';
import type { ReplyEncoder } from './reply-encoding.js';
import type { CallAuditor } from './rpc-audit.js';

export interface CallObserver {
  /** Called once per finished unary call (metrics and access logs hook). */
  onCallEnd?(method: string, code: grpc.status, durationMs: number): void;
}

export interface BoundaryDeps {
  readonly log: Logger;
  readonly observer?: CallObserver;
  /** Methods whose successful calls are logged only at debug level (the hot path). */
  readonly quietMethods?: ReadonlySet<string>;
  /** Authentication, authorization and rate limits; runs before every handler. */
  readonly guard?: CallGuard;
  /** Records the audited methods' calls (ForceRefresh, admin), refused ones included. */
  readonly audit?: CallAuditor;
}

type ServerUnary<Req, Res> = grpc.ServerUnaryCall<Req, Res>;

/**
 * What a request that is not valid protobuf deserializes to (see `tolerantDeserializers`):
 * grpc-js would answer such a message with INTERNAL before any of our code runs; this way
 * the caller is authenticated first and then gets INVALID_ARGUMENT (invariant 9).
 */
export const MALFORMED_REQUEST: Readonly<Record<string, never>> = Object.freeze({});

/** Throws INVALID_ARGUMENT for a request that did not parse. */
export function assertWellFormed(request: unknown): void {
  if (request === MALFORMED_REQUEST) {
    throw new InvalidArgumentError('request', 'is not a valid protobuf message for this method');
  }
}

/**
 * A copy of `service` whose request deserializers yield MALFORMED_REQUEST instead of throwing,
 * and whose responses are written by `encoders` where one is given for the method (the hot
 * replies, see reply-encoding.ts). An encoder for another message than the method's reply is a
 * wiring mistake, refused here at startup rather than sent as garbage.
 */
export function tolerantDeserializers<S extends grpc.ServiceDefinition>(
  service: S,
  encoders: { readonly [M in keyof S]?: ReplyEncoder } = {},
): S {
  return Object.fromEntries(
    Object.entries(service).map(([name, def]) => {
      const encoder = (encoders as Record<string, ReplyEncoder | undefined>)[name];
      const replyName = (def as { responseType?: { type?: { name?: string } } }).responseType?.type
        ?.name;
      if (encoder && replyName !== encoder.messageName) {
        throw new Error(
          `${def.path} replies with ${replyName ?? 'an unknown message'}, not ${encoder.messageName}`,
        );
      }
      return [
        name,
        {
          ...def,
          requestDeserialize: (bytes: Buffer): unknown => {
            try {
              return def.requestDeserialize(bytes);
            } catch {
              return MALFORMED_REQUEST;
            }
          },
          responseSerialize: encoder?.encode ?? def.responseSerialize,
        },
      ];
    }),
  ) as S;
}

/** An AbortSignal that fires when the client cancels or the deadline passes. */
export function callSignal(call: {
  getDeadline(): grpc.Deadline;
  once(event: 'cancelled', listener: () => void): unknown;
}): AbortSignal {
  const ac = new AbortController();
  call.once('cancelled', () => ac.abort(new Error('call cancelled')));
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  if (Number.isFinite(at) && at > 0) {
    const timer = setTimeout(
      () => ac.abort(new Error('deadline exceeded')),
      Math.max(0, at - Date.now()),
    );
    timer.unref();
    ac.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  }
  return ac.signal;
}

/**
 * The error boundary for unary handlers (style.md points 12-13): a handler returns a reply (or
 * a promise of one) or throws; this wrapper maps what it throws through toStatus, logs failures
 * (unexpected ones with their stack), and reports every call. A reply returned synchronously
 * (GetToken from memory) is sent at once, without a promise or a microtask on the hot path.
 */
export function unary<Req, Res>(
  method: string,
  deps: BoundaryDeps,
  handler: (request: Req, call: ServerUnary<Req, Res>, caller: Caller) => Res | Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  const quiet = deps.quietMethods?.has(method) ?? false;
  const succeed = (
    call: ServerUnary<Req, Res>,
    callback: grpc.sendUnaryData<Res>,
    caller: Caller,
    started: number,
    reply: Res,
  ): void => {
    const ms = performance.now() - started;
    deps.observer?.onCallEnd?.(method, grpc.status.OK, ms);
    if (!quiet) {
      deps.log.info(
        {
          method,
          app: appOf(call.request),
          code: 'OK',
          caller: caller.name,
          durationMs: round(ms),
        },
        'rpc',
      );
    } else if (deps.log.isLevelEnabled('debug')) {
      deps.log.debug({ method, code: 'OK', durationMs: round(ms) }, 'rpc');
    }
    deps.audit?.({
      method,
      request: call.request,
      caller,
      code: grpc.status.OK,
      details: '',
      reply,
    });
    callback(null, reply);
  };
  const fail = (
    call: ServerUnary<Req, Res>,
    callback: grpc.sendUnaryData<Res>,
    caller: Caller,
    started: number,
    err: unknown,
  ): void => {
    const ms = performance.now() - started;
    const status = toStatus(err);
    deps.observer?.onCallEnd?.(method, status.code, ms);
    // A refused call belongs to whoever the guard authenticated before refusing it.
    const by = callerOfFailure(err) ?? caller;
    const line = {
      method,
      app: appOf(call.request),
      code: grpc.status[status.code],
      caller: by.name,
      durationMs: round(ms),
    };
    const request = call.request;
    if (status.code === grpc.status.UNAUTHENTICATED && deps.audit) {
      // Counted, and logged at most once per peer per window, by the auditor (a flood of
      // unauthenticated calls must not flood the log either).
      const peer = call.getPeer();
      deps.audit({ method, request, caller: by, code: status.code, details: status.details, peer });
      callback({ code: status.code, details: status.details, metadata: status.metadata });
      return;
    }
    if (status.expected) deps.log.warn({ ...line, details: status.details }, 'rpc failed');
    else deps.log.error({ ...line, err }, 'rpc failed unexpectedly');
    deps.audit?.({ method, request, caller: by, code: status.code, details: status.details });
    callback({ code: status.code, details: status.details, metadata: status.metadata });
  };
  return (call, callback) => {
    const started = performance.now();
    let caller: Caller = ANONYMOUS;
    let result: Res | Promise<Res>;
    try {
      if (deps.guard) caller = deps.guard(method, call, call.request);
      assertWellFormed(call.request);
      result = handler(call.request, call, caller);
    } catch (err) {
      fail(call, callback, caller, started, err);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (reply) => succeed(call, callback, caller, started, reply),
        (err: unknown) => fail(call, callback, caller, started, err),
      );
    } else {
      succeed(call, callback, caller, started, result);
    }
  };
}

/** The request's app id for log lines (bounded: it may be anything the caller sent). */
function appOf(request: unknown): string | undefined {
  const appId = (request as { app_id?: unknown } | null)?.app_id;
  return typeof appId === 'string' && appId !== '' ? appId.slice(0, 64) : undefined;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
