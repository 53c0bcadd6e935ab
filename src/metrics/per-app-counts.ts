import type { Counter } from 'prom-client';

/**
 * Counts of one per-app counter family (e.g. refreshes by app, credential, trigger, result),
 * kept outside prom-client so that only the apps a scrape shows become series
 * (metrics.perAppSeries): a prom-client counter would render every app it ever saw.
 *
 * Label values other than the app are few (kinds, triggers, results), so each distinct set gets
 * an index, shared by every app, and a column: a map from app to its count for that set. An app
 * then costs a map entry per set it was counted in and no object of its own (a Map per app cost
 * ~180 bytes; an array of counts per app, two heap objects: with 100,000 authorizers, 200,000
 * objects for every major GC to mark). An app's counts go when the app leaves (`forget`):
 * authorizers come and go by the thousand, and counts of departed ones must not pile up.
 */
export class PerAppCounts<L extends string> {
  /** By label-set index: app -> count (absent: never counted). */
  readonly #columns: Map<string, number>[] = [];
  /** Joined label values -> index into #labelSets. */
  readonly #index = new Map<string, number>();
  /** The label objects (without app), shared by every app. */
  readonly #labelSets: Readonly<Record<L, string>>[] = [];

  constructor(private readonly labelNames: readonly L[]) {}

  add(app: string, labels: Readonly<Record<L, string>>, n = 1): void {
    const column = this.#columns[this.#indexOf(labels)]!;
    column.set(app, (column.get(app) ?? 0) + n);
  }

  /** Drops everything counted for `app` (it left). */
  forget(app: string): void {
    for (const column of this.#columns) column.delete(app);
  }

  /** Apps with counts (for tests and bounds checks). */
  get size(): number {
    const apps = new Set<string>();
    for (const column of this.#columns) for (const app of column.keys()) apps.add(app);
    return apps.size;
  }

  /**
   * Rewrites `counter` with the counts of `apps` only. `zeros` are label sets every shown app
   * carries even before its first event, so increase() sees the first one (0 -> 1).
   */
  expose(
    counter: Counter<L | 'app'>,
    apps: Iterable<string>,
    zeros: readonly Readonly<Record<L, string>>[] = [],
  ): void {
    counter.reset();
    const zeroIndexes = zeros.map((z) => this.#indexOf(z));
    const columns = this.#columns;
    for (const app of apps) {
      for (const i of zeroIndexes) {
        if (!columns[i]!.get(app)) counter.inc({ app, ...this.#labelSets[i]! }, 0);
      }
      for (let i = 0; i < columns.length; i++) {
        const n = columns[i]!.get(app);
        if (n !== undefined && n > 0) counter.inc({ app, ...this.#labelSets[i]! }, n);
      }
    }
  }

  #indexOf(labels: Readonly<Record<L, string>>): number {
    const key = this.labelNames.map((l) => labels[l]).join('\u0000');
    let i = this.#index.get(key);
    if (i === undefined) {
      i = this.#labelSets.push({ ...labels }) - 1;
      this.#columns.push(new Map());
      this.#index.set(key, i);
    }
    return i;
  }
}
