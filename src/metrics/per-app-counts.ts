import type { Counter } from 'prom-client';

/**
 * Counts of one per-app counter family (e.g. refreshes by app, credential, trigger, result),
 * kept outside prom-client so that only the apps a scrape shows become series
 * (metrics.perAppSeries): a prom-client counter would render every app it ever saw.
 *
 * Label values other than the app are few (kinds, triggers, results), so each distinct set gets
 * an index, shared by every app, and an app costs one small array of counts by index (~70 bytes
 * for three sets, where a Map per app cost ~180: with 100,000 authorizers that is ~10 MB of old
 * generation less to mark). An app's counts go when the app leaves (`forget`): authorizers come
 * and go by the thousand, and counts of departed ones must not pile up.
 */
export class PerAppCounts<L extends string> {
  /** Per app: count by label-set index; a count of 0 is "never counted". */
  readonly #byApp = new Map<string, number[]>();
  /** Joined label values -> index into #labelSets. */
  readonly #index = new Map<string, number>();
  /** The label objects (without app), shared by every app. */
  readonly #labelSets: Readonly<Record<L, string>>[] = [];

  constructor(private readonly labelNames: readonly L[]) {}

  add(app: string, labels: Readonly<Record<L, string>>, n = 1): void {
    const i = this.#indexOf(labels);
    let counts = this.#byApp.get(app);
    if (!counts || counts.length <= i) {
      // Exactly as long as needed: a pushed-to array would reserve 17 slots.
      const grown = new Array<number>(i + 1).fill(0);
      counts?.forEach((c, j) => (grown[j] = c));
      counts = grown;
      this.#byApp.set(app, counts);
    }
    counts[i]! += n;
  }

  /** Drops everything counted for `app` (it left). */
  forget(app: string): void {
    this.#byApp.delete(app);
  }

  /** Apps with counts (for tests and bounds checks). */
  get size(): number {
    return this.#byApp.size;
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
    for (const app of apps) {
      const counts = this.#byApp.get(app);
      for (const i of zeroIndexes) {
        if (!counts?.[i]) counter.inc({ app, ...this.#labelSets[i]! }, 0);
      }
      counts?.forEach((n, i) => {
        if (n > 0) counter.inc({ app, ...this.#labelSets[i]! }, n);
      });
    }
  }

  #indexOf(labels: Readonly<Record<L, string>>): number {
    const key = this.labelNames.map((l) => labels[l]).join('\u0000');
    let i = this.#index.get(key);
    if (i === undefined) {
      i = this.#labelSets.push({ ...labels }) - 1;
      this.#index.set(key, i);
    }
    return i;
  }
}
