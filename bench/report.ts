/**
 * What every benchmark scenario reports: rows of figures, each with the issue's target when
 * there is one. Targets are goals, never assertions: a missed one is printed as missed.
 */
import { wrapMarkdown } from './wrap-markdown.js';

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

/**
 * All rows as markdown with lines of at most 120 characters (issue 17: the wide table this
 * replaced had rows of 300 characters): per scenario a heading, then one list item per row,
 * `- metric: value — target X: met` (or `**missed**`; a target with no mark is context).
 * The same text goes to the terminal and to docs/benchmarks.md.
 */
export function renderReport(rows: readonly BenchRow[]): string {
  const sections: string[] = [];
  let scenario: string | undefined;
  let items: string[] = [];
  const close = (): void => {
    if (scenario !== undefined) sections.push(`### ${scenario}\n\n${items.join('\n')}`);
  };
  for (const r of rows) {
    if (r.scenario !== scenario) {
      close();
      scenario = r.scenario;
      items = [];
    }
    items.push(wrapMarkdown(renderRow(r), '- ', '  '));
  }
  close();
  return sections.join('\n\n');
}

/** One row as the text of a list item. */
export function renderRow(r: BenchRow): string {
  const mark = r.met === undefined ? '' : r.met ? 'met' : '**missed**';
  const target = r.target ? (mark ? `target ${r.target}: ${mark}` : r.target) : mark;
  return `${r.metric}: ${r.value}${target ? ` — ${target}` : ''}`;
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
