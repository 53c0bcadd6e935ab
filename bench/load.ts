import * as grpc from '@grpc/grpc-js';
import type { TokenServiceClient } from '../src/grpc/generated/wxtoken/v1/TokenService.js';
import { loadProto } from '../src/grpc/proto.js';
import { quantiles } from './report.js';

export interface LoadOptions {
  readonly addr: string;
  readonly appId: string;
  /**
   * When given, every call names an app id drawn uniformly at random from this list instead
   * of `appId` (scale scenario). Pass a one-element list for the baseline so both runs pay
   * for the same draw.
   */
  readonly appIds?: readonly string[];
  /** Separate HTTP/2 connections (grpc-js shares one per target unless told otherwise). */
  readonly channels: number;
  /** Calls kept in flight per channel. */
  readonly inflight: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  /** What each call asks for: the token (default) or the app's jsapi ticket. */
  readonly method?: 'GetToken' | 'GetTicket';
}

export interface LoadResult {
  readonly calls: number;
  /** Every call that finished, the warm-up's included (what the server served in the run). */
  readonly finished: number;
  readonly errors: number;
  readonly callsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Closed-loop unary GetToken (or GetTicket) load; latency per call from send to reply. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const proto = loadProto();
  const clients: TokenServiceClient[] = Array.from(
    { length: o.channels },
    () =>
      new proto.wxtoken.v1.TokenService(o.addr, grpc.credentials.createInsecure(), {
        'grpc.use_local_subchannel_pool': 1,
      }),
  );
  const latencies: number[] = [];
  let errors = 0;
  let finished = 0;
  let recording = false;
  const start = performance.now();
  const end = start + o.warmupMs + o.durationMs;
  const ids = o.appIds ?? [];
  const pick = ids.length
    ? (): string => ids[Math.floor(Math.random() * ids.length)]!
    : (): string => o.appId;
  const loop = (c: TokenServiceClient): Promise<void> =>
    new Promise((resolve) => {
      const one = (): void => {
        if (performance.now() >= end) return resolve();
        const t0 = performance.now();
        const done = (err: grpc.ServiceError | null): void => {
          finished++;
          if (recording) {
            if (err) errors++;
            else latencies.push(performance.now() - t0);
          }
          one();
        };
        if (o.method === 'GetTicket') {
          c.GetTicket({ app_id: pick(), type: 'TICKET_TYPE_JSAPI' }, done);
        } else c.GetToken({ app_id: pick() }, done);
      };
      one();
    });
  setTimeout(() => (recording = true), o.warmupMs).unref();
  await Promise.all(clients.flatMap((c) => Array.from({ length: o.inflight }, () => loop(c))));
  for (const c of clients) c.close();
  const { p50, p99 } = quantiles(latencies);
  return {
    calls: latencies.length,
    finished,
    errors,
    callsPerSecond: latencies.length / (o.durationMs / 1000),
    p50Ms: p50,
    p99Ms: p99,
  };
}
