import { setTimeout as sleep } from 'node:timers/promises';
import type * as grpc from '@grpc/grpc-js';
import { forceRefresh, getToken } from '../src/cli/grpc-client.js';
import type { Token__Output } from '../src/grpc/generated/wxtoken/v1/Token.js';
import { fingerprint } from '../src/shared/secret.js';
import { BenchCluster } from './bench-cluster.js';
import { ms, quantiles, type BenchContext, type BenchRow, type Scenario } from './report.js';

const APP = 'wxbenchprop00001';
const REPLICAS = 3;
/** Pause after every replica has a write, before the next one. */
const GAP_MS = 100;

/**
 * Issue 7 scenario 4: how long a token written by one replica takes to reach every replica's
 * cache. Each replica is watched (WatchToken, one stream each); an operator ForceRefresh (empty
 * stale_token) on the replicas in turn writes a new token; the time from its fetched_at to its
 * arrival on each stream is measured. fetched_at is when the upstream request was sent, before
 * the write, so the figure overstates the write → cache time by one upstream fetch; the
 * simulator's call log gives that part separately.
 */
export const propagationScenario: Scenario = {
  name: 'propagation',
  title: `write → every replica's cache (${REPLICAS} replicas, WatchToken, 1 Redis pub/sub)`,
  run: runPropagation,
};

/** Wall-clock ms with sub-millisecond precision. */
const wallNow = (): number => performance.timeOrigin + performance.now();

const tsMs = (t: Token__Output['fetched_at']): number =>
  t ? Number(t.seconds) * 1000 + t.nanos / 1e6 : NaN;

interface Write {
  generation: string;
  token: string;
  fetchedAt: number;
  repliedAt: number;
}

async function runPropagation(ctx: BenchContext): Promise<BenchRow[]> {
  const writes = ctx.quick ? 30 : 120;
  const cluster = await BenchCluster.start({
    replicas: REPLICAS,
    apps: [{ appId: APP, expiresInSeconds: 7200, overlapSeconds: 300 }],
    // One operator refresh per replica every ~0.3 s: above the production defaults (10 s, 50 a
    // day), which guard WeChat's quota and have nothing to do with propagation.
    refresh: { forceMinIntervalMs: 100, forceDailyBudget: 10_000 },
    log: ctx.log,
  });
  const streams: grpc.ClientReadableStream<Token__Output>[] = [];
  const clients = cluster.replicas.map((r) => r.newClient());
  try {
    for (const r of cluster.replicas) await getToken(r.client, APP, 10_000);
    // replica index → generation → arrival time on its stream.
    const arrivals = cluster.replicas.map(() => new Map<string, number>());
    clients.forEach((c, i) => {
      const s = c.WatchToken({ app_id: APP });
      s.on('data', (t: Token__Output) => arrivals[i]!.set(t.generation, wallNow()));
      s.on('error', () => undefined);
      streams.push(s);
    });
    await sleep(500);
    const done: Write[] = [];
    const missed: string[] = [];
    for (let i = 0; i < writes; i++) {
      const r = cluster.replicas[i % REPLICAS]!;
      const reply = await forceRefresh(r.client, {
        app_id: APP,
        stale_token: '',
        reason: 'bench propagation',
      });
      const t = reply.token!;
      done.push({
        generation: t.generation,
        token: t.access_token,
        fetchedAt: tsMs(t.fetched_at),
        repliedAt: wallNow(),
      });
      const deadline = Date.now() + 3_000;
      while (arrivals.some((a) => !a.has(t.generation)) && Date.now() < deadline) await sleep(1);
      if (arrivals.some((a) => !a.has(t.generation))) missed.push(t.generation);
      await sleep(GAP_MS);
    }
    const mintedAt = new Map(
      (await cluster.sim.calls(APP, 0))
        .filter((c) => c.endpoint === 'token' && c.tokenFingerprint)
        .map((c) => [c.tokenFingerprint!, c.at]),
    );
    return propagationRows(ctx, done, arrivals, mintedAt, missed);
  } finally {
    for (const s of streams) s.cancel();
    for (const c of clients) c.close();
    await cluster.stop();
  }
}

function propagationRows(
  ctx: BenchContext,
  writes: readonly Write[],
  arrivals: readonly Map<string, number>[],
  mintedAt: ReadonlyMap<string, number>,
  missed: readonly string[],
): BenchRow[] {
  const toAll: number[] = [];
  const each: number[] = [];
  const afterReply: number[] = [];
  const fetchPart: number[] = [];
  for (const w of writes) {
    const times = arrivals.map((a) => a.get(w.generation));
    if (times.some((t) => t === undefined)) continue;
    const got = times as number[];
    toAll.push(Math.max(...got) - w.fetchedAt);
    each.push(...got.map((t) => t - w.fetchedAt));
    afterReply.push(Math.max(...got) - w.repliedAt);
    const minted = mintedAt.get(fingerprint(w.token));
    if (minted !== undefined) fetchPart.push(minted - w.fetchedAt);
  }
  const q = quantiles(toAll);
  const qe = quantiles(each);
  const qr = quantiles(afterReply);
  const qf = quantiles(fetchPart);
  ctx.log(
    `${toAll.length} writes reached all ${REPLICAS} replicas (${missed.length} did not within 3 s); ` +
      `last replica after fetched_at: p50 ${ms(q.p50)} p99 ${ms(q.p99)} max ${ms(q.max)}; ` +
      `after the ForceRefresh reply: p50 ${ms(qr.p50)} p99 ${ms(qr.p99)}; ` +
      `fetched_at → simulator mint: p50 ${ms(qf.p50)} p99 ${ms(qf.p99)}`,
  );
  const scenario = 'propagation';
  return [
    {
      scenario,
      metric: 'settings',
      value: `${REPLICAS} replicas, 1 Redis, ${writes.length} operator ForceRefresh writes, ${GAP_MS} ms apart`,
    },
    {
      scenario,
      metric: 'write → every replica, p50 / p99',
      value: `${ms(q.p50)} / ${ms(q.p99)} (max ${ms(q.max)}, ${toAll.length} writes)`,
      target: 'p99 < 50 ms, ≥ 100 writes',
      met: toAll.length >= 100 && q.p99 < 50 && missed.length === 0,
    },
    {
      scenario,
      metric: 'write → each replica, p50 / p99',
      value: `${ms(qe.p50)} / ${ms(qe.p99)} (${each.length} arrivals)`,
    },
    {
      scenario,
      metric: "every replica, after the writer's reply reached the client, p50 / p99",
      value: `${ms(qr.p50)} / ${ms(qr.p99)} (negative: before the reply)`,
    },
    {
      scenario,
      metric: 'of which upstream fetch (fetched_at → simulator mint), p50 / p99',
      value: `${ms(qf.p50)} / ${ms(qf.p99)}`,
    },
    {
      scenario,
      metric: 'writes some replica never got (3 s)',
      value: String(missed.length),
    },
  ];
}
