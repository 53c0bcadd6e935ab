import { fileURLToPath } from 'node:url';
import { SERVE_NODE_FLAGS } from '../src/cli/node-flags.js';
import { spawnProcess, waitForOutput, type Spawned } from '../test/support/spawned.js';
import { GcTrace } from './gc-trace.js';
import { KEEP_OUTPUT_CHARS, SERVER_CORE } from './procs.js';
import { perSecond, type BenchRow, type Scenario } from './report.js';
import type { ScaleServer } from './scale-rig.js';
import { loadRound, type Round } from './scale-throughput.js';
import { median } from './stats.js';

const ECHO_SERVER = fileURLToPath(new URL('./echo-server.js', import.meta.url));
const NAME = 'stream-maps';
const APP = 'wxbench000000001';

/**
 * What renewing each HTTP/2 session's map of open streams (src/grpc/young-stream-maps.ts) buys:
 * two bare grpc-js GetToken servers (echo-server.ts, the launchers' Node flags, `--trace-gc`), the
 * second with the renewal, under the same Node generator (4 channels × 32 in flight) in
 * alternating 5 s rounds on the server core. Per server: the garbage promoted per call (from V8's
 * trace), the collections' cost, CPU per call; the ratios are the renewing server's over the
 * plain one's in the same run. Bare servers, so the figure is grpc-js's and Node's, not wxtoken's
 * own code (the scale-authorizers rounds carry the renewal inside wxtoken serve).
 */
export const streamMapsScenario: Scenario = {
  name: NAME,
  title:
    'GetToken on bare grpc-js with and without renewing HTTP/2 stream maps: promotion, GC, CPU',
  run: async (ctx) => {
    const started: Spawned[] = [];
    try {
      const start = async (young: boolean) => {
        const args = [...SERVE_NODE_FLAGS, '--trace-gc', ECHO_SERVER];
        const proc = spawnProcess(
          process.execPath,
          young ? [...args, '--young-stream-maps'] : args,
          {
            core: SERVER_CORE,
            keepChars: KEEP_OUTPUT_CHARS,
          },
        );
        started.push(proc);
        const spawnedAt = Date.now();
        const port = (await waitForOutput(proc, /listening on 127\.0\.0\.1:(\d+)/))[1]!;
        const server: ScaleServer = {
          proc,
          grpcAddr: `127.0.0.1:${port}`,
          metricsUrl: '',
          spawnedAt,
        };
        return { server, trace: new GcTrace(server) };
      };
      const servers = { plain: await start(false), young: await start(true) };
      const names = ['plain', 'young'] as const;
      for (const n of names) await loadRound(servers[n].server, [APP], 5_000, 0); // JIT, heap
      const pairs = ctx.quick ? 2 : 8;
      const durationMs = ctx.quick ? 3_000 : 5_000; // recorded, after each round's 1 s warm-up
      const got = { plain: [] as Round[], young: [] as Round[] };
      const promotedMb = { plain: 0, young: 0 };
      const youngMs = { plain: 0, young: 0 };
      const majors = { plain: 0, young: 0 };
      for (let r = 0; r < pairs; r++) {
        for (const n of r % 2 ? (['young', 'plain'] as const) : names) {
          const { server, trace } = servers[n];
          const from = Date.now() - server.spawnedAt + 1_000; // after loadRound's warm-up
          const round = await loadRound(server, [APP], durationMs, 1_000);
          const to = Date.now() - server.spawnedAt;
          got[n].push(round);
          promotedMb[n] += trace.promotedMb(from, to);
          const events = trace.between(from, to);
          const roundMajors = events.filter((e) => e.major).length;
          youngMs[n] += events.filter((e) => !e.major).reduce((t, e) => t + e.pauseMs, 0);
          majors[n] += roundMajors;
          ctx.log(
            `round ${r + 1} ${n}: ${perSecond(round.cps)}, ${round.cpuUsPerCall.toFixed(1)} µs CPU/call, ` +
              `${roundMajors} major GCs`,
          );
        }
      }
      const calls = (n: 'plain' | 'young'): number =>
        (got[n].reduce((t, r) => t + r.cps, 0) * durationMs) / 1000;
      const cpuPerCall = (n: 'plain' | 'young'): number =>
        got[n].reduce((t, r) => t + r.cpuUsPerCall * r.cps, 0) /
        got[n].reduce((t, r) => t + r.cps, 0);
      const paired = (f: (r: Round) => number): number =>
        median(got.young.map((y, i) => f(y) / f(got.plain[i]!)));
      const per = (n: 'plain' | 'young'): string =>
        `${((promotedMb[n] * 1024) / calls(n)).toFixed(2)} KB promoted, ` +
        `${((youngMs[n] * 1000) / calls(n)).toFixed(1)} ms of young collections per 1,000 calls, ` +
        `${((majors[n] * 100_000) / calls(n)).toFixed(1)} major per 100,000 calls, ` +
        `${cpuPerCall(n).toFixed(1)} µs CPU (${perSecond(median(got[n].map((r) => r.cps)))})`;
      const row = (metric: string, value: string, target?: string, met?: boolean): BenchRow => ({
        scenario: NAME,
        metric,
        value,
        ...(target === undefined ? {} : { target }),
        ...(met === undefined ? {} : { met }),
      });
      return [
        row('per GetToken, plain grpc-js server (all rounds)', per('plain')),
        row('per GetToken, the same with the renewal (all rounds)', per('young')),
        row(
          'garbage promoted per call, renewing / plain',
          (
            (promotedMb.young * calls('plain')) /
            Math.max(1e-9, promotedMb.plain * calls('young'))
          ).toFixed(2),
        ),
        row(
          'server CPU per call, renewing / plain (all rounds)',
          (cpuPerCall('young') / cpuPerCall('plain')).toFixed(3),
        ),
        row(
          `server CPU per call, renewing / plain (median of ${pairs} pairs)`,
          paired((r) => r.cpuUsPerCall).toFixed(3),
        ),
        row(
          `calls/s, renewing / plain (median of ${pairs} pairs; the Node generator may cap both)`,
          paired((r) => r.cps).toFixed(3),
        ),
        row(
          'GetToken errors under load',
          String([...got.plain, ...got.young].reduce((t, r) => t + r.errors, 0)),
          '0',
          [...got.plain, ...got.young].every((r) => r.errors === 0),
        ),
      ];
    } finally {
      await Promise.all(started.map((p) => p.stop()));
    }
  },
};
