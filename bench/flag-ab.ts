/**
 * An experiment by hand, not a scenario of `npm run bench`: what extra Node flags cost a small
 * server. Two 1-app servers (the launchers' flags on both, AB_FLAGS on the second), alternating
 * 5 s GetToken rounds (AB_PAIRS pairs); prints each pair's CPU per call and the ratios.
 * `npm run bench:build && node dist-bench/bench/flag-ab.js`. The default AB_FLAGS,
 * `--heap-growing-percent=0`, gives the second server V8's own heap growth (the last value wins).
 */
import { ScaleRig } from './scale-rig.js';
import { sweepGetToken } from './scale-probes.js';
import { loadRound } from './scale-throughput.js';
import { median } from './stats.js';

const FLAGS = (process.env.AB_FLAGS ?? '--heap-growing-percent=0').split(' ').filter(Boolean);
const PAIRS = Number(process.env.AB_PAIRS ?? 10);
async function main(): Promise<void> {
  const rig = new ScaleRig(0);
  try {
    const one = ['wxscaleone000001'];
    const { url } = await rig.startSim(one, 7200);
    const a = await rig.startServer('a', url, one, []);
    const b = await rig.startServer('b', url, one, FLAGS);
    for (const s of [a, b]) {
      if ((await sweepGetToken(s.grpcAddr, one, 30_000)).served !== 1) throw new Error('no token');
      await loadRound(s, one, 5_000, 0);
    }
    const ra: number[] = [];
    const rb: number[] = [];
    const ca: number[] = [];
    const cb: number[] = [];
    for (let r = 0; r < PAIRS; r++) {
      for (const name of r % 2 ? ['b', 'a'] : ['a', 'b']) {
        const s = name === 'a' ? a : b;
        const round = await loadRound(s, one, 5_000, 1_000);
        (name === 'a' ? ra : rb).push(round.cpuUsPerCall);
        (name === 'a' ? ca : cb).push(round.cps);
      }
      console.log(
        `pair ${r + 1}: a ${ra[r]!.toFixed(1)} µs (${(ca[r]! / 1000).toFixed(2)}k/s), b ${rb[r]!.toFixed(1)} µs (${(cb[r]! / 1000).toFixed(2)}k/s), b/a ${(rb[r]! / ra[r]!).toFixed(3)}`,
      );
    }
    const am = (u: number[], c: number[]) =>
      u.reduce((t, x, i) => t + x * c[i]!, 0) / c.reduce((t, x) => t + x, 0);
    console.log(
      `flags ${FLAGS.join(' ')}: median of pair ratios ${median(rb.map((x, i) => x / ra[i]!)).toFixed(3)}, all rounds ${(am(rb, cb) / am(ra, ca)).toFixed(3)}, calls/s ${median(cb.map((x, i) => x / ca[i]!)).toFixed(3)}`,
    );
  } finally {
    await rig.close();
  }
}
await main();
