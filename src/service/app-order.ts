/**
 * The app ids in ascending order, for ListApps pages: a page starts with a binary search for
 * the last id of the previous one, so it costs O(log n + page) instead of a pass over every app
 * (issue 15 item 5: 100,000 apps). Ids join and leave one at a time (the runtime registry)
 * with a sorted insert or removal.
 */
export class AppOrder {
  readonly #ids: string[];

  constructor(ids: Iterable<string>) {
    this.#ids = [...new Set(ids)].sort(compareIds);
  }

  get size(): number {
    return this.#ids.length;
  }

  add(id: string): void {
    const i = this.#indexAfter(id, true);
    if (this.#ids[i] !== id) this.#ids.splice(i, 0, id);
  }

  remove(id: string): void {
    const i = this.#indexAfter(id, true);
    if (this.#ids[i] === id) this.#ids.splice(i, 1);
  }

  /** Ids after `after` (exclusive; from the first when undefined), in order. */
  *from(after: string | undefined): Generator<string> {
    for (
      let i = after === undefined ? 0 : this.#indexAfter(after, false);
      i < this.#ids.length;
      i++
    ) {
      yield this.#ids[i]!;
    }
  }

  /** First index whose id is >= `id` (inclusive) or > `id` (exclusive). */
  #indexAfter(id: string, inclusive: boolean): number {
    let lo = 0;
    let hi = this.#ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = compareIds(this.#ids[mid]!, id);
      if (c < 0 || (!inclusive && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Code-unit order: the same in every replica and every client language's byte order for ASCII ids. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
