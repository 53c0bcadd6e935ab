import { randomBytes } from 'node:crypto';
import { ShardedMap } from '../src/shared/sharded-map.js';
import { median } from './stats.js';

/** The calls a churned map gets: a Map and a ShardedMap both have them. */
interface Churned {
  set(key: string, value: string): unknown;
  delete(key: string): boolean;
}

export interface ChurnCost {
  /** Median over rounds of the longest single write (delete + add), ms. */
  readonly maxMs: number;
  /** Median over rounds of the mean cost of a write, ns. */
  readonly meanNs: number;
}

/**
 * What a leader's token index does in a refresh wave, in this process: `keys` token values
 * (each app's current and previous), and per refresh one value deleted and a new one added.
 * A plain Map against a ShardedMap in alternating rounds of `writes` writes each: the longest
 * single write is the event-loop stall a whole-map rehash makes, the mean is the cost per write.
 */
export function churnCost(
  keys: number,
  writes: number,
  rounds: number,
): { plain: ChurnCost; sharded: ChurnCost } {
  const value = (): string => randomBytes(96).toString('base64url');
  const held = Array.from({ length: keys }, value);
  const fresh = Array.from({ length: writes }, value);
  const got = { plain: [] as [number, number][], sharded: [] as [number, number][] };
  for (let r = 0; r < rounds; r++) {
    for (const kind of r % 2 ? (['sharded', 'plain'] as const) : (['plain', 'sharded'] as const)) {
      const map: Churned = kind === 'plain' ? new Map<string, string>() : new ShardedMap<string>();
      const live = held.slice();
      for (const k of live) map.set(k, 'wxapp');
      got[kind].push(churn(map, live, fresh));
    }
  }
  const summary = (rs: [number, number][]): ChurnCost => ({
    maxMs: median(rs.map(([max]) => max)),
    meanNs: median(rs.map(([, mean]) => mean)),
  });
  return { plain: summary(got.plain), sharded: summary(got.sharded) };
}

/** [longest write in ms, mean ns per write]; `live` is the map's keys, replaced in turn. */
function churn(map: Churned, live: string[], fresh: readonly string[]): [number, number] {
  let max = 0;
  const t0 = performance.now();
  for (let i = 0; i < fresh.length; i++) {
    const t = performance.now();
    const at = i % live.length;
    if (!map.delete(live[at]!)) throw new Error('map-churn: a key is missing');
    map.set(fresh[i]!, 'wxapp');
    live[at] = fresh[i]!;
    const ms = performance.now() - t;
    if (ms > max) max = ms;
  }
  return [max, ((performance.now() - t0) * 1e6) / fresh.length];
}
