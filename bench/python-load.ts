import { join } from 'node:path';
import { spawnProcess, type Spawned } from '../test/support/spawned.js';
import { cpuSeconds, LOAD_CORE } from './procs.js';

/** Debian's interpreter (its python3-grpcio is C-core); never a pyenv one. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export interface PythonLoadOptions {
  /** Root of the package (scripts/bench-loadgen.py lives there). */
  readonly root: string;
  readonly addr: string;
  readonly appId: string;
  /** Generator processes on the load core; the channels are split between them. */
  readonly processes: number;
  /** HTTP/2 connections in all (each its own subchannel). */
  readonly channels: number;
  /** Calls kept in flight per channel. */
  readonly inflight: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Processes whose CPU use during the measurement window is reported (the servers). */
  readonly watch?: readonly number[];
}

export interface PythonLoadResult {
  readonly calls: number;
  readonly errors: number;
  readonly callsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Size of one reply message (to check both servers send the same bytes). */
  readonly replyBytes: number;
  /** CPU the generator processes used in the window, in % of one core. */
  readonly loadCpuPercent: number;
  /** CPU each watched process used in the window, in % of one core (same order as `watch`). */
  readonly watchedCpuPercent: readonly number[];
}

interface GeneratorLine {
  calls: number;
  errors: number;
  reply_bytes: number;
  cpu_s: number;
  hist: Record<string, number>;
}

/**
 * Runs scripts/bench-loadgen.py against `addr`: closed-loop GetToken with
 * channels × inflight calls in flight, in `processes` processes pinned to the load core that
 * share one wall-clock measurement window after a warm-up. Merges their latency histograms.
 */
export async function runPythonLoad(o: PythonLoadOptions): Promise<PythonLoadResult> {
  // Process start-up (~0.3 s per interpreter on a busy core) must end before the window.
  const startAt = Date.now() + 1000 + o.warmupMs;
  const perProcess = splitEvenly(o.channels, o.processes);
  const procs = perProcess.map((channels) =>
    spawnProcess(
      SYSTEM_PYTHON,
      [
        join(o.root, 'scripts', 'bench-loadgen.py'),
        ...['--target', o.addr, '--app-id', o.appId],
        ...['--channels', String(channels), '--inflight', String(o.inflight)],
        ...['--start-at', String(startAt / 1000), '--duration', String(o.durationMs / 1000)],
      ],
      { core: LOAD_CORE },
    ),
  );
  const watch = o.watch ?? [];
  const sampleAt = (at: number): Promise<number[]> =>
    new Promise((resolve) =>
      setTimeout(() => resolve(watch.map(cpuSeconds)), Math.max(0, at - Date.now())),
    );
  const [before, after] = await Promise.all([sampleAt(startAt), sampleAt(startAt + o.durationMs)]);
  const lines = await Promise.all(
    procs.map(async (p) => {
      const code = await exitOf(p, GENERATOR_GRACE_MS);
      const json = p.output().trim().split('\n').pop() ?? '';
      if (code !== 0 || !json.startsWith('{')) {
        throw new Error(`bench-loadgen.py failed (exit ${code}):\n${p.output().slice(-2000)}`);
      }
      return JSON.parse(json) as GeneratorLine;
    }),
  );
  return merge(lines, o.durationMs, before, after);
}

/** How long a generator may take to finish its last calls and report after its window. */
const GENERATOR_GRACE_MS = 15_000;

/** The exit code once `p` exits by itself; killed (and a failure) if it takes over `graceMs`. */
async function exitOf(p: Spawned, graceMs: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => void p.stop('SIGKILL').then(() => resolve(null)), graceMs);
  });
  // stop() only signals a running process; SIGCONT changes nothing for it.
  const code = await Promise.race([p.stop('SIGCONT'), late]);
  clearTimeout(timer);
  return code;
}

function merge(
  lines: readonly GeneratorLine[],
  durationMs: number,
  before: readonly number[],
  after: readonly number[],
): PythonLoadResult {
  const hist = new Map<number, number>();
  for (const l of lines) {
    for (const [bucket, n] of Object.entries(l.hist)) {
      hist.set(Number(bucket), (hist.get(Number(bucket)) ?? 0) + n);
    }
  }
  const calls = sum(lines.map((l) => l.calls));
  const seconds = durationMs / 1000;
  return {
    calls,
    errors: sum(lines.map((l) => l.errors)),
    callsPerSecond: calls / seconds,
    p50Ms: histQuantile(hist, calls, 0.5),
    p99Ms: histQuantile(hist, calls, 0.99),
    replyBytes: Math.max(...lines.map((l) => l.reply_bytes)),
    loadCpuPercent: (100 * sum(lines.map((l) => l.cpu_s))) / seconds,
    watchedCpuPercent: before.map((b, i) => (100 * ((after[i] ?? b) - b)) / seconds),
  };
}

/** The generator's buckets: latency = 1.02 ** bucket microseconds. */
function histQuantile(hist: ReadonlyMap<number, number>, total: number, q: number): number {
  if (total === 0) return NaN;
  const rank = Math.min(total - 1, Math.floor(q * total));
  let seen = 0;
  for (const bucket of [...hist.keys()].sort((a, b) => a - b)) {
    seen += hist.get(bucket)!;
    if (seen > rank) return 1.02 ** bucket / 1000;
  }
  return NaN;
}

function splitEvenly(total: number, parts: number): number[] {
  return Array.from(
    { length: parts },
    (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0),
  ).filter((n) => n > 0);
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
