import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WeChatSimulator } from '../src/sim/wechat-simulator.js';
import { SERVER_CORE, spawnPinned, wxtokenBin, type Proc } from './procs.js';

/** Env var holding the one AppSecret every bench app shares (no 10,000 inline-secret warnings). */
const SECRET_ENV = 'WXTOKEN_BENCH_SCALE_SECRET';
const SECRET = 'scale-bench-secret-0123456789abcdef';

/** `count` app ids, e.g. wxscaleA00000001. */
export function appIds(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(8, '0')}`);
}

export interface ScaleServer {
  readonly proc: Proc;
  readonly grpcAddr: string;
  readonly metricsUrl: string;
  /** Wall time the process was spawned (ms). */
  readonly spawnedAt: number;
}

/**
 * What the scale scenario starts (simulators, `wxtoken serve` processes, config files), and
 * the one place that stops them: `close()` in the scenario's `finally`, and a process 'exit'
 * and SIGINT/SIGTERM hook that SIGKILLs the servers (and removes the files) if the driver dies
 * before that: an orphaned 10,000-app server would skew every later figure on the machine.
 */
export class ScaleRig {
  readonly #dir = mkdtempSync(join(tmpdir(), 'wxtoken-scale-'));
  readonly #undo: (() => Promise<unknown>)[] = [];
  readonly #procs = new Set<Proc>();
  readonly #kill = (): void => {
    for (const p of this.#procs) p.proc.kill('SIGKILL');
    rmSync(this.#dir, { recursive: true, force: true });
  };
  readonly #onSignal = (signal: NodeJS.Signals): void => {
    this.#kill();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };

  constructor(
    private readonly root: string,
    /** Added before every simulator answer: WeChat takes tens of ms from a data centre. */
    private readonly latencyMs: number,
  ) {
    process.on('exit', this.#kill);
    process.on('SIGINT', this.#onSignal);
    process.on('SIGTERM', this.#onSignal);
  }

  /** An in-process simulator (on the driver's core) serving `apps` with `expiresInSeconds`. */
  async startSim(apps: readonly string[], expiresInSeconds: number) {
    const sim = new WeChatSimulator({
      apps: apps.map((appId) => ({
        appId,
        secret: SECRET,
        expiresInSeconds,
        latencyMs: this.latencyMs,
      })),
    });
    this.#undo.push(() => sim.close());
    const { url } = await sim.listen('127.0.0.1:0');
    return { sim, url };
  }

  /**
   * `wxtoken serve` on the embedded store (no redis.urls) with `apps`, pinned to the server
   * core. Everything else is the documented default (refresh.aheadSeconds 300, jitterRatio
   * 0.2, log level info), so the figures are those of an operator's configuration.
   * `nodeArgs` (e.g. --cpu-prof) are for profiling by hand, not for the benchmark.
   */
  async startServer(
    name: string,
    wechatUrl: string,
    apps: readonly string[],
    nodeArgs: readonly string[] = [],
  ): Promise<ScaleServer> {
    const configPath = join(this.#dir, `${name}.yaml`);
    const lines = [
      'grpc:',
      "  listen: '127.0.0.1:0'",
      'metrics:',
      "  listen: '127.0.0.1:0'",
      'wechat:',
      `  baseUrl: '${wechatUrl}'`,
      'apps:',
      ...apps.map((id) => `  - { appId: ${id}, mode: classic, secretEnv: ${SECRET_ENV} }`),
    ];
    writeFileSync(configPath, `${lines.join('\n')}\n`);
    const spawnedAt = Date.now();
    const proc = spawnPinned(
      SERVER_CORE,
      process.execPath,
      [...nodeArgs, wxtokenBin(this.root), 'serve', '--config', configPath],
      { [SECRET_ENV]: SECRET },
    );
    this.#procs.add(proc);
    proc.proc.once('close', () => this.#procs.delete(proc));
    this.#undo.push(() => stopProc(proc));
    const m = await proc.waitFor(/"grpc":(\d+),"metrics":(\d+)/, 60_000);
    return {
      proc,
      grpcAddr: `127.0.0.1:${m[1]}`,
      metricsUrl: `http://127.0.0.1:${m[2]}/metrics`,
      spawnedAt,
    };
  }

  /** Runs `step` at close (before what was started earlier). */
  onClose(step: () => Promise<unknown>): void {
    this.#undo.push(step);
  }

  /** Stops everything started, newest first, and removes the config files. */
  async close(): Promise<void> {
    for (const step of this.#undo.reverse()) await step().catch(() => undefined);
    this.#undo.length = 0;
    rmSync(this.#dir, { recursive: true, force: true });
    process.off('exit', this.#kill);
    process.off('SIGINT', this.#onSignal);
    process.off('SIGTERM', this.#onSignal);
  }
}

/** SIGTERM, then SIGKILL if the process has not exited within `graceMs`. */
export async function stopProc(proc: Proc, graceMs = 15_000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, graceMs, 'late')));
  try {
    const code = await Promise.race([proc.stop('SIGTERM'), late]);
    return code === 'late' ? await proc.stop('SIGKILL') : code;
  } finally {
    clearTimeout(timer);
  }
}
