import { setTimeout as sleep } from 'node:timers/promises';
import { runLoad } from './load.js';
import { cpuSeconds, mainThreadCpuSeconds } from './procs.js';
import { perSecond, type BenchContext, type BenchRow } from './report.js';
import { median } from './stats.js';
import { sweepGetToken } from './scale-probes.js';
import { appIds, type ScaleRig, type ScaleServer } from './scale-rig.js';
import { UpstreamTally } from './scale-upstream.js';

export interface Round {
  readonly cps: number;
  readonly p99Ms: number;
  readonly errors: number;
  /** Share of the server's core used while recording. */
  readonly util: number;
  readonly cpuUsPerCall: number;
  /** The main thread's share of cpuUsPerCall (the rest: GC helper threads, libuv's pool). */
  readonly mainUsPerCall: number;
  /** Calls the server answered in the whole round, its warm-up included. */
  readonly finished: number;
  /** The whole round's wall time under load, its warm-up included (ms). */
  readonly loadMs: number;
}

/**
 * GetToken throughput of an N-app server against a 1-app server in the same run: the same
 * Node generator (4 channels × 32 in flight, random app ids from the server's list), alternating
 * rounds, medians. Tokens live 7200 s so neither server refreshes while measured. A Node
 * generator on one core tops out before a grpc-js server core does (stack-notes.md), so the
 * server's CPU per call is reported too: it is the comparison the generator cannot blur.
 */
export async function throughputPhase(
  ctx: BenchContext,
  rig: ScaleRig,
  count: number,
  row: (metric: string, value: string, target?: string, met?: boolean) => BenchRow,
): Promise<BenchRow[]> {
  const ids = { one: appIds('wxscaleC', 1), many: appIds('wxscaleB', count) };
  const { sim, url } = await rig.startSim([...ids.many, ...ids.one], 7200);
  const tally = new UpstreamTally(sim, [...ids.many, ...ids.one]);
  rig.onClose(async () => tally.stop());
  const servers = {
    one: await rig.startServer('one', url, ids.one),
    many: await rig.startServer('many', url, ids.many),
  };
  const since = Date.now();
  while (tally.allServedAt() === undefined) {
    if (Date.now() - since > 600_000) throw new Error('throughput servers not warm in 600 s');
    await sleep(500);
  }
  tally.stop();
  for (const name of ['one', 'many'] as const) {
    const sweep = await sweepGetToken(servers[name].grpcAddr, ids[name], 180_000);
    if (sweep.served !== ids[name].length) {
      throw new Error(`${name}: ${sweep.failed + sweep.dead} apps without a live token`);
    }
    await loadRound(servers[name], ids[name], 5_000, 0); // JIT and GC warm-up, not recorded
  }
  // Measure steady state: a 10,000-app server is busy for a while after its startup wave
  // (collecting the garbage of 10,000 fetches), which is a startup cost, not a per-call one.
  for (const name of ['one', 'many'] as const) {
    const ms = await quiesce(servers[name].proc.pid);
    ctx.log(`${name}: quiet ${sec(ms)} after its warm-up`);
  }
  const rounds = ctx.quick ? 1 : 5;
  const durationMs = ctx.quick ? 3_000 : 5_000;
  const got = { one: [] as Round[], many: [] as Round[] };
  for (let r = 0; r < rounds; r++) {
    for (const name of r % 2 ? (['many', 'one'] as const) : (['one', 'many'] as const)) {
      const round = await loadRound(servers[name], ids[name], durationMs, 1_000);
      got[name].push(round);
      ctx.log(
        `round ${r + 1} ${name}: ${perSecond(round.cps)}, server core ` +
          `${(round.util * 100).toFixed(0)} %, ${round.cpuUsPerCall.toFixed(1)} µs CPU/call`,
      );
    }
  }
  const med = (rs: Round[], f: (r: Round) => number): number => median(rs.map(f));
  const ratio = med(got.many, (r) => r.cps) / med(got.one, (r) => r.cps);
  const cpuRatio = med(got.many, (r) => r.cpuUsPerCall) / med(got.one, (r) => r.cpuUsPerCall);
  const describe = (rs: Round[]): string =>
    `${perSecond(med(rs, (r) => r.cps))}, p99 ${med(rs, (r) => r.p99Ms).toFixed(1)} ms, ` +
    `server core ${(med(rs, (r) => r.util) * 100).toFixed(0)} %, ` +
    `${med(rs, (r) => r.cpuUsPerCall).toFixed(1)} µs CPU/call`;
  const errors = [...got.one, ...got.many].reduce((n, r) => n + r.errors, 0);
  return [
    row(`GetToken, 1 app (median of ${rounds})`, describe(got.one)),
    row(`GetToken, ${count} apps, random app ids`, describe(got.many)),
    row(`GetToken calls/s ratio ${count} / 1 app`, ratio.toFixed(3), '≥ 0.95', ratio >= 0.95),
    row(
      `server CPU per GetToken ratio ${count} / 1 app`,
      cpuRatio.toFixed(3),
      '≤ 1.1 (generator-independent)',
      cpuRatio <= 1.1,
    ),
    row('GetToken errors under load', String(errors), '0', errors === 0),
  ];
}

export async function loadRound(
  server: ScaleServer,
  ids: readonly string[],
  durationMs: number,
  warmupMs: number,
): Promise<Round> {
  const pid = server.proc.pid;
  const t0 = performance.now();
  let cpuStart = cpuSeconds(pid);
  let mainStart = mainThreadCpuSeconds(pid);
  const mark = setTimeout(() => {
    cpuStart = cpuSeconds(pid);
    mainStart = mainThreadCpuSeconds(pid);
  }, warmupMs);
  const res = await runLoad({
    addr: server.grpcAddr,
    appId: ids[0]!,
    appIds: ids,
    channels: 4,
    inflight: 32,
    durationMs,
    warmupMs,
  });
  clearTimeout(mark);
  const loadMs = performance.now() - t0;
  const cpu = cpuSeconds(pid) - cpuStart;
  const main = mainThreadCpuSeconds(pid) - mainStart;
  return {
    cps: res.callsPerSecond,
    p99Ms: res.p99Ms,
    errors: res.errors,
    util: cpu / (durationMs / 1000),
    cpuUsPerCall: (cpu / Math.max(1, res.calls)) * 1e6,
    mainUsPerCall: (main / Math.max(1, res.calls)) * 1e6,
    finished: res.finished,
    loadMs,
  };
}

/** Waits until the process uses < 5 % of a core for 3 s in a row (at most 60 s); returns ms. */
export async function quiesce(pid: number): Promise<number> {
  const t0 = Date.now();
  let quiet = 0;
  while (quiet < 3 && Date.now() - t0 < 60_000) {
    const c0 = cpuSeconds(pid);
    await sleep(1000);
    quiet = cpuSeconds(pid) - c0 < 0.05 ? quiet + 1 : 0;
  }
  return Date.now() - t0;
}

const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
