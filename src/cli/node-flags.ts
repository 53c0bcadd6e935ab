/**
 * Node flags `wxtoken serve` is meant to run with. The image's entrypoint and the first line of
 * bin/wxtoken.js pass them (a test checks both); only the command line can: NODE_OPTIONS refuses
 * V8 flags like these, and V8 reads them once, when it sets up the heap.
 *
 * --no-memory-reducer: when the process goes quiet after allocating (a leader between two
 * refresh waves), V8's memory reducer runs up to three extra full collections that compact the
 * heap to hand memory back to the system. With 100,000 authorizers each of those paused the
 * event loop 30-56 ms (GC traces of the scale-authorizers benchmark between waves, 20-35 ms of
 * it moving objects): every GetToken waited that long. The heap grows back with the next wave
 * anyway; the ordinary collections still run, and still compact fragmented pages.
 *
 * --heap-growing-percent=80: after each full collection V8 lets the old generation grow to
 * 1.8 times what survived before the next one (by default up to 4 times on a machine with this
 * much memory). Every GetToken call leaves ~0.5 KB that only a full collection frees (Node's
 * HTTP/2 stream objects, held by handles a scavenge cannot clear: a bare node:http2 server
 * does the same), and that collection's pause grows with what piled up. With 100,000
 * authorizers (~120 MB live) under sustained GetToken load, the default let ~350 MB pile up:
 * a 1.5 s pause, RSS past 1 GB. With 1.8 the same load gave pauses of 37-413 ms and RSS peaks
 * of 446-530 MB over the whole benchmark, at about the same CPU per call (scale-authorizers;
 * docs/benchmarks.md). A small server collects a little more often: 0-4 % more CPU per call
 * under saturating load, within the noise of bench/flag-ab.ts.
 *
 * --v8-pool-size=1: one V8 helper thread instead of Node's four. During a full collection's
 * concurrent marking every helper is busy, and four of them beside the main thread on a 2-core
 * leader took the cores from the event loop: in a refresh wave at 100,000 authorizers the main
 * thread waited up to 47 ms at a time for a core (helpers up to 73 ms; per-thread run-queue
 * waits), and the loop stalled 50-100 ms. With one helper the main thread keeps a core: the same
 * wave's longest wait was 27 ms and no 10 s window went over 50 ms. The one helper still marks
 * concurrently and sweeps; a ~150 MB heap does not need more.
 */
export const SERVE_NODE_FLAGS: readonly string[] = [
  '--no-memory-reducer',
  '--heap-growing-percent=80',
  '--v8-pool-size=1',
];

/**
 * The flags of SERVE_NODE_FLAGS this process was started without. One given with another value
 * (`--v8-pool-size=4` on a machine with cores to spare) is the operator's choice, not missing.
 */
export function missingServeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  const names = new Set(execArgv.map(flagName));
  return SERVE_NODE_FLAGS.filter((flag) => !names.has(flagName(flag)));
}

function flagName(arg: string): string {
  const eq = arg.indexOf('=');
  return eq < 0 ? arg : arg.slice(0, eq);
}
