import { setTimeout as sleep } from 'node:timers/promises';
import { getToken } from '../src/cli/grpc-client.js';
import { BenchCluster, CLUSTER_LEASE as LEASE } from './bench-cluster.js';
import type { BenchContext, BenchRow, Scenario } from './report.js';
import { auditServedTokens, judgeRejections, validityEnds } from './served-token-audit.js';

const APP = 'wxbenchrotation1';
/** A token lifetime of 3 s: 2,400 times shorter than WeChat's 7200 s. */
const LIFETIME_S = 3;
/**
 * Refresh 1 s (+ up to 20 % jitter) before expiry and keep the previous token for 1 s after a
 * rotation: both are a third of the lifetime, where WeChat's are 300 s of 7200 (1/24): the
 * old token dies 1 s after the new one is fetched instead of 0.125 s, still hundreds of
 * times the propagation delay.
 */
const AHEAD_S = 1;
const OVERLAP_S = 1;
const REPLICAS = 5;
/** Token calls closer together than this belong to one rotation (rotations are ~1.9 s apart). */
const SAME_ROTATION_MS = 1_000;

/**
 * Issue 7 scenario 2: 5 replicas on one Redis through 50 token lifetimes. Every upstream token
 * call is counted in the simulator's call log; business servers call GetToken on random
 * replicas throughout and every answer is checked at the simulator right away.
 */
export const rotationScenario: Scenario = {
  name: 'rotation',
  title: `5 replicas, 50 rotations of a ${LIFETIME_S} s token: fetches per rotation, rejected tokens`,
  run: runRotation,
};

async function runRotation(ctx: BenchContext): Promise<BenchRow[]> {
  const rotations = ctx.quick ? 10 : 50;
  ctx.log(
    `expires_in ${LIFETIME_S} s, overlap ${OVERLAP_S} s, refresh.aheadSeconds ${AHEAD_S}; ` +
      `lease ttlMs ${LEASE.ttlMs} renewIntervalMs ${LEASE.renewIntervalMs}; ${REPLICAS} replicas`,
  );
  const cluster = await BenchCluster.start({
    replicas: REPLICAS,
    apps: [{ appId: APP, expiresInSeconds: LIFETIME_S, overlapSeconds: OVERLAP_S }],
    refresh: { aheadSeconds: AHEAD_S },
    log: ctx.log,
  });
  try {
    for (const r of cluster.replicas) await getToken(r.client, APP, 10_000);
    const before = await cluster.sim.counters(APP);
    const startedAt = Date.now();
    let finish!: () => void;
    const stop = new Promise<void>((resolve) => (finish = resolve));
    const audit = auditServedTokens(cluster.replicas, cluster.sim, APP, {
      workers: 4,
      paceMs: 5,
      stop,
    });
    // Run until `rotations` new tokens were issued, then one more lifetime so that the last
    // one is served through its whole life and its predecessor's overlap.
    const deadline = startedAt + rotations * LIFETIME_S * 1000 * 1.5 + 10_000;
    while ((await cluster.sim.counters(APP)).tokenIssued - before.tokenIssued < rotations) {
      if (Date.now() > deadline) break;
      await sleep(500);
    }
    await sleep(LIFETIME_S * 1000);
    finish();
    const { samples, errors } = await audit;
    const after = await cluster.sim.counters(APP);
    const log = await cluster.sim.calls(APP, 0);
    const calls = log.filter((c) => c.endpoint === 'token' && c.at >= startedAt);
    const groups = groupRotations(calls.map((c) => c.at));
    const fetches = after.tokenCalls - before.tokenCalls;
    const failed = calls.filter((c) => c.errcode !== 0).length;
    const maxPerRotation = Math.max(0, ...groups.map((g) => g.length));
    const ends = validityEnds(log, LIFETIME_S * 1000, OVERLAP_S * 1000);
    const { servedDead, diedInTransit } = judgeRejections(samples, ends);
    const distinct = new Set(samples.map((s) => s.token)).size;
    const seconds = (Date.now() - startedAt) / 1000;
    ctx.log(
      `${seconds.toFixed(0)} s: ${groups.length} rotations, ${fetches} token calls (${failed} failed); ` +
        `${samples.length} GetToken answers checked, ${distinct} distinct tokens, ` +
        `${errors.length} errors${errors.length ? ` (first: ${errors[0]})` : ''}`,
    );
    for (const s of servedDead.slice(0, 5)) {
      ctx.log(`rejected: ${s.replica} gen ${s.generation} errcode ${s.errcode} at ${s.sentAt}`);
    }
    const scenario = 'rotation';
    return [
      {
        scenario,
        metric: 'settings',
        value:
          `${REPLICAS} replicas, 1 Redis; expires_in ${LIFETIME_S} s, overlap ${OVERLAP_S} s, ` +
          `aheadSeconds ${AHEAD_S}; lease ${LEASE.ttlMs}/${LEASE.renewIntervalMs} ms`,
      },
      {
        scenario,
        metric: 'rotations observed',
        value: `${groups.length} in ${seconds.toFixed(0)} s`,
      },
      {
        scenario,
        metric: 'upstream token fetches per rotation',
        value: `max ${maxPerRotation}, mean ${(fetches / Math.max(1, groups.length)).toFixed(2)} (${fetches} fetches, ${failed} failed)`,
        target: 'exactly 1',
        met: groups.length > 0 && maxPerRotation === 1 && fetches === groups.length,
      },
      {
        scenario,
        metric: 'tokens served that the simulator rejects',
        value:
          `${servedDead.length} of ${samples.length} answers (${distinct} distinct tokens; ` +
          `${diedInTransit} died between answer and check)`,
        target: '0',
        met: servedDead.length === 0,
      },
      {
        scenario,
        metric: 'GetToken errors during rotations',
        value: String(errors.length),
      },
    ];
  } finally {
    await cluster.stop();
  }
}

/** Token call times grouped into rotations: a gap of SAME_ROTATION_MS or more starts a new one. */
function groupRotations(times: readonly number[]): number[][] {
  const groups: number[][] = [];
  for (const t of [...times].sort((a, b) => a - b)) {
    const last = groups[groups.length - 1];
    if (last && t - last[last.length - 1]! < SAME_ROTATION_MS) last.push(t);
    else groups.push([t]);
  }
  return groups;
}
