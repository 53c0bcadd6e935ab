import { setTimeout as sleep } from 'node:timers/promises';
import { getToken } from '../src/cli/grpc-client.js';
import { BENCH_SECRET, BenchCluster, CLUSTER_LEASE as LEASE } from './bench-cluster.js';
import { startBurster, type Burster } from './grpc-burst.js';
import { cpuSeconds } from './procs.js';
import { ms, quantiles, type BenchContext, type BenchRow, type Scenario } from './report.js';
import { timeCheck, timeFetch } from './sim-timing.js';

const APP = 'wxbenchherd00001';
/** Another app of the same simulator, for timing direct check and token calls. */
const PROBE = 'wxbenchprobe0001';
const HERD = 1_000;
const REPLICAS = 3;
const CHANNELS_PER_REPLICA = 2;
/**
 * Trials follow each other within seconds, so the per-app minimum interval between forced
 * fetches is 1 s here (production default 10 s); each trial needs exactly one fetch.
 */
const FORCE_MIN_INTERVAL_MS = 1_000;

/**
 * Issue 7 scenario 3: the token is invalidated at WeChat (another system re-fetched it and its
 * overlap ended), and 1,000 business servers report it at once with ForceRefresh, spread over
 * 3 replicas. Counts the upstream calls the herd cost and each caller's latency, against one
 * validity check plus one fetch (timed against the same simulator in the same run) + 50 ms.
 */
export const herdScenario: Scenario = {
  name: 'herd',
  title: `${HERD} concurrent ForceRefresh of one invalidated token over ${REPLICAS} replicas`,
  run: runHerd,
};

interface Trial {
  fetches: number;
  checks: number;
  latencies: number[];
  errors: string[];
  refreshedTrue: number;
  tokens: number;
  burstLatencies: number[];
  /** CPU ms all processes (replicas, simulator, Redis, this driver) spent on the herd / burst. */
  cpuMs: number;
  burstCpuMs: number;
  /** Simulator-side times of the herd's check and fetch, ms after the herd started. */
  checkAtMs: number[];
  fetchAtMs: number[];
  /** The herd's calls went out over issueMs; the last answer came wallMs after the first call. */
  issueMs: number;
  wallMs: number;
}

async function runHerd(ctx: BenchContext): Promise<BenchRow[]> {
  const trials = ctx.quick ? 2 : 5;
  const cluster = await BenchCluster.start({
    replicas: REPLICAS,
    apps: [
      { appId: APP, expiresInSeconds: 7200, overlapSeconds: 300 },
      { appId: PROBE, expiresInSeconds: 7200, overlapSeconds: 300 },
    ],
    refresh: { forceMinIntervalMs: FORCE_MIN_INTERVAL_MS },
    log: ctx.log,
  });
  let burster: Burster | undefined;
  try {
    burster = await startBurster(ctx.root, cluster.replicas, CHANNELS_PER_REPLICA);
    ctx.log(`load generator: ${burster.kind}`);
    // Warm every channel and the servers' code paths (GetToken, ForceRefresh of a token that
    // is no longer current: answered without upstream calls) before timing anything.
    await burster.run({ method: 'GetToken', n: HERD, fields: { '1': APP } });
    await burster.run({
      method: 'ForceRefresh',
      n: HERD,
      fields: { '1': APP, '2': 'bench-warm-up-not-a-current-token', '3': 'bench warm-up' },
    });
    const rtt = await upstreamRoundTrips(cluster);
    const targetMs = rtt.check + rtt.fetch + 50;
    ctx.log(`simulator round trips (median of 20): check ${ms(rtt.check)}, fetch ${ms(rtt.fetch)}`);
    const results: Trial[] = [];
    for (let i = 0; i < trials; i++) {
      await sleep(FORCE_MIN_INTERVAL_MS + 200);
      const t = await herdTrial(cluster, burster);
      results.push(t);
      const q = quantiles(t.latencies);
      ctx.log(
        `trial ${i + 1}: ${t.fetches} token call(s), ${t.checks} check(s), calls issued over ` +
          `${ms(t.issueMs)}, last answer at ${ms(t.wallMs)}; p50 ${ms(q.p50)}, ` +
          `p99 ${ms(q.p99)}, max ${ms(q.max)}; ${t.refreshedTrue} refreshed=true, ` +
          `${t.tokens} distinct token(s) returned, ${t.errors.length} errors` +
          `${t.errors.length ? ` (first: ${t.errors[0]})` : ''}; ` +
          `GetToken burst p99 ${ms(quantiles(t.burstLatencies).p99)}; ` +
          `CPU herd ${t.cpuMs.toFixed(0)} ms, burst ${t.burstCpuMs.toFixed(0)} ms; ` +
          `check at +${t.checkAtMs.join('/')} ms, fetch at +${t.fetchAtMs.join('/')} ms`,
      );
    }
    return herdRows(results, rtt, targetMs, burster.kind);
  } finally {
    await burster?.close();
    await cluster.stop();
  }
}

/** Medians of 20 direct get_api_domain_ip and /cgi-bin/token calls to the simulator. */
async function upstreamRoundTrips(
  cluster: BenchCluster,
): Promise<{ check: number; fetch: number }> {
  const checks: number[] = [];
  const fetches: number[] = [];
  let token = (await timeFetch(cluster.sim.url, PROBE, BENCH_SECRET)).token;
  for (let i = 0; i < 20; i++) {
    checks.push(await timeCheck(cluster.sim.url, token));
    const f = await timeFetch(cluster.sim.url, PROBE, BENCH_SECRET);
    fetches.push(f.ms);
    token = f.token;
  }
  return { check: quantiles(checks).p50, fetch: quantiles(fetches).p50 };
}

async function herdTrial(cluster: BenchCluster, burster: Burster): Promise<Trial> {
  // 1. Every replica serves the same token; 1,000 GetToken at once over the same channels give
  //    this machine's floor for 1,000 concurrent RPCs.
  const stale = (await getToken(cluster.replicas[0]!.client, APP)).access_token;
  for (const r of cluster.replicas) {
    while ((await getToken(r.client, APP)).access_token !== stale) await sleep(10);
  }
  const pids = [...cluster.pids(), ...(burster.pid === undefined ? [] : [burster.pid])];
  const cpu = (): number =>
    pids.reduce((sum, pid) => sum + cpuSeconds(pid) * 1000, 0) +
    (process.cpuUsage().user + process.cpuUsage().system) / 1000;
  let cpu0 = cpu();
  const floor = await burster.run({ method: 'GetToken', n: HERD, fields: { '1': APP } });
  const burstCpuMs = cpu() - cpu0;
  // 2. Another system re-fetches with the overlap ended: the served token is dead at WeChat.
  await cluster.sim.rotate(APP, true);
  const before = await cluster.sim.counters(APP);
  // 3. The herd: every caller reports the same dead token.
  cpu0 = cpu();
  const herdStart = Date.now();
  const herd = await burster.run({
    method: 'ForceRefresh',
    n: HERD,
    fields: { '1': APP, '2': stale, '3': 'bench herd' },
  });
  const cpuMs = cpu() - cpu0;
  const after = await cluster.sim.counters(APP);
  const upstream = await cluster.sim.calls(APP, herdStart);
  const at = (endpoint: string): number[] =>
    upstream.filter((c) => c.endpoint === endpoint).map((c) => c.at - herdStart);
  return {
    fetches: after.tokenCalls - before.tokenCalls,
    checks: after.checkCalls - before.checkCalls,
    latencies: herd.latencies_ms,
    errors: herd.errors,
    refreshedTrue: herd.refreshed,
    tokens: herd.tokens,
    burstLatencies: floor.latencies_ms,
    cpuMs,
    burstCpuMs,
    issueMs: herd.issue_ms,
    wallMs: herd.wall_ms,
    checkAtMs: at('get_api_domain_ip'),
    fetchAtMs: at('token'),
  };
}

function herdRows(
  results: readonly Trial[],
  rtt: { check: number; fetch: number },
  targetMs: number,
  generator: string,
): BenchRow[] {
  const scenario = 'herd';
  const all = results.flatMap((t) => t.latencies);
  const q = quantiles(all);
  const worstP99 = Math.max(...results.map((t) => quantiles(t.latencies).p99));
  const burstQ = quantiles(results.flatMap((t) => t.burstLatencies));
  const fetches = results.map((t) => t.fetches);
  const errors = results.reduce((n, t) => n + t.errors.length, 0);
  return [
    {
      scenario,
      metric: 'settings',
      value:
        `${results.length} trials × ${HERD} calls from ${generator}, ${REPLICAS} replicas × ` +
        `${CHANNELS_PER_REPLICA} channels, 1 Redis; lease ${LEASE.ttlMs}/${LEASE.renewIntervalMs} ms`,
    },
    {
      scenario,
      metric: 'upstream token fetches per herd',
      value: `${fetches.join(', ')} (validity checks: ${results.map((t) => t.checks).join(', ')})`,
      target: '1',
      met: fetches.every((f) => f === 1),
    },
    {
      scenario,
      metric: 'ForceRefresh p50 / p99',
      value: `${ms(q.p50)} / ${ms(q.p99)} (worst trial p99 ${ms(worstP99)}, max ${ms(q.max)})`,
      target: `p99 ≤ ${ms(targetMs)} (check ${ms(rtt.check)} + fetch ${ms(rtt.fetch)} + 50 ms)`,
      met: q.p99 <= targetMs,
    },
    {
      scenario,
      metric: 'calls issued over / last answer after (median)',
      value: `${ms(quantiles(results.map((t) => t.issueMs)).p50)} / ${ms(quantiles(results.map((t) => t.wallMs)).p50)}`,
    },
    {
      scenario,
      metric: 'upstream check / fetch at, after the first call (median)',
      value: `+${ms(quantiles(results.flatMap((t) => t.checkAtMs)).p50)} / +${ms(quantiles(results.flatMap((t) => t.fetchAtMs)).p50)}`,
    },
    {
      scenario,
      metric: `${HERD} concurrent GetToken, p50 / p99 (floor)`,
      value: `${ms(burstQ.p50)} / ${ms(burstQ.p99)}`,
    },
    {
      scenario,
      metric: `CPU per ${HERD} calls, all processes (ForceRefresh / GetToken)`,
      value: `${ms(quantiles(results.map((t) => t.cpuMs)).p50)} / ${ms(quantiles(results.map((t) => t.burstCpuMs)).p50)} (median; 2 cores)`,
    },
    {
      scenario,
      metric: 'ForceRefresh errors',
      value: `${errors} of ${results.length * HERD}`,
    },
  ];
}
