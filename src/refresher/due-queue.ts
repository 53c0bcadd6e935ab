interface Entry<K> {
  readonly key: K;
  at: number;
  /** Position in the heap array. */
  i: number;
}

/**
 * Keys ordered by due time (a binary min-heap): O(log n) to add, move or remove a key, O(1)
 * to see the earliest. The refresh schedule keeps one entry per app here and one timer for the
 * head, instead of one sleeping timer, promise chain and abort signal per app.
 */
export class DueQueue<K> {
  readonly #heap: Entry<K>[] = [];
  readonly #entries = new Map<K, Entry<K>>();

  get size(): number {
    return this.#heap.length;
  }

  /** The earliest due time, or undefined when empty. */
  peekAt(): number | undefined {
    return this.#heap[0]?.at;
  }

  /** Adds `key` due at `at`, or moves it there if already queued. */
  set(key: K, at: number): void {
    const entry = this.#entries.get(key);
    if (!entry) {
      const added: Entry<K> = { key, at, i: this.#heap.length };
      this.#entries.set(key, added);
      this.#heap.push(added);
      this.#up(added.i);
      return;
    }
    const earlier = at < entry.at;
    entry.at = at;
    if (earlier) this.#up(entry.i);
    else this.#down(entry.i);
  }

  /** Removes `key`; returns whether it was queued. */
  delete(key: K): boolean {
    const entry = this.#entries.get(key);
    if (!entry) return false;
    this.#entries.delete(key);
    const last = this.#heap.pop()!;
    if (last !== entry) {
      this.#heap[entry.i] = last;
      last.i = entry.i;
      this.#up(last.i);
      this.#down(last.i);
    }
    return true;
  }

  /** Removes and returns the earliest key if it is due at or before `now`. */
  popDue(now: number): K | undefined {
    const head = this.#heap[0];
    if (!head || head.at > now) return undefined;
    this.delete(head.key);
    return head.key;
  }

  clear(): void {
    this.#heap.length = 0;
    this.#entries.clear();
  }

  #up(i: number): void {
    const heap = this.#heap;
    const entry = heap[i]!;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (parent.at <= entry.at) break;
      heap[i] = parent;
      parent.i = i;
      i = parentIndex;
    }
    heap[i] = entry;
    entry.i = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const entry = heap[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.at < heap[left]!.at ? right : left;
      if (heap[child]!.at >= entry.at) break;
      heap[i] = heap[child]!;
      heap[i]!.i = i;
      i = child;
    }
    heap[i] = entry;
    entry.i = i;
  }
}
