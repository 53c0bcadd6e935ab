import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ShardedMap } from '../../src/shared/sharded-map.js';
import { recordingSweeper } from '../support/recording-sweeper.js';
import { seeded } from '../support/seeded.js';

describe('ShardedMap (big maps whose keys keep changing: no whole-map rehash)', () => {
  it('answers like a Map through random sets, deletes and clears', () => {
    const sharded = new ShardedMap<number>();
    const reference = new Map<string, number>();
    const random = seeded(7);
    for (let i = 0; i < 20_000; i++) {
      const key = `wx${Math.floor(random() * 3000).toString(16)}`;
      const r = random();
      if (r < 0.3) expect(sharded.delete(key)).toBe(reference.delete(key));
      else if (r < 0.9995) {
        expect(sharded.set(key, i)).toBe(sharded);
        reference.set(key, i);
      } else {
        sharded.clear();
        reference.clear();
      }
      expect(sharded.size).toBe(reference.size);
      expect(sharded.get(key)).toBe(reference.get(key));
      expect(sharded.has(key)).toBe(reference.has(key));
    }
    const sorted = <T>(it: Iterable<T>): T[] => [...it].sort();
    expect(sorted(sharded.keys())).toEqual(sorted(reference.keys()));
    expect(sorted(sharded.values())).toEqual(sorted(reference.values()));
    expect(sorted(sharded)).toEqual(sorted(reference.entries()));
    expect(sharded.shardSizes().reduce((a, b) => a + b, 0)).toBe(reference.size);
  });

  it('spreads app ids (random, sequential) and tokens (random, alike at the end) evenly', () => {
    const appIds = new ShardedMap<true>();
    // Sequential ids (a simulator's, a test's) and WeChat-like random ones.
    for (let i = 0; i < 50_000; i++) appIds.set(`wxbench${String(i).padStart(10, '0')}`, true);
    for (let i = 0; i < 50_000; i++) appIds.set(`wx${randomBytes(8).toString('hex')}`, true);
    const tokens = new ShardedMap<true>();
    for (let i = 0; i < 20_000; i++) tokens.set(randomBytes(96).toString('base64url'), true);
    // Tokens whose last characters are alike from one to the next: the body still spreads them.
    const sameTail = new ShardedMap<true>();
    for (let i = 0; i < 20_000; i++) {
      sameTail.set(`84_${randomBytes(96).toString('base64url')}AAAAAAAAAAAAAAAA`, true);
    }
    for (const map of [appIds, tokens, sameTail]) {
      const sizes = map.shardSizes();
      const mean = map.size / sizes.length;
      expect(sizes).toHaveLength(64);
      expect(Math.max(...sizes)).toBeLessThan(mean * 1.3);
      expect(Math.min(...sizes)).toBeGreaterThan(mean * 0.7);
    }
  });

  it('iterates safely while entries are deleted and added', () => {
    const map = new ShardedMap<number>(2);
    for (let i = 0; i < 100; i++) map.set(`k${i}`, i);
    const seen: string[] = [];
    const deleted = new Set<string>();
    for (const [key, value] of map) {
      expect(deleted.has(key)).toBe(false); // a deleted entry is never visited
      seen.push(key);
      if (value % 3 === 0) {
        map.delete(key);
        deleted.add(key);
      }
      // Another entry, in this shard or another, before or after the iterator.
      if (map.delete(`k${value + 1}`)) deleted.add(`k${value + 1}`);
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (let i = 0; i < 100; i++) {
      expect(seen.includes(`k${i}`) || deleted.has(`k${i}`)).toBe(true);
      expect(map.has(`k${i}`)).toBe(!deleted.has(`k${i}`));
    }
    expect(map.size).toBe(100 - deleted.size);
    expect([...map.keys()]).toHaveLength(map.size);
  });

  it('a MapSweeper goes round a sharded map like a plain one', () => {
    const map = new ShardedMap<boolean>();
    for (let i = 0; i < 1000; i++) map.set(`k${i}`, i % 4 === 0);
    const { sweeper, looked } = recordingSweeper(map, 16);
    let deleted = 0;
    for (let i = 0; i < Math.ceil(1000 / 16); i++) deleted += sweeper.sweep();
    expect(deleted).toBe(250);
    expect(new Set(looked.slice(0, 1000)).size).toBe(1000);
    expect(map.size).toBe(750);
    expect([...map.values()].every((dead) => !dead)).toBe(true);
  });

  it('refuses a shard count that is not a small power of two', () => {
    expect(() => new ShardedMap(-1)).toThrow(RangeError);
    expect(() => new ShardedMap(1.5)).toThrow(RangeError);
    expect(() => new ShardedMap(17)).toThrow(RangeError);
    expect(new ShardedMap(0).shardSizes()).toEqual([0]);
  });
});
