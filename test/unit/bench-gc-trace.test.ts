import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { GcTrace, parseGcLine } from '../../bench/gc-trace.js';
import type { ScaleServer } from '../../bench/scale-rig.js';

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
    ).toEqual({
      atMs: 329612,
      major: true,
      pauseMs: 1540.7,
      heapMb: { before: 470.2, after: 117.3 },
    });
    expect(
      parseGcLine(
        '[4223:0x153d7ef0]   277137 ms: Mark-Compact (reduce) 120.1 (150.0) -> 110.0 (140.0) MB, 57.20 / 0.00 ms  (average mu = 0.99, current mu = 0.9) memory reducer',
      ),
    ).toEqual({
      atMs: 277137,
      major: true,
      pauseMs: 57.2,
      heapMb: { before: 120.1, after: 110.0 },
    });
    expect(
      parseGcLine(
        '[4223:0x153d7ef0]     7140 ms: Scavenge 40.1 (52.0) -> 33.2 (52.0) MB, 2.31 / 0.00 ms  (average mu = 0.998, current mu = 0.998) allocation failure;',
      ),
    ).toEqual({ atMs: 7140, major: false, pauseMs: 2.31, heapMb: { before: 40.1, after: 33.2 } });
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

describe('GcTrace.promotedMb (bench stream-maps: garbage promoted per call)', () => {
  it('adds what each young collection in the window left beyond the collection before it', async () => {
    const stdout = new PassThrough();
    const server = { proc: { proc: { stdout } } } as unknown as ScaleServer;
    const trace = new GcTrace(server);
    const line = (atMs: number, kind: string, before: number, after: number): string =>
      `[1:0x1]   ${atMs} ms: ${kind} ${before} (60.0) -> ${after} (60.0) MB, 1.00 / 0.00 ms  task;\n`;
    stdout.write(
      line(100, 'Scavenge', 40, 30) + // before the window: the base
        line(200, 'Scavenge', 42, 32) + // +2
        line(300, 'Mark-Compact', 50, 20) + // a major one: not promotion, and the new base
        line(400, 'Scavenge', 33, 21) + // +1
        line(500, 'Scavenge', 33, 20.5) + // shrank: counts 0
        '{"level":30,"msg":"a log line"}\n' +
        line(900, 'Scavenge', 40, 29), // after the window
    );
    await new Promise((resolve) => setImmediate(resolve)); // the stream's 'data' events
    expect(trace.promotedMb(150, 600)).toBeCloseTo(3);
    expect(trace.between(150, 600).map((e) => e.major)).toEqual([false, true, false, false]);
  });
});
