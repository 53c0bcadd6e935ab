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
 */
export const SERVE_NODE_FLAGS: readonly string[] = ['--no-memory-reducer'];

/** The flags of SERVE_NODE_FLAGS this process was started without. */
export function missingServeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return SERVE_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
