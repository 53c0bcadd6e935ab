import { describe, expect, it } from 'vitest';
import {
  governsHeapGrowth,
  growingPercent,
  HEAP_GROWTH_POLICY,
} from '../../src/cli/heap-growth.js';
import { SERVE_NODE_FLAGS } from '../../src/cli/node-flags.js';

const MB = 1024 * 1024;

// docs/third-party.md "Sizing a leader": the garbage between two full collections is bounded in
// bytes, not in proportion to the live heap.
describe('the heap growth serve sets after each full collection', () => {
  it('keeps the launchers’ percent for a small heap and bounds the growth of a large one', () => {
    const { budgetBytes, maxPercent, minPercent } = HEAP_GROWTH_POLICY;
    expect(growingPercent(25 * MB)).toBe(maxPercent);
    expect(growingPercent(budgetBytes / (maxPercent / 100))).toBe(maxPercent);
    // A 100,000-authorizer leader (~120 MB live) lets ~64 MB pile up, not ~96.
    const at120 = growingPercent(120 * MB);
    expect(at120).toBe(53);
    expect((120 * MB * at120) / 100).toBeLessThanOrEqual(budgetBytes);
    expect(growingPercent(1024 * MB)).toBe(minPercent);
    expect(growingPercent(0)).toBe(maxPercent);
    expect(growingPercent(Number.NaN)).toBe(maxPercent);
  });

  it('its upper bound is the launchers’ own flag', () => {
    expect(SERVE_NODE_FLAGS).toContain(`--heap-growing-percent=${HEAP_GROWTH_POLICY.maxPercent}`);
  });

  it('leaves a value the operator chose alone (the last one given wins, as in V8)', () => {
    expect(governsHeapGrowth([...SERVE_NODE_FLAGS])).toBe(true);
    expect(governsHeapGrowth([])).toBe(true);
    expect(governsHeapGrowth([...SERVE_NODE_FLAGS, '--heap-growing-percent=50'])).toBe(false);
    expect(governsHeapGrowth(['--heap_growing_percent=30'])).toBe(false);
    expect(governsHeapGrowth(['--heap-growing-percent=50', ...SERVE_NODE_FLAGS])).toBe(true);
  });
});
