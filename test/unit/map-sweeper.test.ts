import { describe, expect, it } from 'vitest';
import { MapSweeper } from '../../src/shared/map-sweeper.js';
import { recordingSweeper } from '../support/recording-sweeper.js';

/** A map of `n` keys k0..k(n-1) whose values say whether the entry is dead. */
function mapOf(n: number, dead: (i: number) => boolean): Map<string, boolean> {
  return new Map(Array.from({ length: n }, (_, i) => [`k${i}`, dead(i)] as const));
}

describe('MapSweeper (bounded work per write: previous tokens of 100,000 authorizers)', () => {
  it('deletes exactly the dead entries, `step` entries a call, in size / step calls', () => {
    const map = mapOf(100, (i) => i % 3 === 0);
    const { sweeper, looked } = recordingSweeper(map, 16);
    expect(sweeper.sweep()).toBe(6); // k0, k3, ..., k15
    expect(looked).toHaveLength(16);
    for (let i = 1; i < Math.ceil(100 / 16); i++) sweeper.sweep();
    expect([...map.keys()].length).toBe(66);
    expect([...map.values()].every((dead) => !dead)).toBe(true);
    // One round looked at every entry once.
    expect(new Set(looked.slice(0, 100)).size).toBe(100);
  });

  it('goes round again: an entry that dies after the hand passed it goes in the next round', () => {
    const map = mapOf(10, () => false);
    const sweeper = new MapSweeper(map, (dead) => dead, 4);
    sweeper.sweep(); // k0..k3
    map.set('k1', true); // behind the hand
    map.set('k7', true); // ahead of it
    expect(sweeper.sweep()).toBe(1); // k4..k7: k7
    expect(map.has('k7')).toBe(false);
    expect(map.has('k1')).toBe(true);
    expect(sweeper.sweep()).toBe(1); // k8, k9, then the next round's k0, k1: k1
    expect(map.has('k1')).toBe(false);
    expect(map.size).toBe(8);
  });

  it('visits entries added during a round in that round, and never one twice in a call', () => {
    const map = mapOf(3, () => false);
    const { sweeper, looked } = recordingSweeper(map, 16);
    sweeper.sweep();
    expect(looked).toEqual(['k0', 'k1', 'k2']);
    map.set('late', true);
    looked.length = 0;
    expect(sweeper.sweep()).toBe(1);
    // The hand stood after k2 with the round not yet over: `late` is still in it.
    expect(looked).toEqual(['late', 'k0', 'k1', 'k2']);
    expect(map.has('late')).toBe(false);
  });

  it('an empty map costs nothing and a map emptied mid-round is fine', () => {
    const map = new Map<string, boolean>();
    const sweeper = new MapSweeper(map, (dead) => dead, 8);
    expect(sweeper.sweep()).toBe(0);
    map.set('a', true).set('b', true);
    expect(sweeper.sweep()).toBe(2);
    expect(map.size).toBe(0);
    expect(sweeper.sweep()).toBe(0);
  });
});
