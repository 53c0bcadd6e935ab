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
 * under saturating load, within the noise of bench/flag-ab.ts. This is the upper bound: serve
 * lowers the percent for a large heap after each full collection (heap-growth.ts), so that a
 * ~120 MB leader collects after ~64 MB of garbage, not ~100.
 *
 * --v8-pool-size=1: one V8 helper thread instead of Node's four. During a full collection's
 * concurrent marking every helper is busy, and four of them beside the main thread on a 2-core
 * leader took the cores from the event loop: in a refresh wave at 100,000 authorizers the main
 * thread waited up to 47 ms at a time for a core (helpers up to 73 ms; per-thread run-queue
 * waits), and the loop stalled 50-100 ms. With one helper the main thread keeps a core: the same
 * wave's longest wait was 27 ms and no 10 s window went over 50 ms. The one helper still marks
 * concurrently and sweeps; a ~150 MB heap does not need more.
 *
 * --no-allocation-site-pretenuring: V8 watches how many objects from each allocation site
 * survive young collections and, past a threshold, allocates that site's objects straight in
 * the old generation from then on. When it decided so for a site on the GetToken path (an object
 * made per call that happened to survive, e.g. while a collection met many calls in flight),
 * every later call's object was born old, its pointers into the young generation kept the whole
 * call (grpc-js's call, Node's stream, buffers) alive through every young collection, and the
 * process promoted 5.4-5.8 KB a call instead of 0.5 for the rest of its life, at up to twice the
 * CPU per call. By chance per start: 5 of 12 starts of a 100,000-authorizer server with
 * `--heap-growing-percent=40`, 6 of 14 starts measured before the session's set of pending
 * streams was renewed (src/grpc/young-stream-maps.ts); with this flag 0 of 8 (docs/benchmarks.md,
 * ninth session).
 */
export const SERVE_NODE_FLAGS: readonly string[] = [
  '--no-memory-reducer',
  '--heap-growing-percent=80',
  '--v8-pool-size=1',
  '--no-allocation-site-pretenuring',
];

/**
 * Environment `wxtoken serve` is meant to start with (bin/wxtoken.js's first line and the image
 * set it; a test checks both). glibc reads its tunables once, at process start.
 *
 * GLIBC_TUNABLES=glibc.malloc.hugetlb=1: glibc madvises its heap and every mapping of 2 MB or
 * more for transparent huge pages (the kernel's `madvise` mode, the common default). GetToken
 * reads its reply from a table off the V8 heap (src/shared/byte-table.ts, 4 MB chunks); with
 * 100,000 authorizers each call lands on a random page of ~27 MB, and on a virtual machine every
 * 4 KB TLB miss is a nested page walk. In alternating rounds on the scale benchmark's rig a
 * 100,000-authorizer leader with the tunable paid 0.88-0.97 times the CPU per GetToken of the
 * same leader without it, and a 1-app server 1.03 (within the noise; docs/benchmarks.md, twelfth
 * session). Memory: glibc's heap grows and shrinks by 2 MB steps. Where the kernel's mode is
 * `never` or glibc is older than 2.35 it changes nothing.
 */
export const SERVE_ENV: Readonly<Record<string, string>> = {
  GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1',
};

/**
 * The SERVE_ENV settings this process was started without, as `NAME=VALUE`. A tunable of the same
 * name given with another value (`glibc.malloc.hugetlb=0`) is the operator's choice, not missing.
 */
export function missingServeEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return Object.entries(SERVE_ENV)
    .filter(([name, value]) => {
      const tunable = value.slice(0, value.indexOf('=') + 1);
      return !(env[name] ?? '').split(':').some((t) => t.startsWith(tunable));
    })
    .map(([name, value]) => `${name}=${value}`);
}

/** SERVE_ENV as a shell would take it before a command: `NAME=VALUE NAME=VALUE`. */
export function serveEnvAssignments(): string {
  return Object.entries(SERVE_ENV)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
}

/**
 * The flags of SERVE_NODE_FLAGS this process was started without. One given with another value
 * (`--v8-pool-size=4` on a machine with cores to spare) is the operator's choice, not missing.
 */
export function missingServeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  const names = new Set(execArgv.map(flagName));
  return SERVE_NODE_FLAGS.filter((flag) => !names.has(flagName(flag)));
}

/** `--v8-pool-size=4` → `--v8-pool-size`; `--memory-reducer` and `--no-memory-reducer` alike. */
function flagName(arg: string): string {
  const eq = arg.indexOf('=');
  const name = eq < 0 ? arg : arg.slice(0, eq);
  return name.startsWith('--no-') ? `--${name.slice(5)}` : name;
}
