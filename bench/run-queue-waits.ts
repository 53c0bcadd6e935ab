import { readdirSync, readFileSync } from 'node:fs';

/**
 * How long a process's threads waited for a core, from Linux's per-thread scheduler statistics
 * (`/proc/<pid>/task/<tid>/schedstat`: ns on a CPU, ns runnable but waiting on a run queue,
 * time slices). The kernel adds a wait when it ends, so a thread's wait grows in one step per
 * wait: sampled every `everyMs`, a step well over `everyMs` is one long wait (or a few close
 * together). An event-loop stall in which the main thread, or the V8 helper the main thread
 * joined in a parallel collection, waited tens of ms for a core is the machine's contention
 * (here: the server, V8's helpers and the simulator on two cores), not work the server did.
 */
export interface WaitStep {
  /** Wall-clock ms (Date.now()) of the sample that saw the step. */
  readonly at: number;
  readonly ms: number;
  /** The step was the main thread's (the event loop's own), not a helper's. */
  readonly main: boolean;
}

export interface WaitSummary {
  /** The largest step of the main thread in the span, ms. */
  readonly mainMs: number;
  /** The largest step of any other thread (V8's helpers, libuv's pool), ms. */
  readonly helperMs: number;
  /** The main thread's waits in the span added up, ms. */
  readonly mainTotalMs: number;
}

/** Parses a schedstat line: the ns waited on a run queue (second field). */
export function runDelayNs(schedstat: string): number | undefined {
  const fields = schedstat.trim().split(/\s+/);
  const delay = Number(fields[1]);
  return fields.length >= 3 && Number.isFinite(delay) ? delay : undefined;
}

/** Steps of at least this many ms are kept; smaller ones are only counted in the main total. */
const KEEP_STEP_MS = 5;

export class RunQueueWaits {
  readonly #pid: number;
  readonly #last = new Map<number, number>();
  readonly #steps: WaitStep[] = [];
  /** [at, main thread's wait so far in ns]: for the main thread's total in any span. */
  readonly #mainTotals: [number, number][] = [];
  #timer: NodeJS.Timeout | undefined;
  #tids: number[] = [];
  #tidsAt = 0;

  private constructor(pid: number) {
    this.#pid = pid;
  }

  /** Throws when the kernel has no per-thread schedstat (CONFIG_SCHED_INFO) or `pid` is gone. */
  static start(pid: number, everyMs = 20): RunQueueWaits {
    const path = `/proc/${pid}/task/${pid}/schedstat`;
    let line: string;
    try {
      line = readFileSync(path, 'utf8');
    } catch (err) {
      throw new Error(`run-queue waits need ${path} (Linux with CONFIG_SCHED_INFO)`, {
        cause: err,
      });
    }
    if (runDelayNs(line) === undefined) throw new Error(`${path} is not schedstat: ${line}`);
    const waits = new RunQueueWaits(pid);
    waits.#sample();
    waits.#timer = setInterval(() => waits.#sample(), everyMs);
    return waits;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** The waits that ended within [from, to) (wall-clock ms). */
  between(from: number, to: number): WaitSummary {
    let mainMs = 0;
    let helperMs = 0;
    for (const s of this.#steps) {
      if (s.at < from || s.at >= to) continue;
      if (s.main) mainMs = Math.max(mainMs, s.ms);
      else helperMs = Math.max(helperMs, s.ms);
    }
    const inSpan = this.#mainTotals.filter(([at]) => at >= from && at < to);
    const mainTotalMs = inSpan.length > 1 ? (inSpan.at(-1)![1] - inSpan[0]![1]) / 1e6 : 0;
    return { mainMs, helperMs, mainTotalMs };
  }

  #sample(): void {
    const now = Date.now();
    // Threads come and go (libuv's pool starts on first use): list them again every second.
    if (now - this.#tidsAt > 1000) {
      try {
        this.#tids = readdirSync(`/proc/${this.#pid}/task`).map(Number);
      } catch {
        this.stop(); // the process is gone
        return;
      }
      this.#tidsAt = now;
    }
    for (const tid of this.#tids) {
      let delay: number | undefined;
      try {
        delay = runDelayNs(readFileSync(`/proc/${this.#pid}/task/${tid}/schedstat`, 'utf8'));
      } catch {
        continue; // the thread ended since the listing
      }
      if (delay === undefined) continue;
      const main = tid === this.#pid;
      if (main) this.#mainTotals.push([now, delay]);
      const last = this.#last.get(tid);
      this.#last.set(tid, delay);
      if (last === undefined) continue;
      const ms = (delay - last) / 1e6;
      if (ms >= KEEP_STEP_MS) this.#steps.push({ at: now, ms, main });
    }
  }
}
