import { appendFileSync } from 'node:fs';
import type { ScaleServer } from './scale-rig.js';

/** One collection as V8's `--trace-gc` reports it, at the isolate's age (ms since it started). */
export interface GcEvent {
  readonly atMs: number;
  readonly major: boolean;
  /** The pause on the main thread (the atomic part; concurrent marking is not in it). */
  readonly pauseMs: number;
  /** The heap's used size before and after it (`--trace-gc` lines only; nvp lines omit it). */
  readonly heapMb?: { readonly before: number; readonly after: number };
}

// `[pid:0x...]   21539 ms: Mark-Compact 27.1 (58.1) -> 6.4 (49.1) MB, 12.31 / 0.00 ms ...`
const PLAIN =
  /\s(\d+) ms: (Scavenge|Minor Mark-Sweep|Mark-Compact(?: \(reduce\))?) ([\d.]+) \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB, ([\d.]+) \//;
// `--trace-gc-nvp`: `[pid:0x...]   21539 ms: pause=12.3 mutator=... gc=mc ...`
const NVP = /\s(\d+) ms: pause=([\d.]+) .*?\bgc=(\w+)/;

export function parseGcLine(line: string): GcEvent | undefined {
  const plain = PLAIN.exec(line);
  if (plain) {
    return {
      atMs: Number(plain[1]),
      major: plain[2]!.startsWith('Mark-Compact'),
      pauseMs: Number(plain[5]),
      heapMb: { before: Number(plain[3]), after: Number(plain[4]) },
    };
  }
  const nvp = NVP.exec(line);
  if (nvp) return { atMs: Number(nvp[1]), major: nvp[3] === 'mc', pauseMs: Number(nvp[2]) };
  return undefined;
}

/**
 * The collections of a `wxtoken serve` started with `--trace-gc`, read off its stdout (log lines
 * are JSON; V8's trace lines are not). With `file`, the trace lines are also appended there, for
 * a look by hand. The isolate's clock starts a few ms after the spawn, so `atMs` is the server's
 * age to within that.
 */
export class GcTrace {
  readonly #events: GcEvent[] = [];
  readonly #growth: { percent: number; oldGenerationMb: number }[] = [];

  constructor(server: ScaleServer, file?: string) {
    let carry = '';
    server.proc.proc.stdout!.on('data', (d: Buffer) => {
      const lines = (carry + d.toString()).split('\n');
      carry = lines.pop()!;
      for (const line of lines) {
        // serve's own log line when it bounds the heap's growth (src/cli/heap-growth.ts).
        if (!line.startsWith('{') || !line.includes('"heap growth set"')) continue;
        const f = JSON.parse(line) as { heapGrowingPercent: number; oldGenerationMb: number };
        this.#growth.push({ percent: f.heapGrowingPercent, oldGenerationMb: f.oldGenerationMb });
      }
      const trace = lines.filter((l) => !l.startsWith('{'));
      for (const line of trace) {
        const event = parseGcLine(line);
        if (event) this.#events.push(event);
      }
      if (file && trace.length) appendFileSync(file, trace.join('\n') + '\n');
    });
  }

  /** Each --heap-growing-percent serve set, in order (none: the launchers' value held). */
  growth(): readonly { percent: number; oldGenerationMb: number }[] {
    return this.#growth;
  }

  /** Major collections that ended within [fromMs, toMs) of the server's age. */
  majorsBetween(fromMs: number, toMs: number): GcEvent[] {
    return this.#events.filter((e) => e.major && e.atMs >= fromMs && e.atMs < toMs);
  }

  /** Every collection that ended within [fromMs, toMs) of the server's age. */
  between(fromMs: number, toMs: number): GcEvent[] {
    return this.#events.filter((e) => e.atMs >= fromMs && e.atMs < toMs);
  }

  /**
   * What young collections within [fromMs, toMs) left in the heap beyond what the collection
   * before each left (MB): the garbage and survivors promoted to the old generation, plus
   * whatever was allocated there directly. A major collection resets the base.
   */
  promotedMb(fromMs: number, toMs: number): number {
    let total = 0;
    let base: number | undefined;
    for (const e of this.#events) {
      if (!e.heapMb) continue;
      if (e.atMs >= fromMs && e.atMs < toMs && !e.major && base !== undefined) {
        total += Math.max(0, e.heapMb.after - base);
      }
      base = e.heapMb.after;
    }
    return total;
  }
}
