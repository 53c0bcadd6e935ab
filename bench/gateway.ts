import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { loginClient } from '../test/support/login-client.js';
import { startServeFile, startSim } from '../test/support/processes.js';
import { SimControl } from '../test/support/sim-control.js';
import { spawnProcess, waitForOutput, type Spawned } from '../test/support/spawned.js';
import { HttpClient, runHttpLoad, wechatOk, type HttpLoadResult } from './http-load.js';
import {
  cpuSeconds,
  KEEP_OUTPUT_CHARS,
  LOAD_CORE,
  pinSelf,
  SERVER_CORE,
  unpinSelf,
} from './procs.js';
import {
  ms,
  perSecond,
  quantiles,
  type BenchContext,
  type BenchRow,
  type Scenario,
} from './report.js';
import { median } from './stats.js';

/** Compiled next to this file (dist-bench/bench/) by `npm run bench:build`. */
const BASELINES = fileURLToPath(new URL('./gateway-baselines.js', import.meta.url));

const NAME = 'gateway';
const APP = 'wxbenchgateway01';
const SECRET = 'bench-gateway-app-secret-7d31';
/** The caller key the "SDK" sends as `secret` (production shape: auth.callers configured). */
const KEY = 'bench-gateway-caller-key-4b8e0c';
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Token-path load, the same for the gateway and the bare server. */
const TOKEN_LOAD = { connections: 8, inflight: 4 } as const;
/** Pass-through load (steady traffic for the CPU row and the recovery trials). */
const FORWARD_LOAD = { connections: 8, inflight: 1 } as const;

/**
 * Issue 13 "Done means": the gateway's figures, each against a floor measured in the same run
 * on the same core, interleaved so this shared machine's noise lands on both sides.
 *
 * Layout: the server under test (wxtoken, or one of the floors of gateway-baselines.ts: a bare
 * node:http token server, a bare forwarding proxy, a bare grpc-js Code2Session pass-through)
 * alone on the server core; the bench driver (every thread) and the simulator on the other.
 * Only one server is driven at a time; the others idle.
 *
 * 1. Token path: `/cgi-bin/token` calls/s through the gateway vs the bare server answering the
 *    same JSON, the same closed-loop keep-alive load (runHttpLoad), interleaved rounds.
 * 2. Pass-through: `/cgi-bin/getcallbackip` one call at a time through the gateway, through the
 *    bare proxy, and straight to the simulator, the three paths taking turns call by call;
 *    then CPU per forwarded call under load (gateway vs bare proxy).
 * 3. Recovery: under steady pass-through load the simulator kills the token (rotate with
 *    endOverlap): upstream token fetches and validity checks it cost, calls answered with an
 *    error, the latency of the calls the gateway repeated vs the calls before the kill.
 * 4. Code2Session one exchange at a time (fresh code each, minted outside the timing) through
 *    wxtoken's gRPC, a bare grpc-js pass-through, the gateway's `/sns/jscode2session`, the bare
 *    HTTP proxy and straight to the simulator, taking turns.
 */
export const gatewayScenario: Scenario = {
  name: NAME,
  title:
    'HTTP gateway: token path, pass-through, recovery, Code2Session vs bare node:http / grpc-js',
  async run(ctx) {
    const dir = mkdtempSync(join(tmpdir(), 'wxtoken-bench-gateway-'));
    const started: Spawned[] = [];
    // Every thread of the driver (V8's GC and libuv workers too) off the server's core.
    pinSelf(LOAD_CORE, true);
    try {
      const sim = await startSim([], { core: LOAD_CORE, keepChars: KEEP_OUTPUT_CHARS });
      started.push(sim);
      const control = new SimControl(sim.url);
      await control.configureApp({ appId: APP, secret: SECRET, expiresInSeconds: 7200 });
      const wx = await startWxtoken(dir, sim.url, started);
      const gw = `http://127.0.0.1:${wx.gatewayPort}`;
      const first = await tokenAnswer(gw);
      const bareToken = await startBaseline('token', [], started, {
        BARE_TOKEN: first.access_token,
        BARE_EXPIRES_AT: String(Date.now() + first.expires_in * 1000),
      });
      const bareProxy = await startBaseline('proxy', [sim.url], started);
      const bareLogin = await startBaseline('login', [sim.url], started, { BARE_SECRET: SECRET });
      ctx.log(
        `wxtoken gateway ${gw} (pid ${wx.pid}); bare token ${bareToken.origin}, proxy ${bareProxy.origin}, ` +
          `grpc ${bareLogin.addr}; simulator ${sim.url}`,
      );

      const rows: BenchRow[] = [];
      rows.push(...(await tokenThroughput(ctx, { origin: gw, pid: wx.pid }, bareToken)));
      rows.push(...(await passThroughLatency(ctx, gw, bareProxy.origin, sim.url)));
      rows.push(...(await passThroughCpu(ctx, { origin: gw, pid: wx.pid }, bareProxy)));
      rows.push(...(await recovery(ctx, gw, control, wx)));
      rows.push(
        ...(await login(ctx, { wx, gw, bareLogin, bareProxy: bareProxy.origin, sim: sim.url })),
      );
      // pino levels: 40 warn, 50 error, 60 fatal.
      const warnings = wx
        .output()
        .split('\n')
        .filter((l) => /"level":[456]\d\b/.test(l));
      for (const l of warnings.slice(0, 5)) ctx.log(`wxtoken: ${l.slice(0, 300)}`);
      rows.push({
        scenario: NAME,
        metric: 'wxtoken warnings and errors logged over the whole scenario',
        value: String(warnings.length),
        target: '0',
        met: warnings.length === 0,
      });
      return rows;
    } finally {
      for (const p of started.reverse()) await p.stop();
      unpinSelf();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

interface Wxtoken extends Spawned {
  readonly addr: string;
  readonly gatewayPort: number;
}

async function startWxtoken(dir: string, simUrl: string, started: Spawned[]): Promise<Wxtoken> {
  const file = join(dir, 'wxtoken.yaml');
  writeFileSync(
    file,
    [
      'grpc: { listen: "127.0.0.1:0" }',
      'gateway: { listen: "127.0.0.1:0", passThrough: true }',
      'metrics: { listen: "" }',
      `wechat: { baseUrl: "${simUrl}", timeoutMs: 5000 }`,
      // Recovery trials kill a token every few seconds: the forced-fetch spacing (default
      // 10 s) would only make the run longer. The per-caller Code2Session limit and the
      // per-app pass-through limit guard WeChat's quota; the simulator has none to guard.
      'refresh: { forceMinIntervalMs: 1000 }',
      'limits: { code2SessionPerSecond: 100000, passThroughPerSecond: 1000000 }',
      'auth:',
      '  callers:',
      `    - { name: bench, keySha256: "${sha256(KEY)}", apps: [${APP}], scopes: [token:read, login] }`,
      `apps: [{ appId: ${APP}, mode: classic, secretEnv: BENCH_GATEWAY_SECRET }]`,
      '',
    ].join('\n'),
  );
  // Log level info (startServeFile's default) is the production one.
  const server = await startServeFile(
    file,
    { BENCH_GATEWAY_SECRET: SECRET },
    { core: SERVER_CORE, keepChars: KEEP_OUTPUT_CHARS },
  );
  started.push(server);
  const port = /"gateway":(\d+)/.exec(server.output())?.[1];
  if (!port)
    throw new Error(`no gateway port in the serving line:\n${server.output().slice(-2000)}`);
  return Object.assign(server, { gatewayPort: Number(port) });
}

interface Baseline {
  readonly pid: number;
  readonly origin: string;
  /** host:port, for the gRPC floor. */
  readonly addr: string;
}

async function startBaseline(
  mode: 'token' | 'proxy' | 'login',
  args: string[],
  started: Spawned[],
  env: NodeJS.ProcessEnv = {},
): Promise<Baseline> {
  const p = spawnProcess(process.execPath, [BASELINES, mode, ...args], {
    core: SERVER_CORE,
    env,
    keepChars: KEEP_OUTPUT_CHARS,
  });
  started.push(p);
  const port = (
    await waitForOutput(p, new RegExp(`${mode} listening on 127\\.0\\.0\\.1:(\\d+)`))
  )[1]!;
  return { pid: p.pid, origin: `http://127.0.0.1:${port}`, addr: `127.0.0.1:${port}` };
}

const tokenPath = (): string =>
  `/cgi-bin/token?grant_type=client_credential&appid=${APP}&secret=${encodeURIComponent(KEY)}`;
const callbackIpPath = (token: string): string =>
  `/cgi-bin/getcallbackip?access_token=${encodeURIComponent(token)}`;

/** The gateway's `/cgi-bin/token` answer (what an SDK caches). */
async function tokenAnswer(gw: string): Promise<{ access_token: string; expires_in: number }> {
  const c = new HttpClient(gw, 1);
  try {
    const body = JSON.parse((await c.get(tokenPath())).body) as {
      access_token?: string;
      expires_in?: number;
    };
    if (!body.access_token || body.expires_in === undefined) {
      throw new Error(`no token from the gateway: ${JSON.stringify(body)}`);
    }
    return { access_token: body.access_token, expires_in: body.expires_in };
  } finally {
    c.close();
  }
}

const currentToken = async (gw: string): Promise<string> => (await tokenAnswer(gw)).access_token;

interface Target {
  readonly origin: string;
  readonly pid: number;
}

interface LoadSample extends HttpLoadResult {
  /** Server process CPU over the run (warm-up included), % of one core. */
  readonly cpuPercent: number;
  /** Server CPU per timed call, µs (warm-up calls counted in: see below). */
  readonly cpuPerCallUs: number;
}

/** One load run against `t`, with the server's CPU over it. */
async function loadWithCpu(
  t: Target,
  o: Omit<Parameters<typeof runHttpLoad>[0], 'origin'>,
): Promise<LoadSample> {
  const cpu0 = cpuSeconds(t.pid);
  const t0 = performance.now();
  const r = await runHttpLoad({ ...o, origin: t.origin });
  const wallS = (performance.now() - t0) / 1000;
  const cpuS = cpuSeconds(t.pid) - cpu0;
  // The warm-up's calls were not counted: assume it answered at the timed rate.
  const allCalls = r.callsPerSecond * wallS;
  return { ...r, cpuPercent: (cpuS / wallS) * 100, cpuPerCallUs: (cpuS / allCalls) * 1e6 };
}

// ---------------------------------------------------------------------------------------------
// 1. Token path

async function tokenThroughput(ctx: BenchContext, gw: Target, bare: Target): Promise<BenchRow[]> {
  const rounds = ctx.quick ? 2 : 5;
  const durationMs = ctx.quick ? 3_000 : 8_000;
  const warmupMs = 1_000;
  const isToken = (a: { status: number; body: string }): boolean =>
    a.status === 200 && a.body.startsWith('{"access_token":"');
  const sizes = await Promise.all(
    [gw, bare].map(async (t) => {
      const c = new HttpClient(t.origin, 1);
      const a = await c.get(tokenPath());
      c.close();
      return Buffer.byteLength(a.body);
    }),
  );
  const s = { gateway: [] as LoadSample[], bare: [] as LoadSample[] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (['bare', 'gateway'] as const) : (['gateway', 'bare'] as const);
    for (const label of order) {
      const r = await loadWithCpu(label === 'gateway' ? gw : bare, {
        path: tokenPath(),
        ...TOKEN_LOAD,
        durationMs,
        warmupMs,
        ok: isToken,
      });
      s[label].push(r);
      ctx.log(
        `token round ${round + 1} ${label.padEnd(7)} ${perSecond(r.callsPerSecond)} p50 ${ms(r.p50Ms)} ` +
          `p99 ${ms(r.p99Ms)} server CPU ${r.cpuPercent.toFixed(0)} % (${r.cpuPerCallUs.toFixed(1)} µs/call) ` +
          `errors ${r.errors}${r.errorSamples.length ? ` e.g. ${r.errorSamples[0]}` : ''}`,
      );
    }
  }
  const perRound = (f: (g: LoadSample, b: LoadSample) => number): number[] =>
    s.gateway.map((g, i) => f(g, s.bare[i]!));
  const tput = perRound((g, b) => g.callsPerSecond / b.callsPerSecond);
  const cpu = perRound((g, b) => g.cpuPerCallUs / b.cpuPerCallUs);
  const m = (label: 'gateway' | 'bare', pick: (x: LoadSample) => number): number =>
    median(s[label].map(pick));
  const errors = [...s.gateway, ...s.bare].reduce((n, x) => n + x.errors, 0);
  const bareCpu = m('bare', (x) => x.cpuPercent);
  const gwCpu = m('gateway', (x) => x.cpuPercent);
  const row = (metric: string, value: string, target?: string, met?: boolean): BenchRow => ({
    scenario: NAME,
    metric: `token path: ${metric}`,
    value,
    ...(target !== undefined ? { target, met } : {}),
  });
  const load = `${TOKEN_LOAD.connections} keep-alive connections × ${TOKEN_LOAD.inflight} in flight`;
  return [
    row(
      'bare node:http calls/s',
      `${perSecond(m('bare', (x) => x.callsPerSecond))} (median of ${rounds} × ${durationMs / 1000} s; ${load})`,
    ),
    row(
      'gateway /cgi-bin/token calls/s',
      `${perSecond(m('gateway', (x) => x.callsPerSecond))}; ÷ bare, median of rounds: ${ratio(tput)}; errors ${errors}`,
      '≥ 0.9 × bare',
      median(tput) >= 0.9 && errors === 0,
    ),
    row(
      'latency p50 / p99',
      `gateway ${ms(m('gateway', (x) => x.p50Ms))} / ${ms(m('gateway', (x) => x.p99Ms))}, ` +
        `bare ${ms(m('bare', (x) => x.p50Ms))} / ${ms(m('bare', (x) => x.p99Ms))}`,
    ),
    row(
      'server CPU per call',
      `gateway ${us(m('gateway', (x) => x.cpuPerCallUs))}, bare ${us(m('bare', (x) => x.cpuPerCallUs))}; ` +
        `gateway ÷ bare, median of rounds: ${ratio(cpu)}`,
    ),
    row(
      'server core busy (the load must keep it busy)',
      `bare ${bareCpu.toFixed(0)} %, gateway ${gwCpu.toFixed(0)} %`,
      'bare ≥ 85 %',
      bareCpu >= 85,
    ),
    row('reply size', `gateway ${sizes[0]} B, bare ${sizes[1]} B`, 'same', sizes[0] === sizes[1]),
  ];
}

// ---------------------------------------------------------------------------------------------
// 2. Pass-through

interface TimedPath<T> {
  readonly label: string;
  /** Untimed work before each call (a fresh code). */
  readonly prepare: () => Promise<T>;
  /** The timed call; rejects (or returns false) when the answer is not a success. */
  readonly call: (arg: T) => Promise<boolean>;
}

/**
 * Each path called one at a time, the paths taking turns call by call (the order rotating, so
 * no path always runs first or on the heels of another); ms per successful call.
 */
async function takeTurns<T>(
  paths: readonly TimedPath<T>[],
  warmup: number,
  rounds: number,
): Promise<{ samples: Record<string, number[]>; errors: Record<string, string[]> }> {
  const samples: Record<string, number[]> = {};
  const errors: Record<string, string[]> = {};
  for (const p of paths) {
    samples[p.label] = [];
    errors[p.label] = [];
  }
  for (let i = 0; i < warmup + rounds; i++) {
    for (let k = 0; k < paths.length; k++) {
      const p = paths[(i + k) % paths.length]!;
      const arg = await p.prepare();
      const t0 = performance.now();
      let ok: boolean | string;
      try {
        ok = await p.call(arg);
      } catch (err) {
        ok = String(err);
      }
      const elapsed = performance.now() - t0;
      if (i < warmup) continue;
      if (ok === true) samples[p.label]!.push(elapsed);
      else errors[p.label]!.push(ok === false ? 'not a success' : ok);
    }
  }
  return { samples, errors };
}

const nothing = (): Promise<undefined> => Promise.resolve(undefined);

async function passThroughLatency(
  ctx: BenchContext,
  gw: string,
  proxy: string,
  simUrl: string,
): Promise<BenchRow[]> {
  const rounds = ctx.quick ? 300 : 3000;
  const warmup = ctx.quick ? 100 : 300;
  const path = callbackIpPath(await currentToken(gw));
  const clients = { gateway: gw, 'bare proxy': proxy, direct: simUrl };
  const held = Object.entries(clients).map(([label, origin]) => ({
    label,
    client: new HttpClient(origin, 1),
  }));
  const answered = async (c: HttpClient): Promise<boolean> => {
    const a = await c.get(path);
    return wechatOk(a) && a.body.includes('ip_list');
  };
  const { samples, errors } = await takeTurns(
    held.map(({ label, client }) => ({ label, prepare: nothing, call: () => answered(client) })),
    warmup,
    rounds,
  );
  for (const h of held) h.client.close();
  const q = Object.fromEntries(
    Object.entries(samples).map(([label, s]) => [label, quantiles(s)]),
  ) as Record<keyof typeof clients, ReturnType<typeof quantiles>>;
  const nErrors = Object.values(errors).reduce((n, e) => n + e.length, 0);
  ctx.log(
    `pass-through, ${rounds} calls per path: ` +
      Object.entries(q)
        .map(([l, x]) => `${l} p50 ${ms(x.p50)} p99 ${ms(x.p99)}`)
        .join('; ') +
      `; errors ${nErrors} ${Object.values(errors).flat().slice(0, 2).join(' | ')}`,
  );
  const g = q.gateway;
  const b = q['bare proxy'];
  const d = q.direct;
  const r50 = g.p50 / b.p50;
  const r99 = g.p99 / b.p99;
  const row = (metric: string, value: string, target?: string, met?: boolean): BenchRow => ({
    scenario: NAME,
    metric: `pass-through: ${metric}`,
    value,
    ...(target !== undefined ? { target, met } : {}),
  });
  return [
    row(
      `getcallbackip p50 / p99, one call at a time (${rounds} per path, taking turns)`,
      `gateway ${ms(g.p50)} / ${ms(g.p99)}; bare proxy ${ms(b.p50)} / ${ms(b.p99)}; ` +
        `direct ${ms(d.p50)} / ${ms(d.p99)}; errors ${nErrors}`,
    ),
    row(
      'gateway ÷ bare proxy, p50 / p99',
      `${r50.toFixed(2)} / ${r99.toFixed(2)}`,
      '≤ 1.2 (both)',
      r50 <= 1.2 && r99 <= 1.2 && nErrors === 0,
    ),
    row(
      'added over direct, p50',
      `gateway +${ms(g.p50 - d.p50)}, bare proxy +${ms(b.p50 - d.p50)} ` +
        `(ratio of the added parts ${((g.p50 - d.p50) / (b.p50 - d.p50)).toFixed(2)})`,
    ),
  ];
}

async function passThroughCpu(ctx: BenchContext, gw: Target, proxy: Target): Promise<BenchRow[]> {
  const rounds = ctx.quick ? 1 : 3;
  const durationMs = ctx.quick ? 2_000 : 5_000;
  const path = callbackIpPath(await currentToken(gw.origin));
  const s = { gateway: [] as LoadSample[], bare: [] as LoadSample[] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (['bare', 'gateway'] as const) : (['gateway', 'bare'] as const);
    for (const label of order) {
      const r = await loadWithCpu(label === 'gateway' ? gw : proxy, {
        path,
        ...FORWARD_LOAD,
        durationMs,
        warmupMs: 500,
      });
      s[label].push(r);
      ctx.log(
        `forwarding round ${round + 1} ${label.padEnd(7)} ${perSecond(r.callsPerSecond)} p50 ${ms(r.p50Ms)} ` +
          `p99 ${ms(r.p99Ms)} server CPU ${r.cpuPercent.toFixed(0)} % (${r.cpuPerCallUs.toFixed(1)} µs/call) errors ${r.errors}`,
      );
    }
  }
  const cpu = s.gateway.map((g, i) => g.cpuPerCallUs / s.bare[i]!.cpuPerCallUs);
  const m = (label: 'gateway' | 'bare', pick: (x: LoadSample) => number): number =>
    median(s[label].map(pick));
  const errors = [...s.gateway, ...s.bare].reduce((n, x) => n + x.errors, 0);
  return [
    {
      scenario: NAME,
      metric: `pass-through under load (${FORWARD_LOAD.connections} connections; simulator on the load core)`,
      value:
        `gateway ${perSecond(m('gateway', (x) => x.callsPerSecond))}, ${us(m('gateway', (x) => x.cpuPerCallUs))} CPU/call; ` +
        `bare proxy ${perSecond(m('bare', (x) => x.callsPerSecond))}, ${us(m('bare', (x) => x.cpuPerCallUs))} CPU/call; ` +
        `CPU/call gateway ÷ bare, median of rounds: ${ratio(cpu)}; errors ${errors}`,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// 3. Recovery

interface Trial {
  readonly fetches: number;
  readonly checks: number;
  /** getcallbackip calls the simulator refused (the dead token) in the trial. */
  readonly refused: number;
  /** Gateway log lines "refreshed it and repeated the call" with recovered:true. */
  readonly repeatedLogged: number;
  readonly errors: number;
  readonly errorSamples: readonly string[];
  /** ms of the calls the gateway repeated. */
  readonly recovered: readonly number[];
  /** ms of the calls that ended before the kill. */
  readonly normal: readonly number[];
  /** Calls in flight while the simulator refused (the candidates for `recovered`). */
  readonly inWindow: number;
  /** At the simulator, ms after the first refusal: the validity check, the token fetch. */
  readonly checkAfterMs: number;
  readonly fetchAfterMs: number;
}

const REPEATED = /"recovered":true[^\n]*refreshed it and repeated the call/g;

async function recovery(
  ctx: BenchContext,
  gw: string,
  control: SimControl,
  wx: Wxtoken,
): Promise<BenchRow[]> {
  const trials = ctx.quick ? 2 : 5;
  const warmupMs = 300;
  const beforeKillMs = 1_000;
  const afterKillMs = 700;
  const out: Trial[] = [];
  for (let i = 0; i < trials; i++) {
    // An SDK's cached token: the current one (the previous trial's kill replaced it).
    const token = await currentToken(gw);
    const c0 = await control.counters(APP);
    const logged0 = wx.output().match(REPEATED)?.length ?? 0;
    const load = runHttpLoad({
      origin: gw,
      path: callbackIpPath(token),
      ...FORWARD_LOAD,
      warmupMs,
      durationMs: beforeKillMs + afterKillMs,
      keepCalls: true,
    });
    await sleep(warmupMs + beforeKillMs);
    const killAt = Date.now();
    await control.rotate(APP, true);
    const r = await load;
    await sleep(200); // the gateway's log line after its answer
    const c1 = await control.counters(APP);
    const calls = await control.calls(APP, killAt - 5);
    const refusedAt = calls
      .filter((c) => c.endpoint === 'getcallbackip' && c.errcode !== 0)
      .map((c) => c.at);
    const first = Math.min(...refusedAt);
    const last = Math.max(...refusedAt);
    const atOf = (endpoint: string): number =>
      (calls.find((c) => c.endpoint === endpoint)?.at ?? NaN) - first;
    // The calls in flight while the simulator refused: every repeated call is one of them
    // (sent before the last refusal, answered after the first). A repeated call waits for a
    // validity check and a token fetch upstream, so the repeated ones are the slowest of them;
    // the simulator's log (ms resolution) says how many there were.
    const window = r.records
      .filter((c) => c.ok && c.start <= last + 1 && c.end >= first - 1)
      .map((c) => c.end - c.start)
      .sort((a, b) => b - a);
    const trial: Trial = {
      fetches: c1.tokenCalls - c0.tokenCalls,
      checks: c1.checkCalls - c0.checkCalls,
      refused: refusedAt.length,
      repeatedLogged: (wx.output().match(REPEATED)?.length ?? 0) - logged0,
      errors: r.errors,
      errorSamples: r.errorSamples,
      recovered: window.slice(0, refusedAt.length),
      normal: r.records.filter((c) => c.ok && c.end < killAt).map((c) => c.end - c.start),
      inWindow: window.length,
      checkAfterMs: atOf('get_api_domain_ip'),
      fetchAfterMs: atOf('token'),
    };
    out.push(trial);
    const rq = quantiles(trial.recovered);
    ctx.log(
      `recovery trial ${i + 1}: fetches ${trial.fetches}, checks ${trial.checks}, refused ${trial.refused} ` +
        `(gateway logged ${trial.repeatedLogged} repeats), errors ${trial.errors}` +
        `${trial.errorSamples.length ? ` e.g. ${trial.errorSamples[0]}` : ''}; ${trial.inWindow} calls in the ` +
        `window over ${last - first} ms; check +${trial.checkAfterMs} ms, fetch +${trial.fetchAfterMs} ms; repeated p50 ${ms(rq.p50)} max ${ms(rq.max)}; normal p50 ` +
        `${ms(quantiles(trial.normal).p50)}; ${r.calls} calls`,
    );
  }
  const list = (f: (t: Trial) => number): string => out.map(f).join(', ');
  const rec = quantiles(out.flatMap((t) => t.recovered));
  const nor = quantiles(out.flatMap((t) => t.normal));
  const errors = out.reduce((n, t) => n + t.errors, 0);
  const row = (metric: string, value: string, target?: string, met?: boolean): BenchRow => ({
    scenario: NAME,
    metric: `recovery: ${metric}`,
    value,
    ...(target !== undefined ? { target, met } : {}),
  });
  return [
    row(
      'settings',
      `${trials} trials; ${FORWARD_LOAD.connections} connections of closed-loop getcallbackip through the gateway; ` +
        `the simulator kills the token (rotate, endOverlap) ${beforeKillMs / 1000} s in`,
    ),
    row(
      'upstream token fetches per kill',
      list((t) => t.fetches),
      '1',
      out.every((t) => t.fetches === 1),
    ),
    row(
      'validity checks (get_api_domain_ip) per kill',
      list((t) => t.checks),
    ),
    row(
      'at the simulator, after the first refusal: validity check / token fetch (median of kills)',
      `+${median(out.map((t) => t.checkAfterMs))} ms / +${median(out.map((t) => t.fetchAfterMs))} ms ` +
        '(the simulator logs whole ms)',
    ),
    row('calls answered with an error', String(errors), '0', errors === 0),
    row(
      'calls the simulator refused / the gateway logged as repeated and recovered, per kill',
      out.map((t) => `${t.refused}/${t.repeatedLogged}`).join(', '),
      'equal',
      out.every((t) => t.refused === t.repeatedLogged),
    ),
    row(
      'latency of the repeated calls p50 / max vs calls before the kill p50 / p99',
      `${ms(rec.p50)} / ${ms(rec.max)} (${out.reduce((n, t) => n + t.recovered.length, 0)} calls) vs ` +
        `${ms(nor.p50)} / ${ms(nor.p99)}`,
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// 4. Code2Session

async function login(
  ctx: BenchContext,
  o: { wx: Wxtoken; gw: string; bareLogin: Baseline; bareProxy: string; sim: string },
): Promise<BenchRow[]> {
  const rounds = ctx.quick ? 100 : 600;
  const warmup = ctx.quick ? 30 : 150;
  const mintCode = async (): Promise<string> => {
    const res = await fetch(`${o.sim}/__sim/apps/${APP}/codes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    return ((await res.json()) as { code: string }).code;
  };
  const viaWx = loginClient(o.wx.addr, KEY);
  const viaBare = loginClient(o.bareLogin.addr);
  const http = {
    gateway: new HttpClient(o.gw, 1),
    proxy: new HttpClient(o.bareProxy, 1),
    direct: new HttpClient(o.sim, 1),
  };
  const exchange = (c: HttpClient, secret: string) => async (code: string) => {
    const qs = new URLSearchParams({
      appid: APP,
      secret,
      js_code: code,
      grant_type: 'authorization_code',
    });
    const a = await c.get(`/sns/jscode2session?${qs}`);
    return wechatOk(a) && a.body.includes('"openid"');
  };
  const grpcCall =
    (c: ReturnType<typeof loginClient>) =>
    async (code: string): Promise<boolean> =>
      (await c.code2Session({ app_id: APP, js_code: code })).openid !== '';
  const paths: TimedPath<string>[] = [
    { label: 'wxtoken gRPC', prepare: mintCode, call: grpcCall(viaWx) },
    { label: 'bare gRPC', prepare: mintCode, call: grpcCall(viaBare) },
    { label: 'gateway HTTP', prepare: mintCode, call: exchange(http.gateway, KEY) },
    { label: 'bare proxy HTTP', prepare: mintCode, call: exchange(http.proxy, SECRET) },
    { label: 'direct', prepare: mintCode, call: exchange(http.direct, SECRET) },
  ];
  let result: Awaited<ReturnType<typeof takeTurns<string>>>;
  try {
    result = await takeTurns(paths, warmup, rounds);
  } finally {
    viaWx.close();
    viaBare.close();
    for (const c of Object.values(http)) c.close();
  }
  const q = (label: string): ReturnType<typeof quantiles> => quantiles(result.samples[label]!);
  const nErrors = Object.values(result.errors).reduce((n, e) => n + e.length, 0);
  ctx.log(
    `Code2Session, ${rounds} per path: ` +
      paths
        .map((p) => `${p.label} p50 ${ms(q(p.label).p50)} p99 ${ms(q(p.label).p99)}`)
        .join('; ') +
      `; errors ${nErrors} ${Object.values(result.errors).flat().slice(0, 2).join(' | ')}`,
  );
  const d = q('direct');
  const pair = (a: string, b: string, metric: string): BenchRow[] => {
    const x = q(a);
    const y = q(b);
    const errs = result.errors[a]!.length + result.errors[b]!.length;
    return [
      {
        scenario: NAME,
        metric: `Code2Session: ${metric} p50 / p99`,
        value:
          `${ms(x.p50)} / ${ms(x.p99)} vs ${ms(y.p50)} / ${ms(y.p99)}; ratio p50 ${(x.p50 / y.p50).toFixed(2)}, ` +
          `p99 ${(x.p99 / y.p99).toFixed(2)}; over direct +${ms(x.p50 - d.p50)} vs +${ms(y.p50 - d.p50)} (p50); errors ${errs}`,
        target: '≤ 1.2 × bare (p50)',
        met: x.p50 / y.p50 <= 1.2 && errs === 0,
      },
    ];
  };
  return [
    {
      scenario: NAME,
      metric: `Code2Session: direct jscode2session p50 / p99 (${rounds} exchanges per path, taking turns)`,
      value: `${ms(d.p50)} / ${ms(d.p99)}`,
    },
    ...pair('wxtoken gRPC', 'bare gRPC', 'wxtoken gRPC vs bare grpc-js pass-through'),
    ...pair('gateway HTTP', 'bare proxy HTTP', 'gateway /sns/jscode2session vs bare HTTP proxy'),
  ];
}

// ---------------------------------------------------------------------------------------------

/** The median ratio, with every round's when there are several. */
function ratio(xs: readonly number[]): string {
  const f = (x: number): string => x.toFixed(2);
  return xs.length > 1 ? `${f(median(xs))} (rounds ${xs.map(f).join(', ')})` : f(median(xs));
}

const us = (v: number): string => `${v.toFixed(1)} µs`;
