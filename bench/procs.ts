import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';

/** Pinning needs taskset and two cores; without them processes run unpinned (and say so). */
export const canPin = spawnSync('taskset', ['-V']).status === 0 && cpus().length >= 2;

/** Core for the process under test; load generators and helpers go on the other one. */
export const SERVER_CORE = 0;
export const LOAD_CORE = 1;

export interface Proc {
  readonly proc: ChildProcess;
  readonly pid: number;
  output(): string;
  /** Resolves with the first match of `pattern` in the output (rejects on exit or timeout). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Spawns `cmd args` pinned to `core` (when pinning is possible), capturing stdout and stderr. */
export function spawnPinned(
  core: number | undefined,
  cmd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Proc {
  const [file, argv] =
    canPin && core !== undefined
      ? ['taskset', ['-c', String(core), cmd, ...args]]
      : [cmd, [...args]];
  const proc = spawn(file, argv, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out = keepTail(out + d.toString())));
  proc.stderr!.on('data', (d: Buffer) => (out = keepTail(out + d.toString())));
  const closed = new Promise<number | null>((resolve) => proc.once('close', (c) => resolve(c)));
  return {
    proc,
    pid: proc.pid!,
    output: () => out,
    waitFor: async (pattern, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = out.match(pattern);
        if (m) return m;
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new Error(`${cmd} exited before printing ${pattern}:\n${out.slice(-4000)}`);
        }
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${pattern}:\n${out.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return closed;
    },
  };
}

/** Long runs log a lot: keep the last 1 MB of output, enough for any pattern we wait for. */
function keepTail(s: string): string {
  return s.length > 2_000_000 ? s.slice(-1_000_000) : s;
}

/** The built CLI (`npm run bench` builds first). */
export function wxtokenBin(root: string): string {
  return join(root, 'bin', 'wxtoken.js');
}

/** User + system CPU seconds the process has used so far (Linux /proc). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at index 2.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Resident set size in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : NaN;
}

/**
 * Pins the calling process (the bench driver) to `core`; with `allThreads`, its V8 and libuv
 * threads too (taskset -a), so none of them runs on the server's core.
 */
export function pinSelf(core: number, allThreads = false): void {
  const all = allThreads ? ['-a'] : [];
  if (canPin) spawnSync('taskset', [...all, '-pc', String(core), String(process.pid)]);
}

/** Undoes pinSelf: lets every thread of the bench driver run on all cores again. */
export function unpinSelf(): void {
  if (canPin) spawnSync('taskset', ['-a', '-pc', `0-${cpus().length - 1}`, String(process.pid)]);
}

/** A free loopback TCP port (bind to 0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port')),
      );
    });
  });
}
