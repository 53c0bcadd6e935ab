import { setTimeout as sleep } from 'node:timers/promises';
import { getToken } from '../src/cli/grpc-client.js';
import { BenchCluster, CLUSTER_LEASE as LEASE, type BenchReplica } from './bench-cluster.js';
import { ms, quantiles, type BenchContext, type BenchRow, type Scenario } from './report.js';

const APP = 'wxbenchfailover1';
const REPLICAS = 3;
const POLL_MS = 10;

/**
 * Issue 7 scenario 5: the leader is SIGKILLed (its lease must lapse) or SIGTERMed (it releases
 * the lease on the way out), and the time until another replica says it leads is measured by
 * polling ListApps' `leader` on every other replica every ~10 ms. The stopped replica is
 * replaced before the next trial, so every trial starts from 3 replicas and one leader.
 */
export const failoverScenario: Scenario = {
  name: 'failover',
  title: `leader SIGKILL / SIGTERM → next leader (${REPLICAS} replicas, lease ${LEASE.ttlMs}/${LEASE.renewIntervalMs} ms)`,
  run: runFailover,
};

async function runFailover(ctx: BenchContext): Promise<BenchRow[]> {
  const trials = ctx.quick ? 2 : 5;
  const cluster = await BenchCluster.start({
    replicas: REPLICAS,
    apps: [{ appId: APP, expiresInSeconds: 7200, overlapSeconds: 300 }],
    refresh: {},
    log: ctx.log,
  });
  try {
    const results: Record<'SIGKILL' | 'SIGTERM', number[]> = { SIGKILL: [], SIGTERM: [] };
    for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
      for (let i = 0; i < trials; i++) {
        const r = await trial(cluster, signal);
        results[signal].push(r.takeoverMs);
        ctx.log(
          `${signal} ${i + 1}: ${r.from} → ${r.to} in ${ms(r.takeoverMs)}` +
            ` (old process gone after ${ms(r.exitMs)})`,
        );
      }
    }
    return failoverRows(results);
  } finally {
    await cluster.stop();
  }
}

async function trial(
  cluster: BenchCluster,
  signal: 'SIGKILL' | 'SIGTERM',
): Promise<{ from: string; to: string; takeoverMs: number; exitMs: number }> {
  // 1. Back to 3 replicas that all serve, with exactly one leader.
  while (cluster.running().length < REPLICAS) await cluster.addReplica();
  for (const r of cluster.running()) await getToken(r.client, APP, 10_000);
  const leader = await cluster.waitForLeader(cluster.running(), 15_000);
  const others = cluster.running().filter((r) => r !== leader);
  // Let the new replica settle into following (and the lease into its renewal rhythm) at a
  // random phase, so trials sample the whole renewal interval.
  await sleep(LEASE.renewIntervalMs + Math.random() * LEASE.renewIntervalMs);
  const flags = await Promise.all(others.map((r) => r.isLeader(1_000)));
  if (flags.some((f) => f !== false)) throw new Error('more than one leader before the trial');
  // 2. Poll the others before the signal, so no poller starts late.
  const polled = pollForLeader(others);
  const t0 = performance.now();
  const exited = leader.proc.stop(signal).then(() => performance.now() - t0);
  const next = await polled.first(t0, LEASE.ttlMs * 3 + 5_000);
  const exitMs = await exited;
  polled.stop();
  return { from: leader.name, to: next.replica.name, takeoverMs: next.at - t0, exitMs };
}

/** Every replica polled with ListApps every POLL_MS; `first` resolves with the first to lead. */
function pollForLeader(replicas: readonly BenchReplica[]): {
  first(since: number, timeoutMs: number): Promise<{ replica: BenchReplica; at: number }>;
  stop(): void;
} {
  let stopped = false;
  let found: { replica: BenchReplica; at: number } | undefined;
  const loops = replicas.map(async (r) => {
    while (!stopped && !found) {
      const leads = await r.isLeader(300);
      if (leads && !found) found = { replica: r, at: performance.now() };
      await sleep(POLL_MS);
    }
  });
  return {
    first: async (since, timeoutMs) => {
      while (!found) {
        if (performance.now() - since > timeoutMs) {
          stopped = true;
          await Promise.all(loops);
          throw new Error(`no new leader within ${timeoutMs} ms`);
        }
        await sleep(1);
      }
      return found;
    },
    stop: () => {
      stopped = true;
    },
  };
}

function failoverRows(results: Record<'SIGKILL' | 'SIGTERM', number[]>): BenchRow[] {
  const scenario = 'failover';
  const kill = quantiles(results.SIGKILL);
  const term = quantiles(results.SIGTERM);
  const killTarget = LEASE.ttlMs + 1_000;
  return [
    {
      scenario,
      metric: 'lease settings',
      value:
        `lease.ttlMs ${LEASE.ttlMs}, renewIntervalMs ${LEASE.renewIntervalMs}; ` +
        `${REPLICAS} replicas, 1 Redis; ListApps polled every ${POLL_MS} ms`,
    },
    {
      scenario,
      metric: `SIGKILL → next leader, median / max (${results.SIGKILL.length} trials)`,
      value: `${ms(kill.p50)} / ${ms(kill.max)}`,
      target: `≤ ${killTarget} ms (lease TTL + 1 s)`,
      met: results.SIGKILL.length > 0 && kill.max <= killTarget,
    },
    {
      scenario,
      metric: `SIGTERM → next leader, median / max (${results.SIGTERM.length} trials)`,
      value: `${ms(term.p50)} / ${ms(term.max)}`,
      target: '≤ 500 ms',
      met: results.SIGTERM.length > 0 && term.max <= 500,
    },
  ];
}
