/**
 * The app ids in ascending order, for ListApps pages: a page starts with a binary search for
 * the last id of the previous one, so it costs O(log n + page) instead of a pass over every app
 * (issue 15 item 5: 100,000 apps). Ids join and leave at run time (authorizers): changes are
 * queued and applied when a page is read, by sorted inserts when they are few and by one sort
 * when they are many, so 100,000 authorizers joining cost one sort, not 100,000 splices.
 */
export class AppOrder {
  #ids: string[];
  /** Joined or left since the last page, in order of the change; the last change wins. */
  readonly #pending = new Map<string, boolean>();

  constructor(ids: Iterable<string>) {
    this.#ids = [...new Set(ids)].sort(compareIds);
  }

  get size(): number {
    this.#flush();
    return this.#ids.length;
  }

  add(id: string): void {
    this.#pending.delete(id);
    this.#pending.set(id, true);
  }

  remove(id: string): void {
    this.#pending.delete(id);
    this.#pending.set(id, false);
  }

  /** Ids after `after` (exclusive; from the first when undefined), in order. */
  *from(after: string | undefined): Generator<string> {
    this.#flush();
    for (
      let i = after === undefined ? 0 : this.#indexAfter(after, false);
      i < this.#ids.length;
      i++
    ) {
      yield this.#ids[i]!;
    }
  }

  #flush(): void {
    if (this.#pending.size === 0) return;
    if (this.#pending.size > 64) {
      const ids = new Set(this.#ids);
      for (const [id, present] of this.#pending) {
        if (present) ids.add(id);
        else ids.delete(id);
      }
      this.#ids = [...ids].sort(compareIds);
    } else {
      for (const [id, present] of this.#pending) {
        const i = this.#indexAfter(id, true);
        if (present && this.#ids[i] !== id) this.#ids.splice(i, 0, id);
        if (!present && this.#ids[i] === id) this.#ids.splice(i, 1);
      }
    }
    this.#pending.clear();
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
