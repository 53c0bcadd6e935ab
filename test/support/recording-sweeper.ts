import { MapSweeper, type SweptMap } from '../../src/shared/map-sweeper.js';

/**
 * A sweeper of `map` (values: whether the entry is dead) that deletes the dead entries and
 * records every key it looks at, in order.
 */
export function recordingSweeper<K>(map: SweptMap<K, boolean>, step: number) {
  const looked: K[] = [];
  const sweeper = new MapSweeper(
    map,
    (dead, key) => {
      looked.push(key);
      return dead;
    },
    step,
  );
  return { sweeper, looked };
}
