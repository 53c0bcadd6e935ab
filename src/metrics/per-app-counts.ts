import type { Counter } from 'prom-client';

/**
 * Counts of one per-app counter family (e.g. refreshes by app, credential, trigger, result),
 * kept outside prom-client so that only the apps a scrape shows become series
 * (metrics.perAppSeries): a prom-client counter would render every app it ever saw. Label
 * values other than the app are few (kinds, triggers, results): their label objects are
 * shared, so an app costs one small map.
 */
export class PerAppCounts<L extends string> {
  readonly #byApp = new Map<string, Map<string, number>>();
  /** Joined label values -> the label object (without app), shared by every app. */
  readonly #labels = new Map<string, Readonly<Record<L, string>>>();

  constructor(private readonly labelNames: readonly L[]) {}

  add(app: string, labels: Readonly<Record<L, string>>, n = 1): void {
    const key = this.#key(labels);
    let counts = this.#byApp.get(app);
    if (!counts) this.#byApp.set(app, (counts = new Map()));
    counts.set(key, (counts.get(key) ?? 0) + n);
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
    const zeroKeys = zeros.map((z) => this.#key(z));
    for (const app of apps) {
      const counts = this.#byApp.get(app);
      for (const key of zeroKeys) {
        if (!counts?.has(key)) counter.inc({ app, ...this.#labels.get(key)! }, 0);
      }
      if (!counts) continue;
      for (const [key, n] of counts) counter.inc({ app, ...this.#labels.get(key)! }, n);
    }
  }

  #key(labels: Readonly<Record<L, string>>): string {
    const key = this.labelNames.map((l) => labels[l]).join('\u0000');
    if (!this.#labels.has(key)) this.#labels.set(key, { ...labels });
    return key;
  }
}
