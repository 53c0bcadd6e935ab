/** What MapSweeper needs of a map: a Map, or a ShardedMap. */
export interface SweptMap<K, V> {
  readonly size: number;
  entries(): Iterator<[K, V]>;
  delete(key: K): boolean;
}

/**
 * Deletes a map's dead entries a few at a time, going round the map like a clock hand: each
 * `sweep()` looks at the next `step` entries (all of them when the map is smaller) and deletes
 * those `isDead` names. Called once per write, it visits every entry once every
 * `map.size / step` writes: a constant cost per write, and no timer, queue or object per entry
 * to keep (the maps it sweeps hold one entry per app, 100,000 with a platform's authorizers).
 *
 * A JavaScript Map's iterator stays valid while the map changes: entries added meanwhile are
 * visited later in the same round, deleted ones are skipped (a ShardedMap's too).
 */
export class MapSweeper<K, V> {
  #hand: Iterator<[K, V]> | undefined;

  constructor(
    private readonly map: SweptMap<K, V>,
    private readonly isDead: (value: V, key: K) => boolean,
    private readonly step: number,
  ) {}

  /** Looks at the next entries; returns how many it deleted. */
  sweep(): number {
    let deleted = 0;
    const visits = Math.min(this.step, this.map.size);
    for (let i = 0; i < visits; i++) {
      let next = this.#hand?.next();
      if (next === undefined || next.done === true) {
        this.#hand = this.map.entries();
        next = this.#hand.next();
        if (next.done === true) break;
      }
      const [key, value] = next.value;
      if (this.isDead(value, key)) {
        this.map.delete(key);
        deleted++;
      }
    }
    return deleted;
  }
}
