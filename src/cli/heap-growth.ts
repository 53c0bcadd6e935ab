import { constants, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

const MB = 1024 * 1024;
const MAJOR = constants.NODE_PERFORMANCE_GC_MAJOR;

/**
 * How much garbage `wxtoken serve` lets pile up in the old generation between two full
 * collections. The launchers' --heap-growing-percent=80 (node-flags.ts) lets it grow by 80 % of
 * what survived the last one: ~20 MB for a server of a few apps, ~100 MB for a leader of 100,000
 * authorizers (~120 MB live). Every GetToken leaves old-generation garbage that only a full
 * collection frees (Node's HTTP/2 binding makes each request header value an external string,
 * which V8 always allocates old, with a malloc'd resource beside it), and the more of it is
 * waiting, the dearer every call: fresh heap and malloc pages to fault in, a larger external
 * string table, a fragmented malloc heap. Measured in alternating rounds on one machine: a
 * 1-app server carrying ~150 MB of inert live data paid 1.20-1.25 times the CPU per call of one
 * without at 80 %, 1.00-1.03 at 25 %; 100,000-authorizer leaders against a 1-app server paid
 * 1.13 and 1.16 at 80 %, 1.07 and 1.05 at 25 %, 1.16 at 12 % (its full collections, each marking
 * the whole heap, then come too often), with pauses of ~125 ms under load instead of ~350-490.
 * Full benchmark runs since (docs/benchmarks.md, tenth session): ratios 1.11-1.18, within the
 * noise of the runs before; resident memory at its peak 338-350 MB instead of ~490, pauses
 * 105-250 ms. So the growth is bounded in bytes, not in proportion: after each full collection
 * the percent is set so that the next limit is about budgetBytes above what survived, between
 * minPercent and maxPercent (HEAP_GROWTH_POLICY). A small heap keeps 80 %; the floor keeps a
 * very large heap (whose every full collection marks all of it) from collecting too often.
 *
 * The budget was 32 MB until GetToken stopped reading records (the encoded replies, twelfth
 * session): a leader's full collection then cost ~400 ms of CPU (--trace-gc-nvp: ~250 ms marking
 * ~120 MB, ~115 ms moving objects, ~38 ms freeing the external strings) against ~130 ms for a
 * 1-app server's, and came every ~100,000 calls: ~4 µs a call. In alternating rounds 50 % (~60
 * MB) paid 0.95 and 0.97 times the CPU per call of 26 %, and no more page faults. Full runs at
 * 64 MB (1.105, then 1.158, 0.981 and 1.132 with huge pages) stay within the noise of the runs
 * before (1.12-1.19); what they do show is half as many full collections. The cost: pauses under
 * sustained load of ~190-330 ms instead of ~105-180, and ~60-70 MB more resident memory.
 */
export interface HeapGrowthPolicy {
  /** Old-generation bytes allowed to pile up before the next full collection. */
  readonly budgetBytes: number;
  readonly minPercent: number;
  /** The launchers' --heap-growing-percent: a small heap grows as it always did. */
  readonly maxPercent: number;
  /** A change smaller than this is not made (no flapping around a boundary). */
  readonly hysteresisPercent: number;
}

export const HEAP_GROWTH_POLICY: HeapGrowthPolicy = {
  budgetBytes: 64 * MB,
  minPercent: 20,
  maxPercent: 80,
  hysteresisPercent: 5,
};

/** The percent for an old generation of `liveBytes` after a full collection. */
export function growingPercent(liveBytes: number, policy = HEAP_GROWTH_POLICY): number {
  if (!(liveBytes > 0)) return policy.maxPercent;
  const percent = Math.floor((100 * policy.budgetBytes) / liveBytes);
  return Math.min(policy.maxPercent, Math.max(policy.minPercent, percent));
}

/**
 * Whether serve may set --heap-growing-percent: not when the operator gave a value of their own
 * (the last one on the command line wins, as in V8).
 */
export function governsHeapGrowth(
  execArgv: readonly string[] = process.execArgv,
  policy = HEAP_GROWTH_POLICY,
): boolean {
  let given: string | undefined;
  for (const arg of execArgv) {
    const m = /^--heap[-_]growing[-_]percent=(.*)$/.exec(arg);
    if (m) given = m[1];
  }
  return given === undefined || given === String(policy.maxPercent);
}

/** The old generation's size (every space but the young ones): what V8 sizes its limit from. */
export function oldGenerationBytes(): number {
  let used = 0;
  for (const space of v8.getHeapSpaceStatistics()) {
    if (!space.space_name.startsWith('new_')) used += space.space_used_size;
  }
  return used;
}

/**
 * Sets --heap-growing-percent after every full collection from what survived it. V8 reads the
 * flag each time it computes the next limit (at the end of a full collection), so a value set
 * now shapes the cycle after the next one. `onChange` hears each new value. Returns stop().
 */
export function boundHeapGrowth(
  onChange: (percent: number, liveBytes: number) => void = () => undefined,
  policy = HEAP_GROWTH_POLICY,
): () => void {
  let current = policy.maxPercent;
  const apply = (percent: number, live: number): void => {
    current = percent;
    v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
    onChange(percent, live);
  };
  const observer = new PerformanceObserver((list) => {
    const major = list
      .getEntries()
      .some((e) => (e as { detail?: { kind?: number } }).detail?.kind === MAJOR);
    if (!major) return;
    const live = oldGenerationBytes();
    const percent = growingPercent(live, policy);
    if (Math.abs(percent - current) >= policy.hysteresisPercent) apply(percent, live);
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
