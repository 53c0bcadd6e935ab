/**
 * What every benchmark scenario reports: rows of figures, each with the issue's target when
 * there is one. Targets are goals, never assertions: a missed one is printed as missed.
 */
export interface BenchRow {
  /** Scenario name, e.g. "hotpath". */
  readonly scenario: string;
  /** What was measured, e.g. "wxtoken calls/s". */
  readonly metric: string;
  /** The figure, already formatted with its unit ("10.4k calls/s", "12.3 ms"). */
  readonly value: string;
  /** The goal in words ("≥ 0.95 × echo"); empty when the row is context. */
  readonly target?: string;
  /** Whether the target was met; undefined for context rows. */
  readonly met?: boolean;
}

export interface BenchContext {
  /** Root of the built package (where bin/ and dist/ are). */
  readonly root: string;
  /** Scale factor from BENCH_QUICK=1 (short runs for trying the harness): 1 normally. */
  readonly quick: boolean;
  /** Progress lines go here (stderr), figures go into rows. */
  log(line: string): void;
}

export interface Scenario {
  readonly name: string;
  readonly title: string;
  run(ctx: BenchContext): Promise<BenchRow[]>;
}

/** A markdown table of all rows (the same text goes to the terminal and to docs/benchmarks.md). */
export function renderTable(rows: readonly BenchRow[]): string {
  const header = '| scenario | metric | value | target | met |\n| --- | --- | --- | --- | --- |';
  const lines = rows.map(
    (r) =>
      `| ${r.scenario} | ${r.metric} | ${r.value} | ${r.target ?? ''} | ${
        r.met === undefined ? '' : r.met ? 'yes' : '**no**'
      } |`,
  );
  return [header, ...lines].join('\n');
}

/** Latency quantiles of a sample set, in the sample's unit. */
export function quantiles(samples: readonly number[]): { p50: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return { p50: q(0.5), p99: q(0.99), max: s[s.length - 1] ?? NaN };
}

export const ms = (v: number): string => `${v.toFixed(v < 10 ? 2 : 1)} ms`;
export const perSecond = (v: number, unit = 'calls/s'): string =>
  `${v >= 1000 ? `${(v / 1000).toFixed(2)}k` : v.toFixed(1)} ${unit}`;
