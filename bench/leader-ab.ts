/**
 * An experiment by hand, not a scenario of `npm run bench`: what Node flags, random reads or the
 * way of loading cost a leader of many authorizers, beside a 1-app server (docs/benchmarks.md,
 * sixteenth session, for what it found). Each arm of AB_ARMS (`name:flags;name:flags`, e.g.
 * `a:;b:--heap-growing-percent=136`) is a leader of AB_AUTHORIZERS (default 100,000) authorizers
 * of its own platform and simulator, filled the way the scale-authorizers scenario fills one
 * (RecoverAuthorizers, then every token from an empty store; tokens live 7,200 s, so no wave
 * comes). Then every server is loaded until a major collection has run, and AB_ROUNDS rounds
 * of GetToken (1 s of warm-up, 5 s recorded) go to every server in turn (the order rotates each
 * round, so the machine's drift falls on all of them alike). Prints each round, the median of
 * the per-round ratios against the 1-app server, and each server's CPU per call over the whole
 * phase (idle CPU taken out), as the scenario's target row counts it; with it where that CPU
 * went (user and system time of the main thread and of the helpers, minor page faults a call)
 * and, with AB_TRACE_DIR, each server's GC trace lines in a file of its own.
 * `npm run bench:build && AB_ARMS='a:;b:--heap-growing-percent=136' node dist-bench/bench/leader-ab.js`
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { componentClient, recoverAuthorizers } from '../src/cli/component-client.js';
import { forceRefresh, getToken, tokenClient } from '../src/cli/grpc-client.js';
import { freePort } from '../test/support/free-port.js';
import { newTestComponent } from '../test/support/component-sim.js';
import {
  cpuSeconds,
  cpuSecondsByThread,
  LOAD_CORE,
  minorFaults,
  pinSelf,
  unpinSelf,
} from './procs.js';
import { GcTrace } from './gc-trace.js';
import { authorizerSource, drainGarbage, healthyTokens } from './scale-authorizers.js';
import { ScaleRig, type ScaleServer } from './scale-rig.js';
import { loadRound, quiesce, type Round } from './scale-throughput.js';
import { median } from './stats.js';

const N = Number(process.env.AB_AUTHORIZERS ?? 100_000);
const ROUNDS = Number(process.env.AB_ROUNDS ?? 12);
/** Node flags for the 1-app server too (e.g. `--perf-basic-prof` on every server for `perf`). */
const ONE_FLAGS = (process.env.AB_ONE_FLAGS ?? '').split(' ').filter(Boolean);
/**
 * Leaders (by name, comma-separated) whose rounds ask for one authorizer only, the same record
 * every call: what reading 100,000 replies at random costs, apart from the larger process.
 */
const ONE_ID = new Set((process.env.AB_ONE_ID ?? '').split(',').filter(Boolean));
/** A directory for each server's GC trace lines (`<name>.gc`), e.g. with `--trace-gc-nvp` in flags. */
const TRACE_DIR = process.env.AB_TRACE_DIR;
const traceFile = (name: string): string | undefined => TRACE_DIR && `${TRACE_DIR}/${name}.gc`;
/**
 * 1-app servers (by name) that first refresh their token EXERCISE_REFRESHES times, one after the
 * other (ForceRefresh with the current token: a fetch from the simulator each), and serve a
 * scrape of /metrics every 10: the kinds of work a leader's startup did before its rounds.
 */
const EXERCISE = new Set((process.env.AB_EXERCISE ?? '').split(',').filter(Boolean));
const EXERCISE_REFRESHES = Number(process.env.AB_EXERCISE_REFRESHES ?? 1000);
/** Each round loads every server at once (they share the server core) instead of in turn. */
const TOGETHER = process.env.AB_TOGETHER === '1';
const ARMS = (process.env.AB_ARMS ?? 'a:;b:--heap-growing-percent=136').split(';').map((arm) => {
  const at = arm.indexOf(':');
  return {
    name: arm.slice(0, at),
    flags: arm
      .slice(at + 1)
      .split(' ')
      .filter(Boolean),
  };
});

interface Subject {
  readonly name: string;
  readonly server: ScaleServer;
  readonly trace: GcTrace;
  readonly ids: readonly string[];
  readonly rounds: Round[];
  idle: number;
}

async function leader(rigs: ScaleRig[], name: string, flags: string[]): Promise<Subject> {
  const component = newTestComponent(`wxabcomponent${name}`);
  const source = authorizerSource(await freePort(), component);
  const rig = new ScaleRig(50, source);
  rigs.push(rig);
  const placeholders = Array.from({ length: N }, (_, i) => `wxplaceholder${i}`);
  const { url } = await rig.startSim(placeholders, 7200);
  const server = await rig.startServer(name, url, [], ['--trace-gc', ...flags]);
  const trace = new GcTrace(server, traceFile(name));
  await source.sim!.backend.components.push(component.componentAppId, {
    infoType: 'component_verify_ticket',
  });
  const client = componentClient(server.grpcAddr);
  const t0 = Date.now();
  await recoverAuthorizers(client, component.componentAppId);
  client.close();
  while ((await healthyTokens(server.metricsUrl)) < N) {
    if (Date.now() - t0 > 600_000) throw new Error(`${name}: authorizers without a token`);
    await sleep(1000);
  }
  console.log(`${name} (${flags.join(' ') || 'no extra flags'}): filled in ${Date.now() - t0} ms`);
  const ids = ONE_ID.has(name) ? source.ids.slice(0, 1) : source.ids;
  return { name, server, trace, ids, rounds: [], idle: 0 };
}

async function exercise(s: Subject): Promise<void> {
  const c = tokenClient(s.server.grpcAddr);
  try {
    let token = (await getToken(c, s.ids[0]!)).access_token;
    for (let i = 0; i < EXERCISE_REFRESHES; i++) {
      const r = await forceRefresh(c, { app_id: s.ids[0]!, stale_token: token, reason: '' });
      token = r.token?.access_token ?? token;
      if (i % 10 === 0) await (await fetch(s.server.metricsUrl)).text();
    }
    console.log(`${s.name}: exercised, ${EXERCISE_REFRESHES} refreshes`);
  } finally {
    c.close();
  }
}

async function main(): Promise<void> {
  pinSelf(LOAD_CORE, true);
  const rigs: ScaleRig[] = [];
  try {
    // Arms named one… are more 1-app servers (e.g. the same flags as a leader's, to compare
    // the two pairs in the same stretch of the machine).
    const leaders = await Promise.all(
      ARMS.filter((arm) => !arm.name.startsWith('one')).map((arm) =>
        leader(rigs, arm.name, arm.flags),
      ),
    );
    const oneRig = new ScaleRig(0);
    rigs.push(oneRig);
    const one = ['wxscaleone000001'];
    const { url } = await oneRig.startSim(one, 7200);
    const oneArms = [
      { name: 'one', flags: ONE_FLAGS },
      ...ARMS.filter((arm) => arm.name.startsWith('one')),
    ];
    const ones: Subject[] = [];
    for (const arm of oneArms) {
      const server = await oneRig.startServer(arm.name, url, one, ['--trace-gc', ...arm.flags]);
      ones.push({
        name: arm.name,
        server,
        trace: new GcTrace(server, traceFile(arm.name)),
        ids: one,
        rounds: [],
        idle: 0,
      });
    }
    const subjects: Subject[] = [...ones, ...leaders];
    for (const s of ones.filter((o) => EXERCISE.has(o.name))) await exercise(s);
    for (const s of subjects) {
      const warm = await drainGarbage(s.server, s.trace, s.ids, 5_000, 60_000);
      await quiesce(s.server.proc.pid);
      const c0 = cpuSeconds(s.server.proc.pid);
      await sleep(5_000);
      s.idle = (cpuSeconds(s.server.proc.pid) - c0) / 5;
      console.log(
        `${s.name}: warm-up ${warm.loadMs} ms (major GC ${warm.pauseMs?.toFixed(0) ?? 'none'}), idle ${(s.idle * 100).toFixed(1)} % of a core`,
      );
    }
    console.log(
      `rounds start: pids ${subjects.map((s) => `${s.name} ${s.server.proc.pid}`).join(', ')}`,
    );
    const t0 = Date.now();
    const cpu0 = subjects.map((s) => cpuSeconds(s.server.proc.pid));
    const threads0 = subjects.map((s) => cpuSecondsByThread(s.server.proc.pid));
    const faults0 = subjects.map((s) => minorFaults(s.server.proc.pid));
    const age0 = subjects.map((s) => t0 - s.server.spawnedAt);
    for (let r = 0; r < ROUNDS; r++) {
      if (TOGETHER) {
        const got = await Promise.all(
          subjects.map((s) => loadRound(s.server, s.ids, 5_000, 1_000)),
        );
        got.forEach((round, i) => subjects[i]!.rounds.push(round));
      } else {
        const order = subjects.map((_, i) => subjects[(i + r) % subjects.length]!);
        for (const s of order) s.rounds.push(await loadRound(s.server, s.ids, 5_000, 1_000));
      }
      console.log(
        `round ${r + 1}: ` +
          subjects
            .map(
              (s) =>
                `${s.name} ${s.rounds[r]!.cpuUsPerCall.toFixed(1)} µs (${(s.rounds[r]!.cps / 1000).toFixed(2)}k/s)`,
            )
            .join(', '),
      );
    }
    await sleep(1_000);
    const phaseMs = Date.now() - t0;
    const sum = (xs: number[]): number => xs.reduce((t, x) => t + x, 0);
    const whole = subjects.map((s, i) => {
      const cpu = cpuSeconds(s.server.proc.pid) - cpu0[i]!;
      const idleCpu = (s.idle * (phaseMs - sum(s.rounds.map((r) => r.loadMs)))) / 1000;
      const calls = sum(s.rounds.map((r) => r.finished));
      const majors = s.trace.majorsBetween(age0[i]!, Date.now() - s.server.spawnedAt);
      const perCall = (sec: number): string => ((sec / calls) * 1e6).toFixed(1);
      const threads = [...cpuSecondsByThread(s.server.proc.pid)]
        .map(([name, t]) => {
          const from = threads0[i]!.get(name) ?? { user: 0, sys: 0 };
          return { name, user: t.user - from.user, sys: t.sys - from.sys };
        })
        .filter((t) => t.user + t.sys >= 0.05)
        .map((t) => `${t.name} ${perCall(t.user)} user + ${perCall(t.sys)} sys`)
        .join(', ');
      const faults = (minorFaults(s.server.proc.pid) - faults0[i]!) / calls;
      return {
        threads,
        faults,
        usPerCall: ((cpu - idleCpu) / calls) * 1e6,
        majors: majors.length,
        longest: Math.max(0, ...majors.map((e) => e.pauseMs)),
      };
    });
    const base = subjects[0]!;
    for (const [i, s] of subjects.entries()) {
      const pairs = median(s.rounds.map((r, k) => r.cpuUsPerCall / base.rounds[k]!.cpuUsPerCall));
      console.log(
        `${s.name}: whole phase ${whole[i]!.usPerCall.toFixed(1)} µs a call, ratio ${(whole[i]!.usPerCall / whole[0]!.usPerCall).toFixed(3)}, median of rounds ${pairs.toFixed(3)}, ${whole[i]!.majors} major GCs (longest ${whole[i]!.longest.toFixed(0)} ms), growth ${JSON.stringify(s.trace.growth().at(-1) ?? null)}; by thread (µs a call, idle in) ${whole[i]!.threads}; ${whole[i]!.faults.toFixed(2)} minor faults a call`,
      );
    }
  } finally {
    for (const rig of rigs.reverse()) await rig.close();
    unpinSelf();
  }
}
await main();
