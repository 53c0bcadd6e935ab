import type * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { getToken, listApps, tokenClient } from '../../src/cli/grpc-client.js';
import type { Timestamp__Output } from '../../src/grpc/generated/google/protobuf/Timestamp.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServe, startSim, type Spawned } from './processes.js';
import { startRedis, type RedisNode } from './redis-server.js';
import { SimControl } from './sim-control.js';
import { terminate } from './spawned.js';
import { waitFor } from './until.js';

/**
 * A cluster of `wxtoken serve` replicas on real redis-server nodes and a simulator, driven
 * and judged from the outside only (processes, gRPC, the simulator's control API), plus the
 * client-side auditors the cluster e2e suite uses: every token a replica returns is checked
 * at the simulator, fetches are counted there, and leadership is read through ListApps.
 */

/** A short, printable fingerprint of a token (tests print no whole tokens). */
export const fp = (token: string): string => `${token.slice(0, 6)}…${token.slice(-4)}`;

export function timestampMs(ts: Timestamp__Output | null | undefined): number | undefined {
  return ts ? Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6) : undefined;
}

/** Nearest-rank percentile of `values` (0 when empty). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
}

/** Starts are generous: on a loaded machine one (Node, Redis handshakes, warm-up reads) can take long. */
const START = { readyTimeoutMs: 30_000 };

export type ReplicaState = 'running' | 'paused' | 'gone';

/** One `wxtoken serve` process and a gRPC client to it. */
export class Replica {
  state: ReplicaState = 'running';
  /** Bumped whenever the replica leaves or re-enters the audited pool; stale results are dropped. */
  epoch = 0;
  /** Whether client auditors call it now (a load balancer's view of the replica). */
  audited = true;

  constructor(
    readonly name: string,
    readonly proc: Spawned & { addr: string },
    readonly client: TokenServiceClient,
  ) {}

  get pid(): number {
    return this.proc.pid;
  }

  /** Position in the process output, to look for log lines printed after it. */
  logMark(): number {
    return this.proc.output().length;
  }

  logSince(mark: number): string {
    return this.proc.output().slice(mark);
  }

  /** ListApps' `leader` (this replica's leadership); undefined when it does not answer. */
  async isLeader(timeoutMs = 400): Promise<boolean | undefined> {
    try {
      const r = await listApps(this.client, timeoutMs);
      return r.apps.some((a) => a.leader);
    } catch {
      return undefined;
    }
  }
}

export interface SimAppSpec {
  readonly appId: string;
  readonly expiresInSeconds: number;
  readonly overlapSeconds?: number;
  /** The simulator answers this app's calls after this long (an upstream fetch in flight). */
  readonly latencyMs?: number;
}

export interface ClusterSettings {
  readonly redisNodes: number;
  /**
   * The store keys of the replicas' `redis:` section instead of `urls:` of `redisNodes`
   * started here, e.g. `sentinels: [...], sentinelName: x` (issue 16); redisNodes is then 0.
   */
  readonly redisTopology?: string;
  /** Unique per test file (style.md point 19). */
  readonly keyPrefix: string;
  readonly replicas: number;
  readonly apps: readonly SimAppSpec[];
  /** Apps the client auditors call GetToken on and check (all replicas, all the time). */
  readonly auditedApps: readonly string[];
  readonly secret: string;
  readonly leaseTtlMs: number;
  readonly leaseRenewIntervalMs: number;
  readonly reconcileIntervalMs: number;
  readonly aheadSeconds: number;
  /** Pause between two GetToken+check rounds of one auditor (2 CPUs run all of this). */
  readonly auditPaceMs: number;
}

const SECRET_ENV = 'WXT_CLUSTER_E2E_SECRET';

export class Cluster {
  sim: (Spawned & { url: string }) | undefined;
  control!: SimControl;
  redis: RedisNode[] = [];
  /** Indexes of Redis nodes this test stopped and has not restarted. */
  readonly redisDown = new Set<number>();
  /** Every replica started, in order (dead ones stay, state 'gone'). */
  readonly replicas: Replica[] = [];
  audit!: Audit;
  #seq = 0;

  constructor(readonly s: ClusterSettings) {}

  /** Starts Redis, the simulator and the replicas; resolves once one leader serves every app. */
  async start(): Promise<void> {
    // One at a time, so stop() finds whatever started before a failure.
    for (let i = 0; i < this.s.redisNodes; i++) this.redis.push(await startRedis());
    this.sim = await startSim([], START);
    this.control = new SimControl(this.sim.url);
    for (const app of this.s.apps) {
      await this.control.configureApp({ ...app, secret: this.s.secret });
    }
    this.audit = new Audit(this.control, this.s.auditedApps, this.s.auditPaceMs);
    await this.#addReplicas(this.s.replicas);
    await this.waitForSingleLeader(10_000);
    for (const app of this.s.apps) await this.waitConverged(app.appId, 10_000);
  }

  yaml(): string {
    const urls = this.redis.map((n) => `"${n.url}"`).join(', ');
    const topology = this.s.redisTopology ?? `urls: [${urls}]`;
    const apps = this.s.apps
      .map((a) => `  - { appId: ${a.appId}, mode: classic, secretEnv: ${SECRET_ENV} }`)
      .join('\n');
    return `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${this.sim!.url}", timeoutMs: 2000 }
redis: { ${topology}, keyPrefix: "${this.s.keyPrefix}", reconcileIntervalMs: ${this.s.reconcileIntervalMs} }
lease: { ttlMs: ${this.s.leaseTtlMs}, renewIntervalMs: ${this.s.leaseRenewIntervalMs} }
refresh: { aheadSeconds: ${this.s.aheadSeconds}, retryMinMs: 100, retryMaxMs: 1000, forceMinIntervalMs: 1000 }
apps:
${apps}
`;
  }

  /** Starts one more replica and puts it in the audited pool once it serves. */
  async addReplica(): Promise<Replica> {
    const name = `r${++this.#seq}`;
    const proc = await startServe(this.yaml(), { [SECRET_ENV]: this.s.secret }, START);
    const replica = new Replica(name, proc, tokenClient(proc.addr));
    this.replicas.push(replica);
    proc.proc.once('exit', () => {
      replica.state = 'gone';
    });
    this.audit.attach(replica);
    return replica;
  }

  /** Starts `count` replicas at once; waits for all of them even when one fails (cleanup). */
  async #addReplicas(count: number): Promise<void> {
    const started = await Promise.allSettled(
      Array.from({ length: Math.max(0, count) }, () => this.addReplica()),
    );
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  running(): Replica[] {
    return this.replicas.filter((r) => r.state === 'running');
  }

  /** Replicas that answer ListApps with leader=true right now. */
  async leaders(among = this.running()): Promise<Replica[]> {
    const flags = await Promise.all(among.map((r) => r.isLeader()));
    return among.filter((_, i) => flags[i] === true);
  }

  async waitForSingleLeader(timeoutMs: number): Promise<Replica> {
    return waitFor(
      'exactly one leader',
      async () => {
        const l = await this.leaders();
        return l.length === 1 ? l[0] : undefined;
      },
      timeoutMs,
    );
  }

  /** Waits until one of `among` says it leads; resolves with it and the time (ms) since `since`. */
  async waitForLeader(
    among: Replica[],
    since: number,
    timeoutMs: number,
  ): Promise<{ leader: Replica; ms: number }> {
    const leader = await waitFor(
      'a new leader',
      async () => (await this.leaders(among.filter((r) => r.state === 'running')))[0],
      timeoutMs,
      10,
    );
    return { leader, ms: Date.now() - since };
  }

  /** Waits until every running replica returns the same token for `appId`; resolves with it. */
  async waitConverged(appId: string, timeoutMs: number): Promise<string> {
    return waitFor(
      `every replica to serve the same ${appId} token`,
      async () => {
        const got = await Promise.all(
          this.running().map((r) =>
            getToken(r.client, appId, 1_000).then(
              (t) => t.access_token,
              () => undefined,
            ),
          ),
        );
        return got.length > 0 && got.every((t) => t !== undefined && t === got[0])
          ? got[0]
          : undefined;
      },
      timeoutMs,
    );
  }

  /** Resolves when `replica` returns a token for `appId` other than the one it returns now. */
  async waitForRotation(replica: Replica, appId: string, timeoutMs: number): Promise<string> {
    const first = (await getToken(replica.client, appId, 1_000)).access_token;
    return waitFor(
      `a new ${appId} token`,
      async () => {
        const t = await getToken(replica.client, appId, 1_000).catch(() => undefined);
        return t && t.access_token !== first ? t.access_token : undefined;
      },
      timeoutMs,
      5,
    );
  }

  /** Takes the replica out of the audited pool and sends `signal`; resolves with the exit code. */
  signal(replica: Replica, signal: 'SIGKILL' | 'SIGTERM'): Promise<number | null> {
    this.audit.detach(replica);
    replica.state = 'gone';
    return replica.proc.stop(signal);
  }

  /** SIGSTOP: the process hangs with its sockets open, as in a long GC pause. */
  pause(replica: Replica): void {
    this.audit.detach(replica);
    replica.state = 'paused';
    replica.proc.proc.kill('SIGSTOP');
  }

  /** SIGCONT; the auditors call it again after `auditAfterMs`. */
  resume(replica: Replica, auditAfterMs: number): void {
    replica.proc.proc.kill('SIGCONT');
    replica.state = 'running';
    setTimeout(() => {
      if (replica.state === 'running') this.audit.reattach(replica);
    }, auditAfterMs);
  }

  async stopRedis(indexes: number[]): Promise<void> {
    for (const i of indexes) this.redisDown.add(i);
    await Promise.all(indexes.map((i) => this.redis[i]!.stop()));
  }

  /** Restarts stopped nodes: fresh, empty processes on the same ports. */
  async restartRedis(indexes = [...this.redisDown]): Promise<void> {
    await Promise.all(indexes.map((i) => this.redis[i]!.restart()));
    for (const i of indexes) this.redisDown.delete(i);
  }

  /** Runs `fn` on a raw connection to every Redis node (ioredis, outside the product). */
  async eachRedis<T>(fn: (r: Redis) => Promise<T>): Promise<T[]> {
    return Promise.all(
      this.redis.map(async (node) => {
        const r = new Redis(node.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
        r.on('error', () => undefined);
        try {
          await r.connect();
          return await fn(r);
        } finally {
          r.disconnect();
        }
      }),
    );
  }

  /** Number of keys under this cluster's prefix on every node. */
  async keyCounts(): Promise<number[]> {
    return this.eachRedis(async (r) => (await r.keys(`${this.s.keyPrefix}*`)).length);
  }

  /**
   * Puts the cluster back to 3 running, audited replicas, all Redis nodes up and one leader, so a
   * scenario does not depend on how the one before it ended.
   */
  async ensureHealthy(): Promise<void> {
    if (this.redisDown.size > 0) await this.restartRedis();
    for (const r of this.replicas) if (r.state === 'paused') this.resume(r, 0);
    const missing = this.s.replicas - this.running().length;
    await this.#addReplicas(missing);
    await this.waitForSingleLeader(10_000);
    for (const app of this.s.apps) await this.waitConverged(app.appId, 10_000);
  }

  /** Counters and call log of the simulator for `appIds`, from now until `close()`. */
  async fetchWindow(appIds: readonly string[]): Promise<FetchWindow> {
    return FetchWindow.open(this.control, appIds);
  }

  /** Stops everything this cluster started; safe after a failed or partial start. */
  async stop(): Promise<void> {
    await this.audit?.stop();
    await Promise.all(
      this.replicas.map(async (r) => {
        r.client.close();
        await terminate(r.proc);
      }),
    );
    await Promise.all(this.redis.map((n) => n.stop()));
    if (this.sim) await terminate(this.sim);
  }
}

// ---------------------------------------------------------------------------------------------
// Upstream accounting (the simulator's counters and call log)

export interface AppFetches {
  readonly tokenCalls: number;
  readonly tokenIssued: number;
  readonly checkCalls: number;
  /** Sim-clock times (ms) of every /cgi-bin/token call in the window. */
  readonly callTimes: number[];
  /** Gaps (ms) between consecutive token calls. */
  readonly gaps: number[];
}

export interface FetchSummary {
  readonly ms: number;
  readonly apps: Record<string, AppFetches>;
}

export class FetchWindow {
  private constructor(
    private readonly control: SimControl,
    private readonly appIds: readonly string[],
    private readonly startedAt: number,
    private readonly before: Record<
      string,
      { tokenCalls: number; tokenIssued: number; checkCalls: number }
    >,
  ) {}

  static async open(control: SimControl, appIds: readonly string[]): Promise<FetchWindow> {
    const startedAt = Date.now();
    const before: FetchWindow['before'] = {};
    for (const appId of appIds) before[appId] = await control.counters(appId);
    return new FetchWindow(control, appIds, startedAt, before);
  }

  async close(): Promise<FetchSummary> {
    const ms = Date.now() - this.startedAt;
    const apps: Record<string, AppFetches> = {};
    for (const appId of this.appIds) {
      const after = await this.control.counters(appId);
      const b = this.before[appId]!;
      const callTimes = (await this.control.calls(appId, this.startedAt))
        .filter((c) => c.endpoint === 'token')
        .map((c) => c.at)
        .sort((x, y) => x - y);
      apps[appId] = {
        tokenCalls: after.tokenCalls - b.tokenCalls,
        tokenIssued: after.tokenIssued - b.tokenIssued,
        checkCalls: after.checkCalls - b.checkCalls,
        callTimes,
        gaps: callTimes.slice(1).map((t, i) => t - callTimes[i]!),
      };
    }
    return { ms, apps };
  }
}

// ---------------------------------------------------------------------------------------------
// Client auditors

/** A token a replica returned that WeChat did not accept. */
export interface InvalidServe {
  readonly replica: string;
  readonly appId: string;
  readonly token: string;
  readonly generation: string;
  readonly errcode: number;
  /** Server's expires_at minus the time the request was sent (negative: served dead). */
  readonly lifeLeftMs: number;
}

export interface AuditError {
  readonly replica: string;
  readonly appId: string;
  readonly code: number | undefined;
  readonly details: string;
}

export interface AuditSummary {
  readonly ms: number;
  readonly calls: number;
  /** replica name → appId → successful GetToken calls audited. */
  readonly served: Record<string, Record<string, number>>;
  readonly errors: AuditError[];
  readonly invalid: InvalidServe[];
  /** Invalid at the check, but already past the expires_at the server gave (died in transit). */
  readonly expiredInTransit: number;
  /** One generation carrying two different tokens (a write that was not fenced). */
  readonly generationConflicts: string[];
  /** A replica returning an older generation after a newer one (a newer token overwritten). */
  readonly regressions: string[];
  /** appId → distinct tokens served. */
  readonly distinctTokens: Record<string, number>;
}

class AuditWindow {
  readonly startedAt = Date.now();
  calls = 0;
  readonly served: Record<string, Record<string, number>> = {};
  readonly errors: AuditError[] = [];
  readonly invalid: InvalidServe[] = [];
  expiredInTransit = 0;
  readonly generationConflicts: string[] = [];
  readonly regressions: string[] = [];
  readonly tokens = new Map<string, Set<string>>();
}

/**
 * Business servers calling GetToken on every replica throughout (one sequential worker per
 * replica and app, so each replica's answers are ordered), checking every returned token at
 * the simulator (`/__sim/check`, not counted as a WeChat call). Results are accumulated into
 * every open window. A replica out of the pool (killed, SIGTERMed, SIGSTOPped) is not called,
 * and answers to calls that straddled its removal are dropped, as a load balancer would.
 */
export class Audit {
  #stopped = false;
  readonly #open = new Set<AuditWindow>();
  /** appId → generation → token, across the whole run and all replicas. */
  readonly #generations = new Map<string, Map<string, string>>();
  /** `${replica}/${appId}` → last generation served. */
  readonly #lastGeneration = new Map<string, bigint>();
  readonly #workers: Promise<void>[] = [];
  readonly whole: AuditWindow;

  constructor(
    private readonly control: SimControl,
    private readonly appIds: readonly string[],
    private readonly paceMs: number,
  ) {
    this.whole = this.#openWindow();
  }

  #openWindow(): AuditWindow {
    const w = new AuditWindow();
    this.#open.add(w);
    return w;
  }

  /** Starts accumulating; `close()` stops and summarises. */
  window(): { servedBy: (replica: string) => number; close: () => AuditSummary } {
    const w = this.#openWindow();
    return {
      servedBy: (replica) => Object.values(w.served[replica] ?? {}).reduce((x, y) => x + y, 0),
      close: () => {
        this.#open.delete(w);
        return summarise(w);
      },
    };
  }

  summary(): AuditSummary {
    return summarise(this.whole);
  }

  attach(replica: Replica): void {
    for (const appId of this.appIds) this.#workers.push(this.#work(replica, appId));
  }

  detach(replica: Replica): void {
    replica.audited = false;
    replica.epoch++;
  }

  reattach(replica: Replica): void {
    replica.epoch++;
    replica.audited = true;
  }

  /** Stops the workers; resolves when they finished (or after 3 s: a call may hang on a paused one). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.race([Promise.all(this.#workers), sleep(3_000)]);
  }

  async #work(replica: Replica, appId: string): Promise<void> {
    while (!this.#stopped && replica.state !== 'gone') {
      if (!replica.audited) {
        await sleep(10);
        continue;
      }
      const epoch = replica.epoch;
      const current = (): boolean => !this.#stopped && replica.audited && replica.epoch === epoch;
      const sentAt = Date.now();
      let token;
      try {
        token = await getToken(replica.client, appId, 2_000);
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (current()) {
          this.#each((w) => {
            w.calls++;
            w.errors.push({
              replica: replica.name,
              appId,
              code: e.code,
              details: e.details ?? e.message,
            });
          });
        }
        await sleep(this.paceMs);
        continue;
      }
      if (!current()) continue;
      const checkedAt = Date.now();
      const verdict = await this.control.check(token.access_token).catch(() => undefined);
      if (verdict === undefined || !current()) continue;
      const expiresAt = timestampMs(token.expires_at) ?? -Infinity;
      this.#record(replica, appId, token.access_token, token.generation, (w) => {
        w.calls++;
        const byApp = (w.served[replica.name] ??= {});
        byApp[appId] = (byApp[appId] ?? 0) + 1;
        if (!w.tokens.has(appId)) w.tokens.set(appId, new Set());
        w.tokens.get(appId)!.add(token.access_token);
        if (verdict.valid) return;
        // The replica answered at some point after sentAt and before checkedAt: a token whose
        // expires_at falls after sentAt may have been live when it was served and died on the
        // way to the check. Anything else WeChat rejects is a dead or superseded token served.
        if (expiresAt > sentAt && expiresAt <= checkedAt + 5) {
          w.expiredInTransit++;
          return;
        }
        w.invalid.push({
          replica: replica.name,
          appId,
          token: fp(token.access_token),
          generation: token.generation,
          errcode: verdict.errcode,
          lifeLeftMs: expiresAt - sentAt,
        });
      });
      await sleep(this.paceMs);
    }
  }

  #record(
    replica: Replica,
    appId: string,
    token: string,
    generation: string,
    add: (w: AuditWindow) => void,
  ): void {
    const issues: { conflict?: string; regression?: string } = {};
    const byGen = this.#generations.get(appId) ?? new Map<string, string>();
    this.#generations.set(appId, byGen);
    const known = byGen.get(generation);
    if (known === undefined) byGen.set(generation, token);
    else if (known !== token) {
      issues.conflict = `${appId} generation ${generation}: ${fp(known)} and ${fp(token)} (from ${replica.name})`;
    }
    const key = `${replica.name}/${appId}`;
    const gen = BigInt(generation || '0');
    const last = this.#lastGeneration.get(key);
    if (last !== undefined && gen < last) {
      issues.regression = `${replica.name} ${appId}: generation ${last} then ${gen}`;
    }
    if (last === undefined || gen > last) this.#lastGeneration.set(key, gen);
    this.#each((w) => {
      add(w);
      if (issues.conflict) w.generationConflicts.push(issues.conflict);
      if (issues.regression) w.regressions.push(issues.regression);
    });
  }

  #each(fn: (w: AuditWindow) => void): void {
    for (const w of this.#open) fn(w);
  }
}

function summarise(w: AuditWindow): AuditSummary {
  return {
    ms: Date.now() - w.startedAt,
    calls: w.calls,
    served: structuredClone(w.served),
    errors: [...w.errors],
    invalid: [...w.invalid],
    expiredInTransit: w.expiredInTransit,
    generationConflicts: [...new Set(w.generationConflicts)],
    regressions: [...w.regressions],
    distinctTokens: Object.fromEntries([...w.tokens].map(([k, v]) => [k, v.size])),
  };
}

// ---------------------------------------------------------------------------------------------
// Propagation

export interface PropagationResult {
  /** Per rotation: ms from the first replica returning the new token to the last one doing so. */
  readonly spreadsMs: number[];
  /** New tokens some replica returned that another never returned (it skipped a token). */
  readonly missed: string[];
  readonly polls: number;
  readonly pollErrors: number;
  /** Event-loop delay of this (measuring) process meanwhile: how far to trust the figures. */
  readonly loopDelayP99Ms: number;
}

/**
 * Polls GetToken on every replica as tightly as `gapMs` allows for `durationMs` and, for each
 * token that appears after the start, measures how long after the first replica returned it
 * the last one did (resolution: one poll round trip).
 */
export async function measurePropagation(
  replicas: Replica[],
  appId: string,
  durationMs: number,
  gapMs = 1,
): Promise<PropagationResult> {
  const start = Date.now();
  const end = start + durationMs;
  const firstSeen = new Map<string, Map<string, number>>();
  const initial = new Set<string>();
  let polls = 0;
  let pollErrors = 0;
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  await Promise.all(
    replicas.map(async (r) => {
      let first = true;
      while (Date.now() < end) {
        try {
          const t = await getToken(r.client, appId, 1_000);
          const at = Date.now();
          polls++;
          if (first) initial.add(t.access_token);
          first = false;
          const seen = firstSeen.get(t.access_token) ?? new Map<string, number>();
          firstSeen.set(t.access_token, seen);
          if (!seen.has(r.name)) seen.set(r.name, at);
        } catch {
          pollErrors++;
        }
        await sleep(gapMs);
      }
    }),
  );
  loop.disable();
  const spreadsMs: number[] = [];
  const missed: string[] = [];
  for (const [token, seen] of firstSeen) {
    if (initial.has(token)) continue;
    const times = [...seen.values()];
    if (seen.size === replicas.length) spreadsMs.push(Math.max(...times) - Math.min(...times));
    else if (Math.min(...times) < end - 1_000)
      missed.push(`${fp(token)} seen by ${[...seen.keys()].join(',')}`);
  }
  return { spreadsMs, missed, polls, pollErrors, loopDelayP99Ms: loop.percentile(99) / 1e6 };
}
