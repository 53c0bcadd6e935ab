import { describe, expect, it } from 'vitest';
import { AppOrder, MAX_PENDING, compareIds } from '../../src/service/app-order.js';
import { seeded } from '../support/seeded.js';

/**
 * The app ids behind ListApps pages (src/service/app-order.ts): ids join and leave at run time
 * (authorizers) and every page lists them in code-unit order. Checked against a plain model (a
 * Set, sorted on each read) over random joins, leaves and page reads; and the queue of changes
 * not applied yet stays bounded when no page is read (issue 15 item 5: 100,000 authorizers).
 */
const page = (o: AppOrder, after: string | undefined, n: number): string[] => {
  const out: string[] = [];
  for (const id of o.from(after)) {
    out.push(id);
    if (out.length === n) break;
  }
  return out;
};

describe('AppOrder', () => {
  it('lists the same ids in the same order as a sorted set, through joins, leaves and pages', () => {
    // A page read every ~10 changes (the sorted inserts), every ~100 and ~300 (the merge).
    for (const [seed, pRead] of [
      [1, 0.1],
      [2, 0.01],
      [3, 0.003],
    ] as const) {
      const next = seeded(seed);
      const pool = Array.from({ length: 400 }, (_, i) => `wx${(i * 7919).toString(36)}`);
      const model = new Set(pool.slice(0, 50));
      const order = new AppOrder(model);
      for (let step = 0; step < 3000; step++) {
        const id = pool[Math.floor(next() * pool.length)]!;
        const r = next();
        if (r < (1 - pRead) / 2) {
          order.add(id);
          model.add(id);
        } else if (r < 1 - pRead) {
          order.remove(id);
          model.delete(id);
        } else {
          const sorted = [...model].sort(compareIds);
          const after = sorted[Math.floor(next() * sorted.length)];
          expect(page(order, after, 20)).toEqual(
            sorted.filter((x) => after === undefined || compareIds(x, after) > 0).slice(0, 20),
          );
          expect(order.size).toBe(model.size);
        }
      }
      expect([...order.from(undefined)]).toEqual([...model].sort(compareIds));
    }
  });

  it('applies queued changes once MAX_PENDING have piled up, with no page read', () => {
    const order = new AppOrder([]);
    const ids = Array.from({ length: 10 * MAX_PENDING + 5 }, (_, i) => `wxa${i}`);
    let most = 0;
    for (const id of ids) {
      order.add(id);
      most = Math.max(most, order.pendingChanges);
    }
    for (const id of ids.slice(0, 3 * MAX_PENDING)) order.remove(id);
    expect(most).toBe(MAX_PENDING - 1);
    expect(order.pendingChanges).toBeLessThan(MAX_PENDING);
    expect([...order.from(undefined)]).toEqual(ids.slice(3 * MAX_PENDING).sort(compareIds));
    expect(order.pendingChanges).toBe(0);
  });
});
