/**
 * The app ids in ascending order, for ListApps pages: a page starts with a binary search for
 * the last id of the previous one, so it costs O(log n + page) instead of a pass over every app
 * (issue 15 item 5: 100,000 apps). Ids join and leave at run time (authorizers): changes are
 * queued and applied when a page is read, or once MAX_PENDING have piled up: by sorted inserts
 * when they are few and by one merge when they are many, so 100,000 authorizers joining cost a
 * hundred merges, not 100,000 splices. The bound matters: with no page read (nobody calls
 * ListApps), a queue of every authorizer that ever joined was a second map of 100,000 ids that
 * every full collection of a large leader had to walk.
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

  /** Changes queued and not applied yet (at most MAX_PENDING). */
  get pendingChanges(): number {
    return this.#pending.size;
  }

  add(id: string): void {
    this.#queue(id, true);
  }

  remove(id: string): void {
    this.#queue(id, false);
  }

  #queue(id: string, present: boolean): void {
    this.#pending.delete(id);
    this.#pending.set(id, present);
    if (this.#pending.size >= MAX_PENDING) this.#flush();
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
      this.#ids = merged(this.#ids, this.#pending);
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

/** Changes queued before they are applied without waiting for a page. */
export const MAX_PENDING = 1024;

/** `ids` (sorted, distinct) with `changes` applied, sorted: O(ids + k log k) for k changes. */
function merged(ids: readonly string[], changes: ReadonlyMap<string, boolean>): string[] {
  const added: string[] = [];
  const removed = new Set<string>();
  for (const [id, present] of changes) {
    if (present) added.push(id);
    else removed.add(id);
  }
  added.sort(compareIds);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < ids.length || j < added.length) {
    let next: string;
    if (j === added.length || (i < ids.length && compareIds(ids[i]!, added[j]!) <= 0)) {
      next = ids[i++]!;
      if (j < added.length && added[j] === next) j++; // joined again: already in
    } else {
      next = added[j++]!;
    }
    if (!removed.has(next)) out.push(next);
  }
  return out;
}

/** Code-unit order: the same in every replica and every client language's byte order for ASCII ids. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
