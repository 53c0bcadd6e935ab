import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listApps, tokenClient } from '../src/cli/grpc-client.js';
import type { TokenServiceClient } from '../src/grpc/generated/wxtoken/v1/TokenService.js';
import { loadProto, type ProtoGrpcType } from '../src/grpc/proto.js';
import { startServeFile, startSim, type Spawned } from '../test/support/processes.js';
import { startRedis, type RedisNode } from '../test/support/redis-server.js';
import { SimControl } from '../test/support/sim-control.js';
import { terminate } from '../test/support/spawned.js';
import { waitFor } from '../test/support/until.js';
import { KEEP_OUTPUT_CHARS } from './procs.js';

/**
 * A wxtoken cluster for the cluster benchmarks, driven from the outside like production:
 * one redis-server on a free loopback port, the simulator (`wxtoken sim`), and N `wxtoken
 * serve` replicas on a generated YAML config, all started with test/support's harness (which
 * SIGKILLs them if the bench process exits first). Everything is stopped by `stop()`, also
 * after a failed start.
 */

export interface BenchApp {
  readonly appId: string;
  readonly expiresInSeconds: number;
  readonly overlapSeconds: number;
}

/** Every cluster scenario runs on CLUSTER_LEASE and RECONCILE_INTERVAL_MS. */
export interface BenchClusterOptions {
  readonly replicas: number;
  readonly apps: readonly BenchApp[];
  /** `refresh:` keys of the config (aheadSeconds, forceMinIntervalMs...). */
  readonly refresh: Readonly<Record<string, number>>;
  readonly log: (line: string) => void;
}

/**
 * The lease of every cluster scenario: 3 s extended every 1 s (the default ratio, ttl / 3),
 * short enough that a crashed leader is replaced within seconds, long enough that a 1 s stall
 * (GC, a slow Redis) does not cost the leadership. Production defaults are 10 s / 3.3 s.
 */
export const CLUSTER_LEASE = { ttlMs: 3_000, renewIntervalMs: 1_000 } as const;
/** How often replicas re-read Redis behind pub/sub (redis.reconcileIntervalMs). */
const RECONCILE_INTERVAL_MS = 2_000;

export const BENCH_SECRET = 'bench-cluster-secret-never-printed-7c1e';
const SECRET_ENV = 'WXT_BENCH_CLUSTER_SECRET';
/** A gRPC channel per client, so the replicas' clients never share a connection. */
const OWN_CHANNEL = { 'grpc.use_local_subchannel_pool': 1 };
let proto: ProtoGrpcType | undefined;

/** Config folders of clusters not stopped yet: removed if the bench exits without stopping them. */
const liveDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
});

/** One `wxtoken serve` process and a gRPC client to it. */
export class BenchReplica {
  readonly client: TokenServiceClient;

  constructor(
    readonly name: string,
    readonly proc: Spawned,
    readonly addr: string,
  ) {
    this.client = tokenClient(addr);
  }

  get running(): boolean {
    return this.proc.proc.exitCode === null && this.proc.proc.signalCode === null;
  }

  /** A client on a connection of its own (load generators that must not share one). */
  newClient(): TokenServiceClient {
    proto ??= loadProto();
    return new proto.wxtoken.v1.TokenService(
      this.addr,
      grpc.credentials.createInsecure(),
      OWN_CHANNEL,
    );
  }

  /** ListApps' `leader`; undefined when the replica does not answer in time. */
  async isLeader(timeoutMs = 300): Promise<boolean | undefined> {
    try {
      return (await listApps(this.client, timeoutMs)).apps.some((a) => a.leader);
    } catch {
      return undefined;
    }
  }
}

export class BenchCluster {
  readonly replicas: BenchReplica[] = [];
  sim!: SimControl;
  #redis: RedisNode | undefined;
  #simProc: Spawned | undefined;
  #seq = 0;
  readonly #dir = mkdtempSync(join(tmpdir(), 'wxtoken-bench-'));
  readonly #keyPrefix = `wxt-bench-${process.pid}-${Date.now()}:`;

  private constructor(readonly o: BenchClusterOptions) {
    liveDirs.add(this.#dir);
  }

  /** Starts Redis, the simulator and the replicas; resolves once one of them leads. */
  static async start(o: BenchClusterOptions): Promise<BenchCluster> {
    const c = new BenchCluster(o);
    try {
      await c.#start();
      return c;
    } catch (err) {
      await c.stop();
      throw err;
    }
  }

  async #start(): Promise<void> {
    this.#redis = await startRedis();
    const sim = await startSim();
    this.#simProc = sim;
    this.sim = new SimControl(sim.url);
    for (const app of this.o.apps) await this.sim.configureApp({ ...app, secret: BENCH_SECRET });
    // One at a time: replicas starting together would race for the first fetch (that works,
    // but a start-up storm is not what any scenario measures).
    for (let i = 0; i < this.o.replicas; i++) await this.addReplica();
    const leader = await this.waitForLeader(this.replicas, 15_000);
    this.o.log(
      `cluster up: redis ${this.#redis.url}, simulator ${this.sim.url}, ` +
        `${this.o.replicas} replicas (${leader.name} leads)`,
    );
  }

  yaml(): string {
    const apps = this.o.apps
      .map((a) => `  - { appId: ${a.appId}, mode: classic, secretEnv: ${SECRET_ENV} }`)
      .join('\n');
    const refresh = Object.entries(this.o.refresh)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
    return [
      'grpc: { listen: "127.0.0.1:0" }',
      'metrics: { listen: "" }',
      `wechat: { baseUrl: "${this.sim.url}", timeoutMs: 2000 }`,
      `redis: { urls: ["${this.#redis!.url}"], keyPrefix: "${this.#keyPrefix}", ` +
        `reconcileIntervalMs: ${RECONCILE_INTERVAL_MS} }`,
      `lease: { ttlMs: ${CLUSTER_LEASE.ttlMs}, renewIntervalMs: ${CLUSTER_LEASE.renewIntervalMs} }`,
      `refresh: { ${refresh} }`,
      'apps:',
      apps,
      '',
    ].join('\n');
  }

  /** Starts one more replica; resolves once it serves gRPC. */
  async addReplica(): Promise<BenchReplica> {
    const name = `r${++this.#seq}`;
    const config = join(this.#dir, `${name}.yaml`);
    writeFileSync(config, this.yaml());
    // WXT_BENCH_CPU_PROF=DIR: replicas write V8 CPU profiles there when they exit (SIGTERM).
    const prof = process.env.WXT_BENCH_CPU_PROF;
    const proc = await startServeFile(
      config,
      { [SECRET_ENV]: BENCH_SECRET },
      {
        nodeArgs: prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [],
        keepChars: KEEP_OUTPUT_CHARS,
        readyTimeoutMs: 20_000,
      },
    );
    const replica = new BenchReplica(name, proc, proc.addr);
    this.replicas.push(replica);
    return replica;
  }

  /** Every child process running now: replicas, the simulator and Redis. */
  pids(): number[] {
    const procs = [this.#simProc, ...this.replicas.map((r) => r.proc)].filter(
      (p): p is Spawned => p !== undefined && p.proc.exitCode === null && !p.proc.signalCode,
    );
    return [...(this.#redis ? [this.#redis.pid] : []), ...procs.map((p) => p.pid)];
  }

  running(): BenchReplica[] {
    return this.replicas.filter((r) => r.running);
  }

  /** Polls `among` every `everyMs` until one says it leads. */
  async waitForLeader(
    among: readonly BenchReplica[],
    timeoutMs: number,
    everyMs = 10,
  ): Promise<BenchReplica> {
    return waitFor(
      `a leader among ${among.length} replicas`,
      async () => {
        const up = among.filter((r) => r.running);
        const flags = await Promise.all(up.map((r) => r.isLeader()));
        return up.find((_, i) => flags[i] === true);
      },
      timeoutMs,
      everyMs,
    );
  }

  /** Stops everything this cluster started; safe after a failed or partial start. */
  async stop(): Promise<void> {
    await Promise.all(
      this.replicas.map(async (r) => {
        r.client.close();
        await terminate(r.proc);
      }),
    );
    await this.#simProc?.stop('SIGKILL');
    await this.#redis?.stop();
    rmSync(this.#dir, { recursive: true, force: true });
    liveDirs.delete(this.#dir);
  }
}
