import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, setPriority } from 'node:os';
import { canPin } from '../test/support/spawned.js';

/**
 * What only the benchmarks need around the processes they start: which core runs what, and
 * what a process costs (CPU, memory). Starting, waiting for and stopping processes, Redis and
 * the simulator is test/support's (spawned.ts, processes.ts, redis-server.ts), shared with the
 * tests.
 */

/** Core for the process under test; load generators and helpers go on the other one. */
export const SERVER_CORE = 0;
export const LOAD_CORE = 1;

/** Long runs log a lot: the children a benchmark starts keep the last 1 MB of their output. */
export const KEEP_OUTPUT_CHARS = 1_000_000;

/** User + system CPU seconds the process has used so far (Linux /proc). */
export function cpuSeconds(pid: number): number {
  return statCpu(`/proc/${pid}/stat`);
}

/**
 * CPU seconds of the process's main thread alone (JavaScript, scavenges, atomic pauses): what
 * is left when V8's helper threads (concurrent marking and sweeping) and libuv's pool are out.
 */
export function mainThreadCpuSeconds(pid: number): number {
  return statCpu(`/proc/${pid}/task/${pid}/stat`);
}

/**
 * User and system CPU seconds of each of the process's threads, summed by thread name (`comm`;
 * the main thread as `main`): where a process's CPU went, e.g. over a phase of a benchmark.
 */
export function cpuSecondsByThread(pid: number): Map<string, { user: number; sys: number }> {
  const byName = new Map<string, { user: number; sys: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name =
        tid === String(pid) ? 'main' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const fields = statFields(`/proc/${pid}/task/${tid}/stat`);
      const got = byName.get(name) ?? { user: 0, sys: 0 };
      got.user += Number(fields[11]) / 100;
      got.sys += Number(fields[12]) / 100;
      byName.set(name, got);
    } catch {
      // The thread ended between the listing and the read: its CPU is gone with it.
    }
  }
  return byName;
}

/** Minor page faults of the process so far (pages the kernel mapped, e.g. zeroed, on first touch). */
export function minorFaults(pid: number): number {
  return Number(statFields(`/proc/${pid}/stat`)[7]);
}

function statFields(path: string): string[] {
  const stat = readFileSync(path, 'utf8');
  // Fields after the command name (which may contain spaces) start at index 2.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function statCpu(path: string): number {
  const fields = statFields(path);
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
  if (canPin()) spawnSync('taskset', [...all, '-pc', String(core), String(process.pid)]);
}

/** Undoes pinSelf: lets every thread of the bench driver run on all cores again. */
export function unpinSelf(): void {
  unpin(process.pid);
}

/** Lets every thread of process `pid` run on all cores (a server started pinned). */
export function unpin(pid: number): void {
  if (canPin()) spawnSync('taskset', ['-a', '-pc', `0-${cpus().length - 1}`, String(pid)]);
}

/**
 * Sets the nice value of every thread of this process (Linux's setpriority takes a thread id;
 * a process-wide call would change the main thread alone). Raising it back needs root.
 */
export function niceSelf(nice: number): void {
  for (const tid of readdirSync('/proc/self/task')) setPriority(Number(tid), nice);
}
