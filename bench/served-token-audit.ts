import { setTimeout as sleep } from 'node:timers/promises';
import { getToken } from '../src/cli/grpc-client.js';
import { fingerprint } from '../src/shared/secret.js';
import type { SimCall } from '../src/sim/types.js';
import type { SimControl } from '../test/support/sim-control.js';
import type { BenchReplica } from './bench-cluster.js';

/** One GetToken answer and the simulator's verdict on it, checked right after. */
export interface ServedSample {
  readonly replica: string;
  readonly token: string;
  readonly generation: string;
  /** Wall-clock ms: request sent, answer received, simulator verdict received. */
  readonly sentAt: number;
  readonly receivedAt: number;
  readonly valid: boolean;
  readonly errcode: number;
}

export interface AuditResult {
  readonly samples: ServedSample[];
  readonly errors: string[];
}

/**
 * Business servers calling GetToken on random replicas throughout (`workers` sequential loops),
 * each answer checked at once at the simulator (`/__sim/check`: WeChat's verdict now, neither
 * counted nor logged). Stops when `stop` resolves.
 */
export async function auditServedTokens(
  replicas: readonly BenchReplica[],
  sim: Pick<SimControl, 'check'>,
  appId: string,
  opts: { workers: number; paceMs: number; stop: Promise<void> },
): Promise<AuditResult> {
  let stopped = false;
  void opts.stop.then(() => (stopped = true));
  const samples: ServedSample[] = [];
  const errors: string[] = [];
  const worker = async (): Promise<void> => {
    while (!stopped) {
      const r = replicas[Math.floor(Math.random() * replicas.length)]!;
      const sentAt = Date.now();
      try {
        const t = await getToken(r.client, appId, 2_000);
        const receivedAt = Date.now();
        const verdict = await sim.check(t.access_token);
        samples.push({
          replica: r.name,
          token: t.access_token,
          generation: t.generation,
          sentAt,
          receivedAt,
          valid: verdict.valid,
          errcode: verdict.errcode,
        });
      } catch (err) {
        errors.push(`${r.name}: ${String(err)}`);
      }
      await sleep(opts.paceMs);
    }
  };
  await Promise.all(Array.from({ length: opts.workers }, worker));
  return { samples, errors };
}

/**
 * When each token the simulator issued through /cgi-bin/token stopped being valid, by
 * fingerprint, from its call log: a classic token lives until its own expiry or until the
 * overlap after the next issue ends, whichever is first (wechat-api.md §3, the simulator's
 * TokenChannel). Only valid while nothing else rotates the app.
 */
export function validityEnds(
  calls: readonly SimCall[],
  lifetimeMs: number,
  overlapMs: number,
): Map<string, { issuedAt: number; endsAt: number }> {
  const issued = calls
    .filter((c) => c.endpoint === 'token' && c.errcode === 0 && c.tokenFingerprint)
    .sort((a, b) => a.at - b.at);
  const ends = new Map<string, { issuedAt: number; endsAt: number }>();
  issued.forEach((c, i) => {
    const next = issued[i + 1];
    const natural = c.at + lifetimeMs;
    ends.set(c.tokenFingerprint!, {
      issuedAt: c.at,
      endsAt: next ? Math.min(natural, next.at + overlapMs) : natural,
    });
  });
  return ends;
}

/**
 * Splits the simulator's rejections into tokens already dead when the request was sent (a
 * dead token served: counts against wxtoken) and tokens that died between the request and
 * the check (the answer may have been live when it was given).
 */
export function judgeRejections(
  samples: readonly ServedSample[],
  ends: ReadonlyMap<string, { endsAt: number }>,
): { servedDead: ServedSample[]; diedInTransit: number } {
  const servedDead: ServedSample[] = [];
  let diedInTransit = 0;
  for (const s of samples) {
    if (s.valid) continue;
    const end = ends.get(fingerprint(s.token))?.endsAt;
    if (end !== undefined && end > s.sentAt) diedInTransit++;
    else servedDead.push(s);
  }
  return { servedDead, diedInTransit };
}
