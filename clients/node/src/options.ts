import type { Interceptor } from '@grpc/grpc-js';
import type { Logger } from './logger.js';

/** PEM contents, or a path to a PEM file (a string not starting with "-----BEGIN"). */
export type Pem = Buffer | string;

export interface TlsOptions {
  /** CA that signed the server's certificate (default: the system roots). */
  readonly ca?: Pem;
  /** Client certificate and key, for mTLS. */
  readonly cert?: Pem;
  readonly key?: Pem;
}

export interface WxTokenClientOptions {
  /** host:port of wxtoken's gRPC listener. */
  readonly address: string;
  /** Caller key: every call carries `authorization: Bearer <key>`. */
  readonly key?: string;
  /** TLS (true: system roots) or mTLS; absent: plaintext. */
  readonly tls?: TlsOptions | boolean;
  /** Deadline of each unary call, ms (default 5000). */
  readonly deadlineMs?: number;
  /** Wall clock in ms since the epoch (tests pass a fake one); default Date.now. */
  readonly clock?: { now(): number };
  /** Jitter source in [0, 1); default Math.random. */
  readonly random?: () => number;
  readonly logger?: Logger;
  /** A cached token is not handed out within this many ms of its expiry (default 5000). */
  readonly expiryMarginMs?: number;
  /** WatchToken reconnect backoff: first ceiling and cap, ms (default 100 and 5000). */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** While a stream is down, at most one background GetToken per app per this many ms (default 1000). */
  readonly fallbackIntervalMs?: number;
  /** Most apps one client caches (default 256): token() of one more app is refused. */
  readonly maxApps?: number;
  /** Largest message accepted from or sent to the server, bytes (default 1 MiB). */
  readonly maxMessageBytes?: number;
  /** Extra grpc-js interceptors (metrics, tracing), run after the bearer one. */
  readonly interceptors?: readonly Interceptor[];
}

export interface ResolvedOptions {
  readonly deadlineMs: number;
  readonly now: () => number;
  readonly random: () => number;
  readonly logger: Logger;
  readonly marginMs: number;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  readonly fallbackIntervalMs: number;
  readonly maxApps: number;
  readonly maxMessageBytes: number;
}

function positive(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < min) {
    throw new RangeError(
      `wxtoken-client: ${name} must be a number >= ${min} (got ${String(value)})`,
    );
  }
  return v;
}

/** Options checked once, at construction (a bad value is a programming error: thrown at once). */
export function resolveOptions(o: WxTokenClientOptions): ResolvedOptions {
  if (typeof o.address !== 'string' || o.address.trim() === '') {
    throw new TypeError('wxtoken-client: address is required (host:port)');
  }
  const initialMs = positive('backoff.initialMs', o.backoff?.initialMs, 100);
  const clock = o.clock;
  return {
    deadlineMs: positive('deadlineMs', o.deadlineMs, 5_000),
    now: clock ? () => clock.now() : Date.now,
    random: o.random ?? Math.random,
    logger: o.logger ?? {},
    marginMs: positive('expiryMarginMs', o.expiryMarginMs, 5_000, 0),
    backoff: { initialMs, maxMs: positive('backoff.maxMs', o.backoff?.maxMs, 5_000, initialMs) },
    fallbackIntervalMs: positive('fallbackIntervalMs', o.fallbackIntervalMs, 1_000, 0),
    maxApps: positive('maxApps', o.maxApps, 256),
    maxMessageBytes: positive('maxMessageBytes', o.maxMessageBytes, 1 << 20, 1024),
  };
}
