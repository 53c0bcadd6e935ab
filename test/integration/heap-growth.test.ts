import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SERVE_NODE_FLAGS } from '../../src/cli/node-flags.js';
import { assertBuilt, ROOT } from '../support/processes.js';

const run = promisify(execFile);

/**
 * A real V8: a process with ~50 MB live allocates ~200 MB of old-generation garbage and counts
 * its full collections, with the launchers' flags, once as they leave it and once with
 * boundHeapGrowth holding the garbage between two full collections to 8 MB. Counted, not
 * timed: the count follows from the limits V8 sets.
 */
const CHILD = `
import { constants, PerformanceObserver } from 'node:perf_hooks';
const { boundHeapGrowth } = await import(process.env.MODULE);
const MB = 1024 * 1024;
const changes = [];
const live = [];
for (let i = 0; i < 600000; i++) live.push({ i, s: 'live-' + i });
if (process.env.BOUND === '1') {
  boundHeapGrowth((percent, bytes) => changes.push({ percent, mb: Math.round(bytes / MB) }),
    { budgetBytes: 8 * MB, minPercent: 10, maxPercent: 80, hysteresisPercent: 5 });
}
const tick = () => new Promise((resolve) => setImmediate(resolve));
// Two full collections: the first sets the percent, the second computes a limit from it.
globalThis.gc(); await tick(); await tick(); globalThis.gc(); await tick();
let majors = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
}).observe({ entryTypes: ['gc'] });
// 8 KB arrays kept in a ring of 1,024: each outlives two young collections (1 MB semi-spaces),
// is promoted, then dropped: ~200 MB of old-generation garbage.
const ring = new Array(1024);
for (let i = 0; i < 25600; i++) {
  ring[i % 1024] = new Array(2048).fill(i);
  if (i % 64 === 0) await tick();
}
await tick(); await tick();
console.log(JSON.stringify({ majors, changes, live: live.length, ring: ring.length }));
`;

async function collections(bound: boolean): Promise<{
  majors: number;
  changes: { percent: number; mb: number }[];
}> {
  const { stdout } = await run(
    process.execPath,
    [
      ...SERVE_NODE_FLAGS,
      '--expose-gc',
      '--max-semi-space-size=1',
      '--input-type=module',
      '-e',
      CHILD,
    ],
    {
      env: {
        ...process.env,
        MODULE: pathToFileURL(join(ROOT, 'dist', 'cli', 'heap-growth.js')).href,
        BOUND: bound ? '1' : '0',
      },
    },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as never;
}

describe('boundHeapGrowth against a real V8', () => {
  it('a large live heap collects after a bounded amount of garbage, not in proportion to it', async () => {
    assertBuilt();
    const [plain, bounded] = await Promise.all([collections(false), collections(true)]);
    expect(plain.changes).toEqual([]);
    // ~50-60 MB live and an 8 MB budget: 13-16 % (80 % before), down to the floor when a
    // reading also counts garbage allocated since the collection.
    expect(bounded.changes.length).toBeGreaterThan(0);
    for (const { percent } of bounded.changes) {
      expect(percent).toBeGreaterThanOrEqual(10);
      expect(percent).toBeLessThanOrEqual(20);
    }
    // ~40 MB of garbage a cycle before, ~8 MB after: several times the full collections.
    expect(plain.majors).toBeGreaterThan(0);
    expect(bounded.majors).toBeGreaterThanOrEqual(2.5 * plain.majors);
  }, 60_000);
});
