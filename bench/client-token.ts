import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { WxTokenClient } from 'wxtoken-client';
import { getToken, tokenClient } from '../src/cli/grpc-client.js';
import { WeChatSimulator } from '../src/sim/wechat-simulator.js';
import { startServe, type Spawned } from '../test/support/processes.js';
import { KEEP_OUTPUT_CHARS, SERVER_CORE } from './procs.js';
import { perSecond, quantiles, type BenchRow, type Scenario } from './report.js';

/**
 * Issue 14, "Done means": `token(appId)` of wxtoken-client (clients/node) from its warm
 * in-process cache, against `GetToken` over loopback to a spawned `wxtoken serve` (server on
 * core 0), in the same run. Latencies are per call (process.hrtime.bigint() around each call:
 * the two clock reads, ~40 ns, are included); calls/s come from separate untimed loops of the
 * same calls. RPCs after warm-up are counted by an interceptor on the client's own channel,
 * which sees every call the client starts (GetToken, WatchToken, ForceRefresh...).
 */
const NAME = 'client-token';
const APP_ID = 'wxbenchclient001';
const SECRET_ENV = 'WXTOKEN_BENCH_SECRET';

const ns = (v: number): string => `${v.toFixed(0)} ns`;
const us = (v: number): string => `${(v / 1000).toFixed(1)} µs`;

/** Per-call latencies in ns of `n` sequential awaited calls. */
async function timeAsync(n: number, call: () => Promise<unknown>): Promise<number[]> {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await call();
    out[i] = Number(process.hrtime.bigint() - t0);
  }
  return out;
}

function timeSync(n: number, call: () => unknown): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    call();
    out[i] = Number(process.hrtime.bigint() - t0);
  }
  return out;
}

/** Calls per second of `n` sequential calls, untimed individually. */
async function rateAsync(n: number, call: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await call();
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** Calls per second with `inflight` sequential loops running together. */
async function rateConcurrent(
  n: number,
  inflight: number,
  call: () => Promise<unknown>,
): Promise<number> {
  const t0 = process.hrtime.bigint();
  const per = Math.ceil(n / inflight);
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      for (let i = 0; i < per; i++) await call();
    }),
  );
  return (per * inflight) / (Number(process.hrtime.bigint() - t0) / 1e9);
}

export const clientTokenScenario: Scenario = {
  name: NAME,
  title: 'wxtoken-client token(): in-process cache vs GetToken over loopback; RPCs after warm-up',
  run: async (ctx) => {
    const secret = randomBytes(16).toString('hex');
    const sim = new WeChatSimulator({
      apps: [{ appId: APP_ID, secret, expiresInSeconds: 7200, overlapSeconds: 300 }],
    });
    const { url } = await sim.listen('127.0.0.1:0');
    let server: Spawned | undefined;
    let client: WxTokenClient | undefined;
    const raw: { c?: ReturnType<typeof tokenClient> } = {};
    try {
      server = await startServe(
        `grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${url}", timeoutMs: 3000 }
apps:
  - { appId: ${APP_ID}, mode: classic, secretEnv: ${SECRET_ENV} }
`,
        { [SECRET_ENV]: secret },
        { core: SERVER_CORE, keepChars: KEEP_OUTPUT_CHARS },
      );
      const addr = (server as Spawned & { addr: string }).addr;
      let rpcs = 0;
      const counting: grpc.Interceptor = (options, next) => {
        rpcs++;
        return new grpc.InterceptingCall(next(options));
      };
      client = new WxTokenClient({ address: addr, interceptors: [counting] });
      const c = client;
      raw.c = tokenClient(addr);
      const rc = raw.c;

      // 1. Warm-up: the first token() (GetToken + the WatchToken stream), then until streaming.
      await c.token(APP_ID);
      const t0 = Date.now();
      while (!c.status(APP_ID)?.streaming) {
        if (Date.now() - t0 > 10_000) throw new Error('WatchToken never delivered');
        await new Promise((r) => setTimeout(r, 5));
      }
      const cacheN = ctx.quick ? 200_000 : 2_000_000;
      const rpcN = ctx.quick ? 1_000 : 5_000;
      for (let i = 0; i < 50_000; i++) await c.token(APP_ID); // JIT warm
      const rpcsAfterWarm = rpcs;

      // 2. The cache.
      ctx.log(`token() x ${cacheN}`);
      // The floor of any awaited call on this machine, in the same process and loop.
      const floor = quantiles(await timeAsync(cacheN, () => Promise.resolve(APP_ID)));
      const asyncLat = quantiles(await timeAsync(cacheN, () => c.token(APP_ID)));
      const asyncRate = await rateAsync(cacheN, () => c.token(APP_ID));
      const syncLat = quantiles(timeSync(cacheN, () => c.tokenSync(APP_ID)));
      const tSync = process.hrtime.bigint();
      let sink = 0;
      for (let i = 0; i < cacheN; i++) sink += c.tokenSync(APP_ID)!.length;
      const syncRate = cacheN / (Number(process.hrtime.bigint() - tSync) / 1e9);
      if (sink === 0) throw new Error('tokenSync() returned nothing');
      const cacheCalls = 4 * cacheN; // the four token()/tokenSync() loops above
      const rpcPer1000 = ((rpcs - rpcsAfterWarm) / cacheCalls) * 1000;

      // 3. GetToken over loopback, same run: 1 in flight (latency, rate) and 32 in flight (rate).
      ctx.log(`GetToken x ${rpcN}`);
      for (let i = 0; i < 200; i++) await getToken(rc, APP_ID);
      const rpcLat = quantiles(await timeAsync(rpcN, () => getToken(rc, APP_ID)));
      const rpcRate1 = await rateAsync(rpcN, () => getToken(rc, APP_ID));
      const rpcRate32 = await rateConcurrent(rpcN * 2, 32, () => getToken(rc, APP_ID));
      const rpcRate = Math.max(rpcRate1, rpcRate32);

      const rows: BenchRow[] = [
        {
          scenario: NAME,
          metric: 'token() warm cache p50 / p99',
          value: `${ns(asyncLat.p50)} / ${ns(asyncLat.p99)}`,
          target: 'p99 < 1 µs',
          met: asyncLat.p99 < 1000,
        },
        {
          scenario: NAME,
          metric:
            'bare `await Promise.resolve()` p50 / p99 (floor; first timed loop, so it also warms the timing loop)',
          value: `${ns(floor.p50)} / ${ns(floor.p99)}`,
        },
        {
          scenario: NAME,
          metric: 'token() calls/s (1 caller, awaited)',
          value: perSecond(asyncRate),
        },
        {
          scenario: NAME,
          metric: 'tokenSync() p50 / p99',
          value: `${ns(syncLat.p50)} / ${ns(syncLat.p99)}`,
          target: 'p99 < 1 µs',
          met: syncLat.p99 < 1000,
        },
        { scenario: NAME, metric: 'tokenSync() calls/s', value: perSecond(syncRate) },
        {
          scenario: NAME,
          metric: 'GetToken over loopback p50 / p99 (1 in flight)',
          value: `${us(rpcLat.p50)} / ${us(rpcLat.p99)}`,
        },
        {
          scenario: NAME,
          metric: 'GetToken calls/s (1 in flight; 32 in flight)',
          value: `${perSecond(rpcRate1)}; ${perSecond(rpcRate32)}`,
        },
        {
          scenario: NAME,
          metric: 'token() calls/s ÷ best GetToken calls/s',
          value: `${(asyncRate / rpcRate).toFixed(0)}× (tokenSync ${(syncRate / rpcRate).toFixed(0)}×)`,
          target: '≥ 100×',
          met: asyncRate / rpcRate >= 100,
        },
        {
          scenario: NAME,
          metric: 'RPCs per 1,000 token() calls after warm-up',
          value: `${rpcPer1000.toFixed(3)} (${rpcs - rpcsAfterWarm} in ${cacheCalls} calls)`,
          target: '0',
          met: rpcs === rpcsAfterWarm,
        },
      ];
      return rows;
    } finally {
      client?.close();
      raw.c?.close();
      await server?.stop();
      await sim.close();
    }
  },
};
