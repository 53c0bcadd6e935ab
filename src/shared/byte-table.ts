import { randomInt } from 'node:crypto';

/**
 * Slot sizes: a slot holds a deadline, two lengths, the key and the value. GetToken's reply for
 * a 136-character token and an 18-character app id takes ~220 bytes; WeChat reserves 512
 * characters for a token, whose reply needs the larger slot. An entry takes the smaller size it
 * fits in and moves when its value grows or shrinks.
 */
export const SLOT_SIZES: SlotSizes = [256, 1024];
/** A table's two slot sizes, smaller first: powers of two from 64 bytes to CHUNK_BYTES. */
export type SlotSizes = readonly [number, number];
/**
 * Each size's arena grows by chunks of this many bytes: nothing is ever copied to grow. At least
 * two huge pages' worth: glibc madvises a mapping for transparent huge pages only from 2 MB
 * (launch environment, src/cli/node-flags.ts), and a random read then walks no 4 KB page table.
 */
const CHUNK_BYTES = 2 ** 22;
/** Slot layout: [0, 8) deadline (float64), [8, 10) value length, [10] key length, key, value. */
const VALUE_LENGTH_AT = 8;
const KEY_LENGTH_AT = 10;
const KEY_AT = 11;
/** Longest key: app ids are 1 to 64 characters (config schema). */
export const MAX_KEY_CHARS = 64;
const MIN_CAPACITY = 1024;

/** The slots of one size: chunks of the arena and the slot numbers free for reuse. */
interface SlotSize {
  readonly bytes: number;
  /** log2 of the slots in a chunk. */
  readonly shift: number;
  readonly chunks: Buffer[];
  readonly deadlines: Float64Array[];
  readonly free: number[];
  used: number;
}

/**
 * A table from short ASCII keys to short byte strings, each with a deadline, kept off the V8
 * heap: an open-addressing index (a typed array of hash and slot pairs, linear probing) over
 * arenas of fixed-size slots, each slot holding its key, its value and its deadline together.
 *
 * Why: a read of one entry among 100,000 in a `Map` of records touches the map's bucket and
 * entry, the key string, the record and each of the record's fields in its own object, at
 * random places of a ~120 MB heap: every one a cache and TLB miss, ~13 µs a GetToken call in
 * all on a virtual machine against one hot record (docs/benchmarks.md). Here a read touches one
 * line of the index and one slot (one page), and the garbage collector scans neither.
 *
 * Keys and values that fit no slot (`fits`) are refused by `set`: the caller keeps them
 * elsewhere. Freed slots are zeroed (values may be secrets) and reused. Not iterable: its
 * entries can only be swept (`sweep`), a walk of a part of the index per call.
 */
export class ByteTable {
  readonly #sizes: readonly SlotSize[];
  /**
   * Pairs [hash, ref + 1], ref = slot number << 1 | index in the slot sizes (two sizes: one
   * bit); 0 in the second marks an empty pair.
   */
  #index = new Int32Array(2 * MIN_CAPACITY);
  #mask = MIN_CAPACITY - 1;
  #size = 0;
  /** Where `sweep` looks next, in pairs. */
  #hand = 0;
  /** A per-process seed: no key set chosen from outside collides on purpose. */
  readonly #seed = randomInt(0, 2 ** 31);

  constructor(slotSizes: SlotSizes = SLOT_SIZES) {
    const [small, large] = slotSizes;
    const valid = (bytes: number): boolean =>
      Number.isInteger(Math.log2(bytes)) && bytes >= 64 && bytes <= CHUNK_BYTES;
    if (!valid(small) || !valid(large) || small >= large) {
      throw new RangeError(
        `slot sizes must be powers of two from 64 to ${CHUNK_BYTES}, smaller first`,
      );
    }
    this.#sizes = slotSizes.map((bytes) => ({
      bytes,
      shift: Math.log2(CHUNK_BYTES / bytes),
      chunks: [],
      deadlines: [],
      free: [],
      used: 0,
    }));
  }

  get size(): number {
    return this.#size;
  }

  /** Whether a key and a value of these lengths fit in a slot. */
  fits(keyChars: number, valueBytes: number): boolean {
    return keyChars >= 1 && keyChars <= MAX_KEY_CHARS && this.#sizeFor(keyChars + valueBytes) >= 0;
  }

  /**
   * Sets `key` to `value` until `deadline`. Returns false, and holds nothing for the key, when
   * they fit no slot or the key is not ASCII.
   */
  set(key: string, value: Uint8Array, deadline: number): boolean {
    if (!this.fits(key.length, value.length) || !isAscii(key)) {
      this.delete(key);
      return false;
    }
    const size = this.#sizeFor(key.length + value.length);
    const hash = this.#hash(key);
    let at = this.#find(key, hash);
    let ref: number;
    if (at >= 0) {
      ref = this.#index[at + 1]! - 1;
      if ((ref & 1) !== size) {
        this.#release(ref);
        ref = this.#allocate(size);
        this.#index[at + 1] = ref + 1;
      }
    } else {
      if (2 * (this.#size + 1) > this.#mask + 1) this.#grow();
      ref = this.#allocate(size);
      at = this.#emptyPairFor(hash);
      this.#index[at] = hash;
      this.#index[at + 1] = ref + 1;
      this.#size++;
    }
    this.#write(ref, key, value, deadline);
    return true;
  }

  /**
   * A copy of `key`'s value if it is held and `now` is before its deadline; otherwise undefined.
   * A copy, so the caller's bytes never change under it when the key is set again.
   */
  getBefore(key: string, now: number): Buffer | undefined {
    const at = this.#find(key, this.#hash(key));
    if (at < 0) return undefined;
    const ref = this.#index[at + 1]! - 1;
    return now < this.#deadlineOf(ref) ? this.#valueOf(ref) : undefined;
  }

  /** A copy of `key`'s value whatever its deadline, or undefined. */
  get(key: string): Buffer | undefined {
    const at = this.#find(key, this.#hash(key));
    return at < 0 ? undefined : this.#valueOf(this.#index[at + 1]! - 1);
  }

  delete(key: string): boolean {
    const at = this.#find(key, this.#hash(key));
    if (at < 0) return false;
    this.#deleteAt(at);
    return true;
  }

  /**
   * Looks at the next `places` places of the index, going round it like a clock hand, and
   * deletes the entries `isDead` names, given a copy of the entry's value and its deadline.
   * Returns how many it deleted. Called once per write, it visits every entry about once every
   * `capacity / places` writes: a constant cost per write, and nothing kept per entry (each
   * entry looked at makes one short-lived copy of its value for `isDead`). A deletion takes one
   * place of the budget, and the pair shifted into its hole is looked at next. `isDead` must not
   * change the table.
   */
  sweep(places: number, isDead: (value: Buffer, deadline: number) => boolean): number {
    let deleted = 0;
    const index = this.#index;
    const pairs = this.#mask + 1;
    for (let i = 0; i < Math.min(places, pairs); i++) {
      const at = (this.#hand % pairs) * 2;
      const refPlusOne = index[at + 1]!;
      if (refPlusOne !== 0) {
        const ref = refPlusOne - 1;
        if (isDead(this.#valueOf(ref), this.#deadlineOf(ref))) {
          this.#deleteAt(at);
          deleted++;
          // The pair shifted into `at`, if any, is looked at next.
          continue;
        }
      }
      this.#hand = (this.#hand + 1) % pairs;
    }
    return deleted;
  }

  /** Index of the pair holding `key`, or -1. */
  #find(key: string, hash: number): number {
    const index = this.#index;
    const wrap = 2 * this.#mask + 1;
    for (let at = (hash & this.#mask) * 2; ; at = (at + 2) & wrap) {
      const refPlusOne = index[at + 1]!;
      if (refPlusOne === 0) return -1;
      if (index[at] === hash && this.#keyIs(refPlusOne - 1, key)) return at;
    }
  }

  /** Deletes the entry of the pair at `pair`. */
  #deleteAt(pair: number): void {
    this.#release(this.#index[pair + 1]! - 1);
    this.#size--;
    // Backward-shift deletion: pull later pairs of the run into the hole, so a lookup can
    // still stop at the first empty pair (no tombstones to accumulate).
    const index = this.#index;
    const mask = this.#mask;
    let at = pair;
    let next = at;
    for (;;) {
      next = (next + 2) & (2 * mask + 1);
      if (index[next + 1] === 0) break;
      const home = (index[next]! & mask) * 2;
      // The pair at `next` stays unless its home lies cyclically outside (at, next].
      const stays = at <= next ? at < home && home <= next : at < home || home <= next;
      if (stays) continue;
      index[at] = index[next]!;
      index[at + 1] = index[next + 1]!;
      at = next;
    }
    index[at] = 0;
    index[at + 1] = 0;
  }

  #deadlineOf(ref: number): number {
    const s = this.#sizes[ref & 1]!;
    const slot = ref >>> 1;
    return s.deadlines[slot >>> s.shift]![((slot & ((1 << s.shift) - 1)) * s.bytes) / 8]!;
  }

  /** A copy of the value in slot `ref`: the caller's bytes never change when the key is set. */
  #valueOf(ref: number): Buffer {
    const s = this.#sizes[ref & 1]!;
    const slot = ref >>> 1;
    const chunk = s.chunks[slot >>> s.shift]!;
    const offset = (slot & ((1 << s.shift) - 1)) * s.bytes;
    const from = offset + KEY_AT + chunk[offset + KEY_LENGTH_AT]!;
    const length = chunk.readUInt16LE(offset + VALUE_LENGTH_AT);
    const copy = Buffer.allocUnsafe(length);
    chunk.copy(copy, 0, from, from + length);
    return copy;
  }

  /** The index in #sizes of the smallest slot for a key and a value of `bytes` in all; -1 if none. */
  #sizeFor(bytes: number): number {
    return this.#sizes.findIndex((s) => KEY_AT + bytes <= s.bytes);
  }

  #emptyPairFor(hash: number): number {
    const index = this.#index;
    const wrap = 2 * this.#mask + 1;
    let at = (hash & this.#mask) * 2;
    while (index[at + 1] !== 0) at = (at + 2) & wrap;
    return at;
  }

  #keyIs(ref: number, key: string): boolean {
    const s = this.#sizes[ref & 1]!;
    const slot = ref >>> 1;
    const chunk = s.chunks[slot >>> s.shift]!;
    const offset = (slot & ((1 << s.shift) - 1)) * s.bytes;
    if (chunk[offset + KEY_LENGTH_AT] !== key.length) return false;
    for (let i = 0; i < key.length; i++) {
      if (chunk[offset + KEY_AT + i] !== key.charCodeAt(i)) return false;
    }
    return true;
  }

  #write(ref: number, key: string, value: Uint8Array, deadline: number): void {
    const s = this.#sizes[ref & 1]!;
    const slot = ref >>> 1;
    const chunk = s.chunks[slot >>> s.shift]!;
    const offset = (slot & ((1 << s.shift) - 1)) * s.bytes;
    s.deadlines[slot >>> s.shift]![offset / 8] = deadline;
    chunk.writeUInt16LE(value.length, offset + VALUE_LENGTH_AT);
    chunk[offset + KEY_LENGTH_AT] = key.length;
    chunk.write(key, offset + KEY_AT, 'latin1');
    chunk.set(value, offset + KEY_AT + key.length);
  }

  #allocate(size: number): number {
    const s = this.#sizes[size]!;
    const reused = s.free.pop();
    if (reused !== undefined) return (reused << 1) | size;
    if (s.used === s.chunks.length << s.shift) {
      const chunk = Buffer.alloc(CHUNK_BYTES);
      s.chunks.push(chunk);
      s.deadlines.push(new Float64Array(chunk.buffer, chunk.byteOffset, CHUNK_BYTES / 8));
    }
    return (s.used++ << 1) | size;
  }

  #release(ref: number): void {
    const s = this.#sizes[ref & 1]!;
    const slot = ref >>> 1;
    const offset = (slot & ((1 << s.shift) - 1)) * s.bytes;
    s.chunks[slot >>> s.shift]!.fill(0, offset, offset + s.bytes);
    s.free.push(slot);
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
