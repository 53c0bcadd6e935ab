import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../shared/logger.js';
import { ANONYMOUS, type Caller } from '../auth/authorizer.js';
import type { CallGuard } from '../auth/call-guard.js';
import { toStatus } from './error-mapper.js';

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
}

type ServerUnary<Req, Res> = grpc.ServerUnaryCall<Req, Res>;

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
 * The error boundary for unary handlers (style.md points 12-13): a handler is an async
 * function that returns a reply or throws; this wrapper maps what it throws through
 * toStatus, logs failures (unexpected ones with their stack), and reports every call.
 */
export function unary<Req, Res>(
  method: string,
  deps: BoundaryDeps,
  handler: (request: Req, call: ServerUnary<Req, Res>, caller: Caller) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = performance.now();
    const appId = (call.request as { app_id?: unknown } | null)?.app_id;
    const app = typeof appId === 'string' && appId !== '' ? appId.slice(0, 64) : undefined;
    let caller: Caller = ANONYMOUS;
    const run = async (): Promise<Res> => {
      if (deps.guard) caller = deps.guard(method, call, call.request);
      return handler(call.request, call, caller);
    };
    run().then(
      (reply) => {
        const ms = performance.now() - started;
        deps.observer?.onCallEnd?.(method, grpc.status.OK, ms);
        if (!deps.quietMethods?.has(method)) {
          deps.log.info(
            { method, app, code: 'OK', caller: caller.name, durationMs: round(ms) },
            'rpc',
          );
        } else if (deps.log.isLevelEnabled('debug')) {
          deps.log.debug({ method, code: 'OK', durationMs: round(ms) }, 'rpc');
        }
        callback(null, reply);
      },
      (err: unknown) => {
        const ms = performance.now() - started;
        const status = toStatus(err);
        deps.observer?.onCallEnd?.(method, status.code, ms);
        const line = {
          method,
          app,
          code: grpc.status[status.code],
          caller: caller.name,
          durationMs: round(ms),
        };
        if (status.expected) deps.log.warn({ ...line, details: status.details }, 'rpc failed');
        else deps.log.error({ ...line, err }, 'rpc failed unexpectedly');
        callback({ code: status.code, details: status.details, metadata: status.metadata });
      },
    );
  };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
