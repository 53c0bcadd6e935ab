import type * as grpc from '@grpc/grpc-js';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { Timestamp__Output } from '../grpc/generated/google/protobuf/Timestamp.js';
import type { Connection } from './connection.js';
import { explainUnreachable, transportText } from './unreachable.js';

/** What every on-call command shares: the default address, timestamps, and how a call fails. */

export const DEFAULT_ADDR = process.env.WXTOKEN_ADDR ?? '127.0.0.1:50051';

export function tsToMs(ts: Timestamp__Output | null | undefined): number | undefined {
  return ts ? Number(ts.seconds) * 1000 + Math.round(ts.nanos / 1e6) : undefined;
}

/** Prints a failed call's status name and details (or JSON) and exits 1. */
export function fail(err: unknown, json: boolean, c: Connection): never {
  const e = err as grpc.ServiceError;
  const wechat = e.metadata?.get?.('wechat-errcode')?.[0];
  const code = typeof e.code === 'number' ? (grpcStatus[e.code] ?? String(e.code)) : 'UNKNOWN';
  const details = explain(e, c);
  if (json) {
    console.log(JSON.stringify({ error: { code, details, wechatErrcode: wechat ?? null } }));
  } else {
    console.error(`error: ${details}${wechat ? ` (WeChat errcode ${String(wechat)})` : ''}`);
  }
  process.exit(1);
}

/** What the operator should do, instead of grpc-js's transport text. */
function explain(e: grpc.ServiceError, c: Connection): string {
  const raw = transportText(e.details ?? e.message ?? '');
  // A connection that never came up (a server's own UNAVAILABLE, e.g. no live token, has no such text).
  if (
    e.code === grpcStatus.UNAVAILABLE &&
    /^No connection established|^Name resolution failed/.test(raw)
  ) {
    return explainUnreachable(raw, c.addr, c.tls);
  }
  if (e.code === grpcStatus.UNAUTHENTICATED && /missing credentials/.test(raw)) {
    return `${raw}: pass the caller key with --key-file FILE (or WXTOKEN_KEY_FILE), --key KEY or the WXTOKEN_KEY environment variable`;
  }
  return raw;
}
