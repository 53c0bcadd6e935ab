import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WeChatSimulator } from '../src/sim/wechat-simulator.js';
import { spawnCli } from '../test/support/processes.js';
import { terminate, type Spawned } from '../test/support/spawned.js';
import { KEEP_OUTPUT_CHARS, SERVER_CORE } from './procs.js';

/** Env var holding the one AppSecret every bench app shares (no 10,000 inline-secret warnings). */
const SECRET_ENV = 'WXTOKEN_BENCH_SCALE_SECRET';
const SECRET = 'scale-bench-secret-0123456789abcdef';
/** A 10,000-app server may take a while to stop; SIGKILL after this. */
export const STOP_GRACE_MS = 15_000;

/** `count` app ids, e.g. wxscaleA00000001. */
export function appIds(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(8, '0')}`);
}

/**
 * Where the scale scenario's apps come from: the config lines that declare them to wxtoken, and
 * the simulator that serves them upstream. Classic config apps today; a third-party platform's
 * authorizers (one component, apps joining at run time) plug in here with the same rows.
 */
export interface ScaleAppSource {
  /** For row labels: "classic apps". */
  readonly noun: string;
  /** The in-process simulator (on the driver's core) serving `apps` with `expiresInSeconds`. */
  startSim(
    apps: readonly string[],
    expiresInSeconds: number,
    latencyMs: number,
  ): Promise<{ sim: WeChatSimulator; url: string }>;
  /** YAML lines of the config after `wechat:` (e.g. the `apps:` list), and the env they need. */
  config(apps: readonly string[]): { lines: string[]; env: Record<string, string> };
}

/** `apps:` in the config file, one classic app each, one shared AppSecret from the environment. */
export const classicApps: ScaleAppSource = {
  noun: 'classic apps',
  async startSim(apps, expiresInSeconds, latencyMs) {
    const sim = new WeChatSimulator({
      apps: apps.map((appId) => ({ appId, secret: SECRET, expiresInSeconds, latencyMs })),
    });
    const { url } = await sim.listen('127.0.0.1:0');
    return { sim, url };
  },
  config: (apps) => ({
    lines: [
      'apps:',
      ...apps.map((id) => `  - { appId: ${id}, mode: classic, secretEnv: ${SECRET_ENV} }`),
    ],
    env: { [SECRET_ENV]: SECRET },
  }),
};

export interface ScaleServer {
  readonly proc: Spawned;
  readonly grpcAddr: string;
  readonly metricsUrl: string;
  /** Wall time the process was spawned (ms). */
  readonly spawnedAt: number;
}

/**
 * What the scale scenario starts (simulators, `wxtoken serve` processes, config files), and
 * the one place that stops them: `close()` in the scenario's `finally`. If the driver dies
 * before that, test/support's harness SIGKILLs the servers on its way out (run.ts turns
 * SIGINT/SIGTERM into an exit) and an 'exit' hook removes the files: an orphaned 10,000-app
 * server would skew every later figure on the machine.
 */
export class ScaleRig {
  readonly #dir = mkdtempSync(join(tmpdir(), 'wxtoken-scale-'));
  readonly #undo: (() => Promise<unknown>)[] = [];
  readonly #removeDir = (): void => rmSync(this.#dir, { recursive: true, force: true });

  constructor(
    /** Added before every simulator answer: WeChat takes tens of ms from a data centre. */
    private readonly latencyMs: number,
    readonly source: ScaleAppSource = classicApps,
  ) {
    process.on('exit', this.#removeDir);
  }

  /** The simulator serving `apps` (stopped by close(), or earlier by the returned stop()). */
  async startSim(apps: readonly string[], expiresInSeconds: number) {
    const { sim, url } = await this.source.startSim(apps, expiresInSeconds, this.latencyMs);
    let closed: Promise<void> | undefined;
    const stop = (): Promise<void> => (closed ??= sim.close());
    this.#undo.push(stop);
    return { sim, url, stop };
  }

  /**
   * `wxtoken serve` on the embedded store (no redis.urls) with `apps`, pinned to the server
   * core. Everything else is the documented default (refresh.aheadSeconds 300, jitterRatio
   * 0.2, log level info), so the figures are those of an operator's configuration.
   * `nodeArgs` come after the launchers' flags: a trace the bench reads (--trace-gc), or a
   * profiler by hand (--cpu-prof).
   */
  async startServer(
    name: string,
    wechatUrl: string,
    apps: readonly string[],
    nodeArgs: readonly string[] = [],
  ): Promise<ScaleServer> {
    const configPath = join(this.#dir, `${name}.yaml`);
    const appConfig = this.source.config(apps);
    const lines = [
      'grpc:',
      "  listen: '127.0.0.1:0'",
      'metrics:',
      "  listen: '127.0.0.1:0'",
      'wechat:',
      `  baseUrl: '${wechatUrl}'`,
      ...appConfig.lines,
    ];
    writeFileSync(configPath, `${lines.join('\n')}\n`);
    const spawnedAt = Date.now();
    const proc = spawnCli(['serve', '--config', configPath], appConfig.env, {
      core: SERVER_CORE,
      nodeArgs,
      keepChars: KEEP_OUTPUT_CHARS,
    });
    this.#undo.push(() => terminate(proc, STOP_GRACE_MS));
    const m = await portsLine(proc, 120_000);
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
    this.#removeDir();
    process.off('exit', this.#removeDir);
  }
}

/**
 * The ports of the "wxtoken serving" line, read off stdout as it streams: a large server logs
 * its startup refreshes faster than a busy driver polls the kept output, which would drop the
 * line before anyone read it.
 */
function portsLine(p: Spawned, timeoutMs: number): Promise<RegExpMatchArray> {
  const pattern = /"grpc":(\d+),"gateway":(?:\d+|null),"metrics":(\d+)/;
  return new Promise((resolve, reject) => {
    let carry = '';
    const done = (fn: () => void): void => {
      clearTimeout(timer);
      p.proc.stdout!.off('data', onData);
      p.proc.off('exit', onExit);
      fn();
    };
    const onData = (d: Buffer): void => {
      const text = carry + d.toString();
      const m = pattern.exec(text);
      if (m) done(() => resolve(m));
      else carry = text.slice(-200);
    };
    const onExit = (): void =>
      done(() =>
        reject(new Error(`wxtoken serve exited before serving:\n${p.output().slice(-4000)}`)),
      );
    const timer = setTimeout(
      () => done(() => reject(new Error(`wxtoken serve not serving after ${timeoutMs} ms`))),
      timeoutMs,
    );
    p.proc.stdout!.on('data', onData);
    p.proc.once('exit', onExit);
  });
}
