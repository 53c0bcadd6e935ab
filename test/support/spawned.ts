import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';

/**
 * The one way the tests and the benchmarks (bench/) run a child process: output captured,
 * waited on by pattern, stopped by signal, and SIGKILLed if this process exits first.
 */

export interface Spawned {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Everything the process wrote to stdout and stderr so far (see SpawnOptions.keepChars). */
  output(): string;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface SpawnOptions {
  /** Added to this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Run on this CPU core only (`taskset -c`), where canPin(); otherwise unpinned. */
  readonly core?: number | undefined;
  /**
   * Long runs log a lot: past twice this many characters, only the last `keepChars` are kept.
   * Default: all output (tests compare positions in it, e.g. to read what came after a mark).
   */
  readonly keepChars?: number;
}

let pinnable: boolean | undefined;

/** Pinning needs taskset and two cores; without them processes run unpinned. */
export function canPin(): boolean {
  pinnable ??= spawnSync('taskset', ['-V']).status === 0 && cpus().length >= 2;
  return pinnable;
}

/** Children started here and not yet exited: SIGKILLed if this process exits (a failed run). */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Spawns `cmd args` with stdout and stderr captured. */
export function spawnProcess(cmd: string, args: readonly string[], o: SpawnOptions = {}): Spawned {
  const pinned = o.core !== undefined && canPin();
  const proc = spawn(
    pinned ? 'taskset' : cmd,
    pinned ? ['-c', String(o.core), cmd, ...args] : [...args],
    { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  live.add(proc);
  let out = '';
  const keep = o.keepChars ?? Infinity;
  const append = (d: Buffer): void => {
    out += d.toString();
    if (out.length > 2 * keep) out = out.slice(-keep);
  };
  proc.stdout!.on('data', append);
  proc.stderr!.on('data', append);
  // 'close', not 'exit': it fires after stdout and stderr are drained, so output() is complete.
  // A spawn failure (no such command) emits 'error' and then 'close'.
  proc.once('error', (err) => append(Buffer.from(`\n[spawn ${cmd}: ${err.message}]\n`)));
  const closed = new Promise<number | null>((resolve) =>
    proc.once('close', (code) => {
      live.delete(proc);
      resolve(code);
    }),
  );
  return {
    proc,
    get pid(): number {
      // Never a stand-in number: process.kill(-1) would signal every process of the user.
      if (proc.pid === undefined) throw new Error(`${cmd} did not start:\n${out}`);
      return proc.pid;
    },
    output: () => out,
    stop: async (signal = 'SIGTERM') => {
      if (running(proc)) proc.kill(signal);
      return closed;
    },
  };
}

function running(proc: ChildProcess): boolean {
  return proc.exitCode === null && proc.signalCode === null;
}

/** Resolves with the first match of `pattern` in the output; rejects on exit or after `timeoutMs`. */
export async function waitForOutput(
  p: Spawned,
  pattern: RegExp,
  timeoutMs = 20_000,
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = p.output().match(pattern);
    if (m) return m;
    const { exitCode, signalCode } = p.proc;
    if (!running(p.proc)) {
      throw new Error(
        `process exited (${exitCode ?? signalCode}) before printing ${pattern}:\n${tail(p)}`,
      );
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${tail(p)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const tail = (p: Spawned): string => p.output().slice(-8_000);

/** SIGCONT (a stopped process ignores SIGTERM), SIGTERM, then SIGKILL after `graceMs`. */
export async function terminate(p: Spawned, graceMs = 5_000): Promise<number | null> {
  if (!running(p.proc)) return p.proc.exitCode;
  p.proc.kill('SIGCONT');
  const exited = p.stop('SIGTERM');
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}
