/**
 * Shards a ShardedMap uses: a power of two. 100,000 authorizers' tokens (current and previous:
 * 200,000 keys) make shards of ~3,000 keys, whose rehash takes well under a millisecond.
 */
export const DEFAULT_SHARD_BITS = 6;

/**
 * A string-keyed map split into 2^bits plain Maps by a hash of some of the key's characters.
 *
 * Why: V8's Map keeps deleted entries' slots until it rehashes the whole table, and it rehashes
 * when the slots run out. A map whose keys keep changing (a token value per refresh, an entry
 * deleted and added again) therefore copies all its entries every (capacity - size) writes,
 * in one synchronous step: ~20 ms at 100,000 keys and ~40 ms at 200,000 measured alone, and a
 * 73 ms event-loop stall in a leader's refresh wave (the gateway's token index, in a CPU
 * profile of the 100,000-authorizer benchmark). Split, each rehash copies one shard.
 *
 * Iteration goes shard by shard, not in insertion order. Like a Map's, an iterator stays valid
 * while the map changes: entries added meanwhile may or may not be visited, deleted ones are not.
 */
export class ShardedMap<V> {
  readonly #shards: Map<string, V>[];
  readonly #mask: number;
  #size = 0;

  constructor(bits = DEFAULT_SHARD_BITS) {
    if (!Number.isInteger(bits) || bits < 0 || bits > 16) {
      throw new RangeError(`shard bits must be an integer in 0..16, got ${bits}`);
    }
    this.#shards = Array.from({ length: 2 ** bits }, () => new Map<string, V>());
    this.#mask = 2 ** bits - 1;
  }

  get size(): number {
    return this.#size;
  }

  get(key: string): V | undefined {
    return this.#shard(key).get(key);
  }

  has(key: string): boolean {
    return this.#shard(key).has(key);
  }

  set(key: string, value: V): this {
    const shard = this.#shard(key);
    const before = shard.size;
    shard.set(key, value);
    this.#size += shard.size - before;
    return this;
  }

  delete(key: string): boolean {
    const deleted = this.#shard(key).delete(key);
    if (deleted) this.#size--;
    return deleted;
  }

  clear(): void {
    for (const shard of this.#shards) shard.clear();
    this.#size = 0;
  }

  *entries(): IterableIterator<[string, V]> {
    for (const shard of this.#shards) yield* shard.entries();
  }

  *keys(): IterableIterator<string> {
    for (const shard of this.#shards) yield* shard.keys();
  }

  *values(): IterableIterator<V> {
    for (const shard of this.#shards) yield* shard.values();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }

  /** How many keys each shard holds (for tests and diagnostics). */
  shardSizes(): number[] {
    return this.#shards.map((s) => s.size);
  }

  #shard(key: string): Map<string, V> {
    return this.#shards[shardOf(key) & this.#mask]!;
  }
}

/**
 * FNV-1a over 8 of the key's characters: its last four (an app id's hex tail, the counter at
 * the end of sequential ids) and four spread over the rest (a token's random body, should its
 * tail be alike from one token to the next). A fixed cost keeps long keys (tokens) cheap.
 */
function shardOf(key: string): number {
  const n = key.length;
  if (n === 0) return 0;
  let h = 0x811c9dc5;
  h = Math.imul(h ^ key.charCodeAt(n >> 3), 0x01000193);
  h = Math.imul(h ^ key.charCodeAt(n >> 2), 0x01000193);
  h = Math.imul(h ^ key.charCodeAt(n >> 1), 0x01000193);
  h = Math.imul(h ^ key.charCodeAt((3 * n) >> 2), 0x01000193);
  for (let i = n > 4 ? n - 4 : 0; i < n; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h ^ (h >>> 16);
}
