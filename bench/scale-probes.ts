import * as grpc from '@grpc/grpc-js';
import type { TokenServiceClient } from '../src/grpc/generated/wxtoken/v1/TokenService.js';
import { loadProto } from '../src/grpc/proto.js';

/** Sums of a few metric families from one scrape, and what the scrape cost. */
export interface ScrapedMetrics {
  /** wxtoken_credential_refreshes_total (every app, whatever metrics.perAppSeries) by `result`. */
  readonly refreshesByResult: Record<string, number>;
  readonly heapUsedBytes: number;
  readonly bytes: number;
  readonly samples: number;
  readonly ms: number;
}

export async function scrapeMetrics(url: string): Promise<ScrapedMetrics> {
  const t0 = performance.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  const ms = performance.now() - t0;
  const refreshesByResult: Record<string, number> = {};
  let heapUsedBytes = NaN;
  let samples = 0;
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    samples++;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('wxtoken_credential_refreshes_total{')) {
      const result = /result="([^"]*)"/.exec(line)?.[1] ?? '?';
      refreshesByResult[result] = (refreshesByResult[result] ?? 0) + value;
    } else if (line.startsWith('nodejs_heap_size_used_bytes')) {
      heapUsedBytes = value;
    }
  }
  return { refreshesByResult, heapUsedBytes, bytes: text.length, samples, ms };
}

export interface SweepResult {
  readonly served: number;
  readonly failed: number;
  /** Replies whose expires_at had already passed when they arrived (invariant 3). */
  readonly dead: number;
}

/**
 * GetToken once for every app (64 in flight): does each one have a live token right now?
 * Apps not reached within `budgetMs` (a server that stopped answering) count as failed.
 */
export async function sweepGetToken(
  addr: string,
  apps: readonly string[],
  budgetMs = 60_000,
): Promise<SweepResult> {
  const deadline = Date.now() + budgetMs;
  const proto = loadProto();
  const client: TokenServiceClient = new proto.wxtoken.v1.TokenService(
    addr,
    grpc.credentials.createInsecure(),
  );
  let next = 0;
  let served = 0;
  let failed = 0;
  let dead = 0;
  const worker = async (): Promise<void> => {
    while (next < apps.length && Date.now() < deadline) {
      const appId = apps[next++]!;
      await new Promise<void>((resolve) => {
        const callDeadline = Math.min(deadline, Date.now() + 10_000);
        client.GetToken({ app_id: appId }, { deadline: callDeadline }, (err, token) => {
          if (err || !token) failed++;
          else if (expiresAtMs(token.expires_at) <= Date.now()) dead++;
          else served++;
          resolve();
        });
      });
    }
  };
  try {
    await Promise.all(Array.from({ length: 64 }, worker));
  } finally {
    client.close();
  }
  return { served, failed: failed + (apps.length - next), dead };
}

function expiresAtMs(ts: { seconds?: string | number; nanos?: number } | null | undefined): number {
  return Number(ts?.seconds ?? 0) * 1000 + (ts?.nanos ?? 0) / 1e6;
}
