import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WeChatSimulator } from '../sim/wechat-simulator.js';
import { loginLatency } from './login-latency.js';
import { runLoad, type LoadResult } from './load.js';

/**
 * `npm run bench`: GetToken on `wxtoken serve` against a bare grpc-js echo server with the same
 * reply, side by side in one run. Servers are pinned to core 0 and this load generator to
 * core 1 (taskset) when there are two cores. A Node load generator tops out below one grpc-js
 * server core (stack-notes.md), so read the ratio, not the absolute numbers, as the finding.
 */
const DIST = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(DIST, '..', 'bin', 'wxtoken.js');
const APP = 'wxbench000000001';
const durationMs = Number(process.env.BENCH_DURATION_MS ?? 10_000);
const haveTaskset = spawnSync('taskset', ['-V']).status === 0 && cpus().length >= 2;

function pinned(args: string[]): ChildProcess {
  const [cmd, rest] = haveTaskset
    ? ['taskset', ['-c', '0', process.execPath, ...args]]
    : [process.execPath, args];
  return spawn(cmd as string, rest as string[], { stdio: ['ignore', 'pipe', 'inherit'] });
}

function waitFor(proc: ChildProcess, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = out.match(pattern);
      if (m) resolve(m);
    });
    proc.once('exit', (code) => reject(new Error(`exited ${code} before ${pattern}: ${out}`)));
  });
}

function cpuSecondsOf(pid: number): number {
  const stat = spawnSync('cat', [`/proc/${pid}/stat`])
    .stdout.toString()
    .split(' ');
  return (Number(stat[13]) + Number(stat[14])) / 100;
}

async function measure(
  name: string,
  proc: ChildProcess,
  addr: string,
): Promise<LoadResult & { cpu: number }> {
  const cpu0 = cpuSecondsOf(proc.pid!);
  const r = await runLoad({
    addr,
    appId: APP,
    channels: 4,
    inflight: 32,
    durationMs,
    warmupMs: 2000,
  });
  const cpu = (cpuSecondsOf(proc.pid!) - cpu0) / ((durationMs + 2000) / 1000);
  console.log(
    `${name.padEnd(16)} ${r.callsPerSecond.toFixed(0).padStart(8)} calls/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  server CPU ${(cpu * 100).toFixed(0)} %  errors ${r.errors}`,
  );
  return { ...r, cpu };
}

async function main(): Promise<void> {
  if (haveTaskset) spawnSync('taskset', ['-pc', '1', String(process.pid)]);
  const sim = new WeChatSimulator({
    apps: [{ appId: APP, secret: 'bench-secret', expiresInSeconds: 7200 }],
  });
  const { url } = await sim.listen('127.0.0.1:0');
  const dir = mkdtempSync(join(tmpdir(), 'wxtoken-bench-'));
  const config = join(dir, 'wxtoken.yaml');
  writeFileSync(
    config,
    `grpc: { listen: "127.0.0.1:0" }\nmetrics: { listen: "" }\nwechat: { baseUrl: "${url}" }\nlog: { level: info }\n` +
      `apps: [{ appId: ${APP}, mode: classic, secretEnv: BENCH_SECRET }]\n`,
  );
  console.log(
    `GetToken hot path, ${durationMs / 1000} s per run, 4 channels x 32 in flight, Node ${process.version}, ${cpus().length} cores${haveTaskset ? ', servers on core 0, load on core 1' : ''}`,
  );

  const echo = pinned([join(DIST, 'bench', 'echo-server.js')]);
  const echoAddr = (await waitFor(echo, /listening on (\S+)/))[1]!;
  const echoResult = await measure('grpc-js echo', echo, echoAddr);
  echo.kill('SIGTERM');

  process.env.BENCH_SECRET = 'bench-secret';
  const serve = pinned([BIN, 'serve', '--config', config]);
  const port = (await waitFor(serve, /"grpc":(\d+).*"msg":"wxtoken serving"/))[1]!;
  const serveResult = await measure('wxtoken serve', serve, `127.0.0.1:${port}`);
  const login = await loginLatency(url, `127.0.0.1:${port}`, APP, 'bench-secret', 310);
  console.log(
    `Code2Session     direct to simulator p50 ${login.direct.p50Ms.toFixed(2)} ms p99 ${login.direct.p99Ms.toFixed(2)} ms; ` +
      `via wxtoken p50 ${login.viaWxtoken.p50Ms.toFixed(2)} ms p99 ${login.viaWxtoken.p99Ms.toFixed(2)} ms; ` +
      `added p50 ${(login.viaWxtoken.p50Ms - login.direct.p50Ms).toFixed(2)} ms`,
  );
  serve.kill('SIGTERM');
  await sim.close();

  console.log(
    `ratio wxtoken/echo: throughput ${(serveResult.callsPerSecond / echoResult.callsPerSecond).toFixed(2)}, ` +
      `p99 ${(serveResult.p99Ms / echoResult.p99Ms).toFixed(2)}x`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
