/**
 * Keys ordered by due time (a binary min-heap): O(log n) to add, move or remove a key, O(1)
 * to see the earliest. The refresh schedule keeps one entry per app here and one timer for the
 * head, instead of one sleeping timer, promise chain and abort signal per app.
 *
 * The heap is two parallel arrays (keys, and due times in a Float64Array) plus a key → position
 * map, not an object per entry: with 100,000 authorizers an entry object and its boxed due time
 * were 200,000 more heap objects for every major GC to mark, and marking is what stalled the
 * leader's event loop in a refresh wave.
 */
export class DueQueue<K> {
  #keys: K[] = [];
  #ats = new Float64Array(16);
  readonly #pos = new Map<K, number>();

  get size(): number {
    return this.#keys.length;
  }

  /** The earliest due time, or undefined when empty. */
  peekAt(): number | undefined {
    return this.#keys.length > 0 ? this.#ats[0] : undefined;
  }

  /** Adds `key` due at `at`, or moves it there if already queued. */
  set(key: K, at: number): void {
    const i = this.#pos.get(key);
    if (i === undefined) {
      const n = this.#keys.length;
      if (n === this.#ats.length) {
        const grown = new Float64Array(n * 2);
        grown.set(this.#ats);
        this.#ats = grown;
      }
      this.#keys.push(key);
      this.#up(n, key, at);
      return;
    }
    if (at < this.#ats[i]!) this.#up(i, key, at);
    else this.#down(i, key, at);
  }

  /** Removes `key`; returns whether it was queued. */
  delete(key: K): boolean {
    const i = this.#pos.get(key);
    if (i === undefined) return false;
    this.#pos.delete(key);
    const lastIndex = this.#keys.length - 1;
    const last = this.#keys.pop()!;
    if (i !== lastIndex) {
      const at = this.#ats[lastIndex]!;
      this.#up(i, last, at);
      const j = this.#pos.get(last)!;
      this.#down(j, last, at);
    }
    this.#shrink();
    return true;
  }

  /** Removes and returns the earliest key if it is due at or before `now`. */
  popDue(now: number): K | undefined {
    if (this.#keys.length === 0 || this.#ats[0]! > now) return undefined;
    const head = this.#keys[0]!;
    this.delete(head);
    return head;
  }

  clear(): void {
    this.#keys = [];
    this.#ats = new Float64Array(16);
    this.#pos.clear();
  }

  /** Gives back the arrays' room once the queue is a quarter of it (authorizers that left). */
  #shrink(): void {
    const n = this.#keys.length;
    if (this.#ats.length > 64 && n < this.#ats.length / 4) {
      this.#ats = this.#ats.slice(0, this.#ats.length / 2);
      this.#keys = this.#keys.slice(0, n);
    }
  }

  /** Places `key` (due `at`) at `i` or above it, moving later parents down. */
  #up(i: number, key: K, at: number): void {
    const keys = this.#keys;
    const ats = this.#ats;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (ats[parent]! <= at) break;
      keys[i] = keys[parent]!;
      ats[i] = ats[parent]!;
      this.#pos.set(keys[i]!, i);
      i = parent;
    }
    keys[i] = key;
    ats[i] = at;
    this.#pos.set(key, i);
  }

  /** Places `key` (due `at`) at `i` or below it, moving earlier children up. */
  #down(i: number, key: K, at: number): void {
    const keys = this.#keys;
    const ats = this.#ats;
    const n = keys.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && ats[right]! < ats[left]! ? right : left;
      if (ats[child]! >= at) break;
      keys[i] = keys[child]!;
      ats[i] = ats[child]!;
      this.#pos.set(keys[i]!, i);
      i = child;
    }
    keys[i] = key;
    ats[i] = at;
    this.#pos.set(key, i);
  }
}
