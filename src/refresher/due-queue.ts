import { grown } from '../shared/typed-arrays.js';

/**
 * Keys ordered by due time (a binary min-heap): O(log n) to add, move or remove a key, O(1)
 * to see the earliest. The refresh schedule keeps one entry per app here and one timer for the
 * head, instead of one sleeping timer, promise chain and abort signal per app.
 *
 * No object per entry: each key gets a slot number once (a map lookup per operation), and the
 * heap itself is typed arrays of slots and due times, with each slot's heap position beside
 * them, so moving an entry is a few array writes. With 100,000 authorizers an entry object and
 * its boxed due time were 200,000 more heap objects for every major GC to mark, and marking is
 * what stalled the leader's event loop in a refresh wave.
 *
 * A popped key keeps its slot (and its map entry) until `delete`: the schedule pops every app
 * once a lifetime and queues it again after its attempt, and deleting and re-adding 100,000
 * keys made V8 rehash the whole map every ~30,000 pops, a 20-26 ms step in the refresh wave.
 */
export class DueQueue<K> {
  readonly #slotOf = new Map<K, number>();
  /** slot -> its key (undefined: a free slot). */
  #keyOf: (K | undefined)[] = [];
  readonly #freeSlots: number[] = [];
  /** Heap order: the slot at each position and its due time. */
  #heap = new Int32Array(16);
  #ats = new Float64Array(16);
  /** slot -> its position in the heap (-1: known, not queued). */
  #pos = new Int32Array(16);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** The earliest due time, or undefined when empty. */
  peekAt(): number | undefined {
    return this.#size > 0 ? this.#ats[0] : undefined;
  }

  /** Adds `key` due at `at`, or moves it there if already queued. */
  set(key: K, at: number): void {
    let slot = this.#slotOf.get(key);
    if (slot === undefined) {
      slot = this.#freeSlots.pop() ?? this.#keyOf.length;
      if (slot >= this.#pos.length) this.#grow();
      this.#keyOf[slot] = key;
      this.#slotOf.set(key, slot);
      this.#pos[slot] = -1;
    }
    const i = this.#pos[slot]!;
    if (i < 0) this.#up(this.#size++, slot, at);
    else if (at < this.#ats[i]!) this.#up(i, slot, at);
    else this.#down(i, slot, at);
  }

  /** Removes `key` and forgets it (its slot is free again); returns whether it was queued. */
  delete(key: K): boolean {
    const slot = this.#slotOf.get(key);
    if (slot === undefined) return false;
    const queued = this.#pos[slot]! >= 0;
    if (queued) this.#dequeue(slot);
    this.#slotOf.delete(key);
    this.#keyOf[slot] = undefined;
    this.#freeSlots.push(slot);
    return queued;
  }

  /** Removes and returns the earliest key if it is due at or before `now` (it keeps its slot). */
  popDue(now: number): K | undefined {
    if (this.#size === 0 || this.#ats[0]! > now) return undefined;
    const slot = this.#heap[0]!;
    this.#dequeue(slot);
    return this.#keyOf[slot];
  }

  clear(): void {
    this.#slotOf.clear();
    this.#keyOf = [];
    this.#freeSlots.length = 0;
    this.#size = 0;
  }

  /** Takes `slot` out of the heap; the last entry fills its place. */
  #dequeue(slot: number): void {
    const i = this.#pos[slot]!;
    this.#pos[slot] = -1;
    const last = --this.#size;
    if (i !== last) {
      const moved = this.#heap[last]!;
      const at = this.#ats[last]!;
      this.#up(i, moved, at);
      this.#down(this.#pos[moved]!, moved, at);
    }
  }

  #grow(): void {
    const n = this.#pos.length * 2;
    this.#heap = grown(this.#heap, n);
    this.#ats = grown(this.#ats, n);
    this.#pos = grown(this.#pos, n);
  }

  /** Places `slot` (due `at`) at position `i` or above it, moving later parents down. */
  #up(i: number, slot: number, at: number): void {
    const ats = this.#ats;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (ats[parent]! <= at) break;
      this.#move(parent, i);
      i = parent;
    }
    this.#place(i, slot, at);
  }

  /** Places `slot` (due `at`) at position `i` or below it, moving earlier children up. */
  #down(i: number, slot: number, at: number): void {
    const ats = this.#ats;
    const n = this.#size;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && ats[right]! < ats[left]! ? right : left;
      if (ats[child]! >= at) break;
      this.#move(child, i);
      i = child;
    }
    this.#place(i, slot, at);
  }

  /** Copies the entry at heap position `from` to position `to`. */
  #move(from: number, to: number): void {
    const slot = this.#heap[from]!;
    this.#heap[to] = slot;
    this.#ats[to] = this.#ats[from]!;
    this.#pos[slot] = to;
  }

  #place(i: number, slot: number, at: number): void {
    this.#heap[i] = slot;
    this.#ats[i] = at;
    this.#pos[slot] = i;
  }
}
