import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_MAX_CONCURRENT_FETCHES } from '../src/token-core.js';
import { cpuSeconds, LOAD_CORE, pinSelf, rssBytes, unpinSelf } from './procs.js';
import { perSecond, type BenchContext, type BenchRow, type Scenario } from './report.js';
import { scrapeMetrics, sweepGetToken } from './scale-probes.js';
import { terminate } from '../test/support/spawned.js';
import { appIds, ScaleRig, STOP_GRACE_MS } from './scale-rig.js';
import { throughputPhase } from './scale-throughput.js';
import { UpstreamTally, type WaveStats } from './scale-upstream.js';

/**
 * Issue 7 scenario 6, "Scale": 10,000 classic apps on one leader, embedded store (in-memory,
 * no Redis), the in-process simulator serving all of them with 50 ms of latency. wxtoken's
 * configuration is the documented default apart from the apps.
 *
 * What a good wave is. Tokens live 120 s, so the policy's window is min(aheadSeconds 300,
 * lifetime / 2) = 60 s, and jitter spreads each app's refresh over jitterRatio 0.2 × 60 s =
 * 12 s. A wave spread evenly over that window runs at 10,000 / 12 s = 833 fetches/s; allowing
 * 25 % for the per-second noise of random spreading, a good peak is ≤ 1,042/s. (With WeChat's
 * real 7200 s the same rule gives 10,000 / 60 s = 167/s.) Later waves only get wider, as each
 * app's jitter adds up. The startup wave has no jitter to spread it: every app needs a token
 * now, so what bounds it is the scheduler's in-flight limit (64): ≤ 64 / 50 ms = 1,280/s.
 */
const APPS = 10_000;
const EXPIRES_IN_S = 120;
const LATENCY_MS = 50;
const WINDOW_S = 0.2 * Math.min(300, EXPIRES_IN_S / 2);
const GOOD_WAVE_PEAK = Math.round((1.25 * APPS) / WINDOW_S);
const STARTUP_BOUND = Math.round(DEFAULT_MAX_CONCURRENT_FETCHES / (LATENCY_MS / 1000));
const RSS_LIMIT = 300 * 2 ** 20;
const MB = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MB`;
const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const pct = (share: number): string => `${(share * 100).toFixed(0)} %`;

export const scaleScenario: Scenario = {
  name: 'scale',
  title: '10,000 apps on one leader (embedded store): refresh waves, RSS, GetToken throughput',
  run: async (ctx) => {
    pinSelf(LOAD_CORE, true); // simulator and load generator; servers go on SERVER_CORE
    const rig = new ScaleRig(LATENCY_MS);
    try {
      const rows = await wavesPhase(ctx, rig);
      rows.push(...(await throughputPhase(ctx, rig, APPS, row)));
      return rows;
    } finally {
      await rig.close();
      unpinSelf();
    }
  },
};

function row(metric: string, value: string, target?: string, met?: boolean): BenchRow {
  return {
    scenario: 'scale',
    metric,
    value,
    ...(target !== undefined ? { target } : {}),
    ...(met !== undefined ? { met } : {}),
  };
}

/** Startup wave, scheduled waves, RSS, errors and lapses of one 10,000-app leader. */
async function wavesPhase(ctx: BenchContext, rig: ScaleRig): Promise<BenchRow[]> {
  const ids = appIds('wxscaleA', APPS);
  const { sim, url } = await rig.startSim(ids, EXPIRES_IN_S);
  const tally = new UpstreamTally(sim, ids);
  rig.onClose(async () => tally.stop());
  ctx.log(`simulator ${url}: ${APPS} apps, expires_in ${EXPIRES_IN_S} s, ${LATENCY_MS} ms`);
  const server = await rig.startServer('waves', url, ids);
  const rss: { at: number; bytes: number }[] = [];
  const sample = (): number => {
    const bytes = rssBytes(server.proc.pid);
    rss.push({ at: Date.now(), bytes });
    return bytes;
  };
  // A server that dies mid-run makes /proc reads throw: the wave loop below reports it.
  const sampler = setInterval(() => {
    try {
      sample();
    } catch {
      clearInterval(sampler);
    }
  }, 250);
  rig.onClose(async () => clearInterval(sampler));

  // 1. Startup: until WeChat has issued a token to every app.
  let allAt: number | undefined;
  const alive = (): void => {
    const { exitCode, signalCode } = server.proc.proc;
    if (exitCode !== null || signalCode !== null) {
      throw new Error(`wxtoken serve exited (${exitCode ?? signalCode}) during the run`);
    }
  };
  while ((allAt = tally.allServedAt()) === undefined) {
    alive();
    if (Date.now() - server.spawnedAt > 180_000)
      throw new Error('apps still without a token after 180 s');
    await sleep(200);
  }
  const firstAt = tally.firstCallAt()!;
  ctx.log(`all ${APPS} apps have a token ${sec(allAt - server.spawnedAt)} after spawn`);

  // 2. Scheduled waves: two full ones (120 s tokens refresh every ~54 s).
  const wavesMs = ctx.quick ? 75_000 : 130_000;
  const cpuAtStart = cpuSeconds(server.proc.pid);
  let busiest = 0;
  for (let t = 0, cpu = cpuAtStart; t < wavesMs; t += 10_000) {
    const slice = Math.min(10_000, wavesMs - t);
    await sleep(slice);
    alive();
    const used = cpuSeconds(server.proc.pid) - cpu;
    cpu += used;
    busiest = Math.max(busiest, used / (slice / 1000));
    const done = tally.rate(allAt + 1, Date.now()).calls;
    ctx.log(
      `+${sec(Date.now() - allAt)}: ${done} scheduled fetches, RSS ${MB(sample())}, ` +
        `CPU ${pct(used / (slice / 1000))}`,
    );
  }
  const cpuMean = (cpuSeconds(server.proc.pid) - cpuAtStart) / (wavesMs / 1000);
  // RSS is sampled up to here: the sweep and the scrape below are not part of the waves.
  const end = Date.now();
  clearInterval(sampler);
  const sweep = await sweepGetToken(server.grpcAddr, ids);
  const metrics = await scrapeMetrics(server.metricsUrl);
  const exitCode = await terminate(server.proc, STOP_GRACE_MS);
  tally.stop();

  // 3. Figures.
  const startup = tally.rate(firstAt, allAt + 1);
  const scheduled = tally.rate(allAt + 1, end);
  const warm = rss.find((s) => s.at >= allAt + 10_000)?.bytes ?? NaN;
  const peakRss = Math.max(...rss.map((s) => s.bytes));
  const failed = (metrics.refreshesByResult.error ?? 0) + (metrics.refreshesByResult.fenced ?? 0);
  const lapsed = tally.expiredUnserved(EXPIRES_IN_S * 1000, end);
  const missed = tally.missed();
  if (missed !== 0) ctx.log(`warning: ${missed} upstream calls missing from the call log`);
  return [
    row(
      'time until all 10,000 apps have a token',
      `${sec(allAt - server.spawnedAt)} from spawn, ${sec(allAt - firstAt)} from the 1st fetch`,
    ),
    row(
      'upstream peak, startup wave',
      perSecond(startup.peakPerSecond),
      `≤ ${STARTUP_BOUND}/s (${DEFAULT_MAX_CONCURRENT_FETCHES} in flight / ${LATENCY_MS} ms)`,
      startup.peakPerSecond <= STARTUP_BOUND,
    ),
    row(
      'upstream peak, scheduled waves',
      perSecond(scheduled.peakPerSecond),
      `≤ ${GOOD_WAVE_PEAK}/s (1.25 × 10k / ${WINDOW_S} s jitter window)`,
      scheduled.peakPerSecond <= GOOD_WAVE_PEAK,
    ),
    row(
      'upstream mean, scheduled waves',
      `${perSecond(scheduled.meanPerSecond)} over ${sec(end - allAt)}`,
      'context (steady state: 10k per ~54 s cycle = 185/s)',
    ),
    row('scheduled waves: fetches, 1st–99th pct spread, peak', describeWaves(tally.waves())),
    row(
      'serve CPU during scheduled waves (mean; busiest 10 s)',
      `${pct(cpuMean)}; ${pct(busiest)} of a core`,
      'context (near 100 % = waves paced by the server, not by jitter)',
    ),
    row('serve RSS 10 s after all tokens', MB(warm), '< 300 MB', warm < RSS_LIMIT),
    row('serve RSS peak (startup and waves)', MB(peakRss), '< 300 MB', peakRss < RSS_LIMIT),
    row('serve heap used at end', MB(metrics.heapUsedBytes)),
    row(
      'refresh errors (wxtoken metrics; simulator errcodes)',
      `${failed}; ${tally.errors}`,
      '0',
      failed === 0 && tally.errors === 0,
    ),
    row(
      'tokens expired unserved (lapses at WeChat; end sweep failed/dead)',
      `${lapsed}; ${sweep.failed}/${sweep.dead}`,
      '0',
      lapsed === 0 && sweep.failed === 0 && sweep.dead === 0,
    ),
    row(
      'one GET /metrics with 10,000 apps',
      `${(metrics.bytes / 2 ** 20).toFixed(1)} MB, ${metrics.samples} samples, ${sec(metrics.ms)}`,
      'context (rendered on the event loop)',
    ),
    row('serve exit on SIGTERM', String(exitCode), '0', exitCode === 0),
  ];
}

function describeWaves(waves: readonly WaveStats[]): string {
  const parts = waves
    .slice(1)
    .map((w) =>
      w.fetches === APPS
        ? `#${w.index} ${w.fetches} over ${sec(w.spreadMs)}, peak ${w.peakPerSecond}/s`
        : `#${w.index} partial (${w.fetches})`,
    );
  return parts.join('; ') || 'none';
}
