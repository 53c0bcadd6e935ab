import { randomInt } from 'node:crypto';

/** Bytes of one slot: a deadline, two lengths, the key and the value. */
export const SLOT_BYTES = 256;
/** Slots per chunk of the arena (1 MB): the arena grows a chunk at a time, nothing is copied. */
const CHUNK_SLOTS = 4096;
const CHUNK_SHIFT = 12;
/** Slot layout: [0, 8) deadline (float64), [8, 10) value length, [10] key length, key, value. */
const VALUE_LENGTH_AT = 8;
const KEY_LENGTH_AT = 10;
const KEY_AT = 11;
/** Longest key: app ids are 1 to 64 characters (config schema). */
export const MAX_KEY_CHARS = 64;
const MIN_CAPACITY = 1024;

/**
 * A table from short ASCII keys to short byte strings, each with a deadline, kept off the V8
 * heap: an open-addressing index (a typed array of hash and slot pairs, linear probing) over an
 * arena of fixed 256-byte slots, each holding its key, its value and its deadline together.
 *
 * Why: a read of one entry among 100,000 in a `Map` of records touches the map's bucket and
 * entry, the key string, the record and each of the record's fields in its own object, at
 * random places of a ~120 MB heap: every one a cache and TLB miss, ~13 µs a GetToken call in
 * all on a virtual machine against one hot record (docs/benchmarks.md). Here a read touches one
 * line of the index and one slot (its own page), and the garbage collector never scans either.
 *
 * Keys and values that do not fit a slot (`fits`) are refused by `set`: the caller keeps them
 * elsewhere. Deleted slots are zeroed (values may be secrets) and reused. Not thread-safe and
 * not iterable: a mirror of some authoritative map, read on a hot path.
 */
export class ByteTable {
  readonly #chunks: Buffer[] = [];
  readonly #deadlines: Float64Array[] = [];
  /** Free slot numbers, reused before the arena grows. */
  readonly #free: number[] = [];
  #slots = 0;
  /** Pairs [hash, slot + 1]; 0 in the second marks an empty pair. */
  #index = new Int32Array(2 * MIN_CAPACITY);
  #mask = MIN_CAPACITY - 1;
  #size = 0;
  /** A per-process seed: no key set chosen from outside collides on purpose. */
  readonly #seed = randomInt(0, 2 ** 31);

  get size(): number {
    return this.#size;
  }

  /** Whether a key and a value of these lengths fit in one slot. */
  static fits(keyChars: number, valueBytes: number): boolean {
    return (
      keyChars >= 1 && keyChars <= MAX_KEY_CHARS && KEY_AT + keyChars + valueBytes <= SLOT_BYTES
    );
  }

  /**
   * Sets `key` to `value` until `deadline`. Returns false, and holds nothing for the key, when
   * they do not fit a slot or the key is not ASCII.
   */
  set(key: string, value: Uint8Array, deadline: number): boolean {
    if (!ByteTable.fits(key.length, value.length) || !isAscii(key)) {
      this.delete(key);
      return false;
    }
    const hash = this.#hash(key);
    let at = this.#find(key, hash);
    let slot: number;
    if (at >= 0) {
      slot = this.#index[at + 1]! - 1;
    } else {
      if (2 * (this.#size + 1) > this.#mask + 1) this.#grow();
      slot = this.#allocate();
      at = this.#emptyPairFor(hash);
      this.#index[at] = hash;
      this.#index[at + 1] = slot + 1;
      this.#size++;
    }
    this.#write(slot, key, value, deadline);
    return true;
  }

  /**
   * A copy of `key`'s value if it is held and `now` is before its deadline; otherwise undefined.
   * A copy, so the caller's bytes never change under it when the key is set again.
   */
  getBefore(key: string, now: number): Buffer | undefined {
    const at = this.#find(key, this.#hash(key));
    if (at < 0) return undefined;
    const slot = this.#index[at + 1]! - 1;
    const chunk = this.#chunks[slot >>> CHUNK_SHIFT]!;
    const offset = (slot & (CHUNK_SLOTS - 1)) * SLOT_BYTES;
    if (!(now < this.#deadlines[slot >>> CHUNK_SHIFT]![offset / 8]!)) return undefined;
    const from = offset + KEY_AT + key.length;
    const length = chunk.readUInt16LE(offset + VALUE_LENGTH_AT);
    const copy = Buffer.allocUnsafe(length);
    chunk.copy(copy, 0, from, from + length);
    return copy;
  }

  has(key: string): boolean {
    return this.#find(key, this.#hash(key)) >= 0;
  }

  delete(key: string): boolean {
    let at = this.#find(key, this.#hash(key));
    if (at < 0) return false;
    const slot = this.#index[at + 1]! - 1;
    const offset = (slot & (CHUNK_SLOTS - 1)) * SLOT_BYTES;
    this.#chunks[slot >>> CHUNK_SHIFT]!.fill(0, offset, offset + SLOT_BYTES);
    this.#free.push(slot);
    this.#size--;
    // Backward-shift deletion: pull later pairs of the run into the hole, so a lookup can
    // still stop at the first empty pair (no tombstones to accumulate).
    const index = this.#index;
    const mask = this.#mask;
    let next = at;
    for (;;) {
      next = (next + 2) & (2 * mask + 1);
      if (index[next + 1] === 0) break;
      const home = (index[next]! & mask) * 2;
      // Move the pair at `next` into the hole unless its home lies cyclically in (at, next].
      const inRun = at <= next ? at < home && home <= next : at < home || home <= next;
      if (inRun) continue;
      index[at] = index[next]!;
      index[at + 1] = index[next + 1]!;
      at = next;
    }
    index[at] = 0;
    index[at + 1] = 0;
    return true;
  }

  /** Index of the pair holding `key`, or -1. */
  #find(key: string, hash: number): number {
    const index = this.#index;
    const wrap = 2 * this.#mask + 1;
    for (let at = (hash & this.#mask) * 2; ; at = (at + 2) & wrap) {
      const slotPlusOne = index[at + 1]!;
      if (slotPlusOne === 0) return -1;
      if (index[at] === hash && this.#keyIs(slotPlusOne - 1, key)) return at;
    }
  }

  #emptyPairFor(hash: number): number {
    const index = this.#index;
    const wrap = 2 * this.#mask + 1;
    let at = (hash & this.#mask) * 2;
    while (index[at + 1] !== 0) at = (at + 2) & wrap;
    return at;
  }

  #keyIs(slot: number, key: string): boolean {
    const chunk = this.#chunks[slot >>> CHUNK_SHIFT]!;
    const offset = (slot & (CHUNK_SLOTS - 1)) * SLOT_BYTES;
    if (chunk[offset + KEY_LENGTH_AT] !== key.length) return false;
    for (let i = 0; i < key.length; i++) {
      if (chunk[offset + KEY_AT + i] !== key.charCodeAt(i)) return false;
    }
    return true;
  }

  #write(slot: number, key: string, value: Uint8Array, deadline: number): void {
    const chunk = this.#chunks[slot >>> CHUNK_SHIFT]!;
    const offset = (slot & (CHUNK_SLOTS - 1)) * SLOT_BYTES;
    this.#deadlines[slot >>> CHUNK_SHIFT]![offset / 8] = deadline;
    chunk.writeUInt16LE(value.length, offset + VALUE_LENGTH_AT);
    chunk[offset + KEY_LENGTH_AT] = key.length;
    chunk.write(key, offset + KEY_AT, 'latin1');
    chunk.set(value, offset + KEY_AT + key.length);
  }

  #allocate(): number {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    if (this.#slots === this.#chunks.length * CHUNK_SLOTS) {
      const chunk = Buffer.alloc(CHUNK_SLOTS * SLOT_BYTES);
      this.#chunks.push(chunk);
      this.#deadlines.push(new Float64Array(chunk.buffer, chunk.byteOffset, chunk.length / 8));
    }
    return this.#slots++;
  }

  /** Doubles the index, moving pairs by their stored hash: no key is read again. */
  #grow(): void {
    const old = this.#index;
    const capacity = 2 * (this.#mask + 1);
    this.#index = new Int32Array(2 * capacity);
    this.#mask = capacity - 1;
    for (let at = 0; at < old.length; at += 2) {
      if (old[at + 1] === 0) continue;
      const to = this.#emptyPairFor(old[at]!);
      this.#index[to] = old[at]!;
      this.#index[to + 1] = old[at + 1]!;
    }
  }

  /** FNV-1a over the key's characters, from a per-process seed. */
  #hash(key: string): number {
    let h = 0x811c9dc5 ^ this.#seed;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    return h | 0;
  }
}

function isAscii(key: string): boolean {
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) > 0x7f) return false;
  return true;
}
