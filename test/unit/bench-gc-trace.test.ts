import { describe, expect, it } from 'vitest';
import { parseGcLine } from '../../bench/gc-trace.js';

/**
 * The scale benchmark counts the major collections inside its GetToken rounds from V8's trace
 * (lines as Node 20's V8 prints them): a parser that missed them would report a CPU ratio as if
 * the larger heap had not collected at all.
 */
describe('parseGcLine (bench: major collections from --trace-gc)', () => {
  it('reads a mark-compact, a reducing one and a scavenge from --trace-gc', () => {
    expect(
      parseGcLine(
        '[4223:0x153d7ef0]   329612 ms: Mark-Compact 470.2 (512.0) -> 117.3 (160.1) MB, 1540.70 / 0.00 ms  (+ 159.4 ms in 43 steps since start of marking, biggest step 33.5 ms, walltime since start of marking 1798 ms) (average mu = 0.992, current mu = 0.992) finalize incremental marking via task; GC in old space requested',
      ),
    ).toEqual({ atMs: 329612, major: true, pauseMs: 1540.7 });
    expect(
      parseGcLine(
        '[4223:0x153d7ef0]   277137 ms: Mark-Compact (reduce) 120.1 (150.0) -> 110.0 (140.0) MB, 57.20 / 0.00 ms  (average mu = 0.99, current mu = 0.9) memory reducer',
      ),
    ).toEqual({ atMs: 277137, major: true, pauseMs: 57.2 });
    expect(
      parseGcLine(
        '[4223:0x153d7ef0]     7140 ms: Scavenge 40.1 (52.0) -> 33.2 (52.0) MB, 2.31 / 0.00 ms  (average mu = 0.998, current mu = 0.998) allocation failure;',
      ),
    ).toEqual({ atMs: 7140, major: false, pauseMs: 2.31 });
  });

  it('reads --trace-gc-nvp lines and ignores everything else', () => {
    expect(
      parseGcLine(
        '[4223:0x153d7ef0]   162898 ms: pause=585.3 mutator=6033.5 gc=mc reduce_memory=1 time_to_safepoint=0.00',
      ),
    ).toEqual({ atMs: 162898, major: true, pauseMs: 585.3 });
    expect(
      parseGcLine('[4223:0x153d7ef0]     875 ms: pause=8.6 mutator=112.7 gc=s reduce_memory=0'),
    ).toEqual({ atMs: 875, major: false, pauseMs: 8.6 });
    expect(parseGcLine('{"level":30,"msg":"rpc"}')).toBeUndefined();
    expect(parseGcLine('Memory allocator,       used:  12345 KB, available: 1 KB')).toBeUndefined();
  });
});
