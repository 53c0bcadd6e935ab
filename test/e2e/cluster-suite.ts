import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { until, waitFor } from '../support/until.js';
import { forceRefresh, getToken } from '../../src/cli/grpc-client.js';
import {
  Cluster,
  measurePropagation,
  percentile,
  type AppFetches,
  type AuditSummary,
  type Replica,
} from '../support/cluster.js';

/**
 * The cluster acceptance suite (issue 3), judged from the outside only: 3 `wxtoken serve`
 * processes on real redis-server nodes and the simulator, client auditors calling GetToken on
 * every replica throughout and checking every returned token at the simulator. Each test names
 * the invariant of design.md it checks. cluster-1node.test.ts and cluster-3node.test.ts run it
 * on both topologies (separate files so vitest can run them in parallel).
 */

export interface Topology {
  readonly name: string;
  readonly redisNodes: number;
}

export const TOPOLOGIES: readonly Topology[] = [
  { name: '1 Redis node', redisNodes: 1 },
  { name: '3 independent Redis masters', redisNodes: 3 },
];

/** Short-lived classic token: many rotations in seconds. */
const CLASSIC = 'wxclusterrot0001';
/** Long-lived: stays live through a Redis outage; never rotates by schedule during the run. */
const LONG = 'wxclusterlong001';
/** Only for the ForceRefresh herd (not audited: the test invalidates its token on purpose). */
const HERD = 'wxclusterherd001';
const SECRET = 'cluster-e2e-secret-never-printed-51c2';

const LIFETIME_S = 4;
const OVERLAP_S = 1.5;
const AHEAD_S = 1.2;
const JITTER = 0.2; // refresh.jitterRatio default
/** A rotation every 2.56 to 2.8 s: the lifetime less aheadSeconds and its jitter. */
const ROTATION_MIN_S = LIFETIME_S - AHEAD_S * (1 + JITTER);
const ROTATION_MAX_S = LIFETIME_S - AHEAD_S;
/** Two token calls closer than this are two fetches for one rotation. */
const DUPLICATE_GAP_MS = 2_000;
const LEASE_TTL_MS = 2_000;
const LEASE_RENEW_MS = 500;
const RECONCILE_MS = 500;

export function clusterSuite(topology: Topology): void {
  const tag = `[cluster ${topology.redisNodes}n]`;
  const cluster = new Cluster({
    redisNodes: topology.redisNodes,
    keyPrefix: `wxt-e2e-cluster-${topology.redisNodes}n-${process.pid}:`,
    replicas: 3,
    apps: [
      { appId: CLASSIC, expiresInSeconds: LIFETIME_S, overlapSeconds: OVERLAP_S },
      { appId: LONG, expiresInSeconds: 600, overlapSeconds: OVERLAP_S },
      { appId: HERD, expiresInSeconds: 7200, overlapSeconds: OVERLAP_S },
    ],
    auditedApps: [CLASSIC, LONG],
    secret: SECRET,
    leaseTtlMs: LEASE_TTL_MS,
    leaseRenewIntervalMs: LEASE_RENEW_MS,
    reconcileIntervalMs: RECONCILE_MS,
    aheadSeconds: AHEAD_S,
    auditPaceMs: 15,
  });
  const log = (msg: string): void => console.log(`${tag} ${msg}`);

  beforeAll(async () => {
    log(
      `lease ttlMs=${LEASE_TTL_MS} renewIntervalMs=${LEASE_RENEW_MS}; reconcileIntervalMs=${RECONCILE_MS}; ` +
        `classic expires_in ${LIFETIME_S} s, overlap ${OVERLAP_S} s, aheadSeconds ${AHEAD_S}`,
    );
    await cluster.start();
  }, 60_000);

  afterAll(async () => {
    if (cluster.audit) log(`whole run: ${describeAudit(cluster.audit.summary())}`);
    await cluster.stop();
  }, 60_000);

  beforeEach(() => cluster.ensureHealthy(), 30_000);

  const fetchesOf = (f: { apps: Record<string, AppFetches> }, appId: string): AppFetches =>
    f.apps[appId]!;

  it('invariant 1: three replicas starting together fetch each app once, cluster-wide', async () => {
    for (const appId of [LONG, HERD]) {
      expect((await cluster.control.counters(appId)).tokenCalls, appId).toBe(1);
    }
    const classic = (await cluster.control.calls(CLASSIC, 0)).filter((c) => c.endpoint === 'token');
    const gaps = classic.slice(1).map((c, i) => c.at - classic[i]!.at);
    expect(
      gaps.filter((g) => g < DUPLICATE_GAP_MS),
      'duplicate classic fetches',
    ).toEqual([]);
    expect(await cluster.leaders()).toHaveLength(1);
  });

  it('invariants 1 + 3 + 5: one fetch per rotation cluster-wide, zero invalid, every replica switches within the propagation bound', async () => {
    const fetches = await cluster.fetchWindow([CLASSIC, LONG]);
    const audit = cluster.audit.window();
    const prop = await measurePropagation(cluster.running(), CLASSIC, 12_000);
    const f = await fetches.close();
    const a = audit.close();
    const classic = fetchesOf(f, CLASSIC);
    log(
      `rotation: ${(f.ms / 1000).toFixed(1)} s, classic fetches ${classic.tokenCalls} (issued ${classic.tokenIssued}, ` +
        `gaps ${classic.gaps.map((g) => (g / 1000).toFixed(2)).join('/')} s); ${describeAudit(a)}`,
    );
    log(
      `propagation (first replica → last replica returning a new token, ${prop.spreadsMs.length} rotations, ` +
        `${prop.polls} polls): p50 ${percentile(prop.spreadsMs, 50)} ms, p99 ${percentile(prop.spreadsMs, 99)} ms, ` +
        `max ${Math.max(0, ...prop.spreadsMs)} ms; samples ${prop.spreadsMs.join(',')} ` +
        `(target p99 < 100 ms; event-loop delay p99 of the measuring process ${prop.loopDelayP99Ms.toFixed(1)} ms)`,
    );
    expectCleanAudit(a, cluster.running());
    expectOneFetchPerRotation(classic, f.ms);
    expect(fetchesOf(f, LONG).tokenCalls).toBe(0);
    // Every fetched token reached every replica. Typically within 100 ms (pub/sub: the median
    // says whether it works), and always within the reconcile bound, well inside the overlap.
    // The 100 ms p99 target is printed, not asserted: on a shared 2-CPU box a replica (or this
    // measuring process) can be starved for longer (design.md: tests never assert on speed).
    expect(prop.missed, 'tokens some replica never served').toEqual([]);
    expect(prop.pollErrors).toBe(0);
    expect(prop.spreadsMs.length).toBeGreaterThanOrEqual(Math.max(3, classic.tokenCalls - 1));
    expect(percentile(prop.spreadsMs, 50), 'propagation p50 (ms)').toBeLessThan(100);
    expect(Math.max(...prop.spreadsMs), 'propagation max (ms)').toBeLessThan(RECONCILE_MS + 100);
  }, 40_000);

  it('invariants 7 + 3: SIGKILL of the leader early in a token lifetime: another leads within the lease TTL + 1 s, zero invalid, one fetch per rotation', async () => {
    const leader = await cluster.waitForSingleLeader(5_000);
    const others = cluster.running().filter((r) => r !== leader);
    await cluster.waitForRotation(leader, CLASSIC, 5_000);
    await sleep(200);
    const marks = new Map(others.map((r) => [r, r.logMark()]));
    const fetches = await cluster.fetchWindow([CLASSIC, LONG, HERD]);
    const audit = cluster.audit.window();

    const killedAt = Date.now();
    const exited = cluster.signal(leader, 'SIGKILL');
    const { leader: next, ms } = await cluster.waitForLeader(
      others,
      killedAt,
      LEASE_TTL_MS + 5_000,
    );
    await exited;
    log(
      `SIGKILL failover: ${next.name} leads ${ms} ms after ${leader.name} was killed (lease TTL ${LEASE_TTL_MS} ms)`,
    );
    expect(ms, 'failover after SIGKILL (ms)').toBeLessThanOrEqual(LEASE_TTL_MS + 1_000);
    // Logs are written asynchronously (and batched under load): wait for the line, briefly.
    await until(
      '"became leader" in the new leader\'s log',
      () => /"msg":"became leader/.test(next.logSince(marks.get(next)!)),
      1_000,
    );

    // Rotations go on under the new leader; a replacement replica joins meanwhile.
    const [replacement] = await Promise.all([cluster.addReplica(), sleep(7_000)]);
    // A loaded machine may start the replacement late in that window: audit it before closing.
    await until(
      'audited calls on the replacement',
      () => audit.servedBy(replacement.name) > 0,
      10_000,
    );
    const f = await fetches.close();
    const a = audit.close();
    log(
      `after SIGKILL: classic fetches ${fetchesOf(f, CLASSIC).tokenCalls} in ${(f.ms / 1000).toFixed(1)} s; ${describeAudit(a)}`,
    );
    expectCleanAudit(a, [...others, replacement]);
    expectOneFetchPerRotation(fetchesOf(f, CLASSIC), f.ms);
    expect(
      fetchesOf(f, LONG).tokenCalls,
      'LONG fetches (joining replica warms from the store)',
    ).toBe(0);
    expect(fetchesOf(f, HERD).tokenCalls).toBe(0);
    expect(await cluster.leaders()).toEqual([next]);
  }, 40_000);

  it('invariant 7: SIGTERM of the leader releases the lease: another leads within about a second, exit code 0', async () => {
    const leader = await cluster.waitForSingleLeader(5_000);
    const others = cluster.running().filter((r) => r !== leader);
    await cluster.waitForRotation(leader, CLASSIC, 5_000);
    await sleep(200);
    const leaderMark = leader.logMark();
    const fetches = await cluster.fetchWindow([CLASSIC, LONG, HERD]);
    const audit = cluster.audit.window();

    const termAt = Date.now();
    const exited = cluster.signal(leader, 'SIGTERM');
    const { leader: next, ms } = await cluster.waitForLeader(others, termAt, 5_000);
    const code = await exited;
    const exitMs = Date.now() - termAt;
    log(
      `SIGTERM handover: ${next.name} leads ${ms} ms after SIGTERM to ${leader.name} (exit ${code} after ${exitMs} ms)`,
    );
    expect(code).toBe(0);
    expect(ms, 'handover after SIGTERM (ms)').toBeLessThan(1_500);
    expect(leader.logSince(leaderMark)).toMatch(/"msg":"stopped leading"/);

    const [replacement] = await Promise.all([cluster.addReplica(), sleep(5_000)]);
    // A loaded machine may start the replacement late in that window: audit it before closing.
    await until(
      'audited calls on the replacement',
      () => audit.servedBy(replacement.name) > 0,
      10_000,
    );
    const f = await fetches.close();
    const a = audit.close();
    log(
      `after SIGTERM: classic fetches ${fetchesOf(f, CLASSIC).tokenCalls} in ${(f.ms / 1000).toFixed(1)} s; ${describeAudit(a)}`,
    );
    expectCleanAudit(a, [...others, replacement]);
    expectOneFetchPerRotation(fetchesOf(f, CLASSIC), f.ms);
    expect(fetchesOf(f, LONG).tokenCalls).toBe(0);
    expect(await cluster.leaders()).toEqual([next]);
  }, 40_000);

  it('invariants 1 + 6: 300 ForceRefresh with the same invalidated token, round-robin over 3 replicas: one check, one fetch, one new token', async () => {
    const stale = await cluster.waitConverged(HERD, 5_000);
    await cluster.control.rotate(HERD, true); // another system fetched: our token is dead at once
    expect((await cluster.control.check(stale)).valid).toBe(false);
    const replicas = cluster.running();
    expect(replicas).toHaveLength(3);
    const fetches = await cluster.fetchWindow([HERD]);
    const startedAt = Date.now();
    const settled = await Promise.allSettled(
      Array.from({ length: 300 }, (_, i) =>
        forceRefresh(replicas[i % replicas.length]!.client, {
          app_id: HERD,
          stale_token: stale,
          reason: 'e2e cluster herd',
        }),
      ),
    );
    const herdMs = Date.now() - startedAt;
    const f = fetchesOf(await fetches.close(), HERD);
    const failures = settled.flatMap((s) =>
      s.status === 'rejected' ? [String((s.reason as Error).message)] : [],
    );
    const replies = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const tokens = new Set(replies.map((r) => r.token?.access_token ?? ''));
    const refreshed = replies.filter((r) => r.refreshed).length;
    log(
      `herd: 300 ForceRefresh in ${herdMs} ms → upstream token fetches ${f.tokenCalls}, validity checks ${f.checkCalls}, ` +
        `distinct tokens returned ${tokens.size}, refreshed=true ${refreshed}, failures ${failures.length}`,
    );
    expect(failures.slice(0, 5), `${failures.length} ForceRefresh calls failed`).toEqual([]);
    expect(f.tokenCalls, 'upstream token fetches for the herd').toBe(1);
    expect(f.checkCalls, 'validity checks for the herd').toBe(1);
    expect(tokens.size).toBe(1);
    const fresh = [...tokens][0]!;
    expect(fresh).not.toBe(stale);
    expect(fresh).not.toBe('');
    expect(refreshed).toBeGreaterThanOrEqual(1);
    expect((await cluster.control.check(fresh)).valid).toBe(true);
    expect(await cluster.waitConverged(HERD, 1_000)).toBe(fresh);
  }, 30_000);

  it('invariant 6 (verdicts are only as fresh as the report): 50 reports of a live token are kept; it dies; 200 reports 100 ms later get one fetch and the new token, over 3 replicas', async () => {
    const live = await cluster.waitConverged(HERD, 5_000);
    const replicas = cluster.running();
    const herd = (n: number, stale: string) =>
      Promise.all(
        Array.from({ length: n }, (_, i) =>
          forceRefresh(replicas[i % replicas.length]!.client, {
            app_id: HERD,
            stale_token: stale,
            reason: 'e2e verdict freshness',
          }),
        ),
      );
    // The previous test's forced fetch must be outside the per-app minimum interval (1 s here).
    await sleep(1_100);
    const kept = await herd(50, live);
    expect(kept.every((r) => r.token?.access_token === live && !r.refreshed)).toBe(true);
    const fetches = await cluster.fetchWindow([HERD]);
    await cluster.control.rotate(HERD, true); // the live token dies at WeChat
    await sleep(100);
    const answers = await herd(200, live);
    const f = fetchesOf(await fetches.close(), HERD);
    const tokens = new Set(answers.map((r) => r.token?.access_token ?? ''));
    log(
      `verdict freshness: after the token died, 200 reports → fetches ${f.tokenCalls}, checks ${f.checkCalls}, ` +
        `distinct tokens ${tokens.size}`,
    );
    expect(f.tokenCalls, 'upstream token fetches after the token died').toBe(1);
    expect(f.checkCalls, 'validity checks after the token died').toBeLessThanOrEqual(2);
    expect(tokens.size).toBe(1);
    const fresh = [...tokens][0]!;
    expect(fresh).not.toBe(live);
    expect((await cluster.control.check(fresh)).valid).toBe(true);
  }, 30_000);

  if (topology.redisNodes >= 3) {
    it('topology: one of three Redis nodes stopped (and restarted empty) is invisible to clients', async () => {
      const fetches = await cluster.fetchWindow([CLASSIC, LONG, HERD]);
      const audit = cluster.audit.window();
      await cluster.stopRedis([0]);
      await sleep(6_500);
      await cluster.restartRedis([0]);
      await sleep(3_000);
      const f = await fetches.close();
      const a = audit.close();
      log(
        `one node down 6.5 s + 3 s after its restart: classic fetches ${fetchesOf(f, CLASSIC).tokenCalls} ` +
          `(gaps ${fetchesOf(f, CLASSIC)
            .gaps.map((g) => (g / 1000).toFixed(2))
            .join('/')} s); ${describeAudit(a)}`,
      );
      expectCleanAudit(a, cluster.running());
      expectOneFetchPerRotation(fetchesOf(f, CLASSIC), f.ms);
      expect(fetchesOf(f, LONG).tokenCalls).toBe(0);
      expect(fetchesOf(f, HERD).tokenCalls).toBe(0);
      expect(await cluster.leaders()).toHaveLength(1);
    }, 30_000);
  }

  it('degraded mode: all Redis nodes down for 3 s: cached live tokens keep being served, no fetch storm; Redis back: a leader again, one fetch per rotation', async () => {
    const all = cluster.redis.map((_, i) => i);
    // Start just after a rotation, so the next scheduled refresh falls inside the outage.
    await cluster.waitForRotation(cluster.running()[0]!, CLASSIC, 5_000);
    await sleep(200);
    const outageFetches = await cluster.fetchWindow([CLASSIC, LONG, HERD]);
    const outageAudit = cluster.audit.window();
    // From the outage until every replica serves one classic token again.
    const degradedAudit = cluster.audit.window();
    await cluster.stopRedis(all);
    await sleep(3_000);
    const o = outageAudit.close();
    const of = await outageFetches.close();
    log(
      `Redis outage ${(o.ms / 1000).toFixed(1)} s: upstream fetches classic ${fetchesOf(of, CLASSIC).tokenCalls}, ` +
        `long ${fetchesOf(of, LONG).tokenCalls}; ${describeAudit(o)}`,
    );

    const recoveryFetches = await cluster.fetchWindow([CLASSIC, LONG, HERD]);
    const restartedAt = Date.now();
    await cluster.restartRedis(all);
    const { leader, ms: electedMs } = await cluster.waitForLeader(
      cluster.running(),
      restartedAt,
      10_000,
    );
    const fresh = await cluster.waitConverged(CLASSIC, 10_000);
    const servedAgainMs = Date.now() - restartedAt;
    const freshValid = (await cluster.control.check(fresh)).valid;
    const d = degradedAudit.close();
    const classicErrors = d.errors.filter((e) => e.appId === CLASSIC);
    log(
      `Redis back: ${leader.name} leads after ${electedMs} ms; all replicas serve one classic token after ${servedAgainMs} ms. ` +
        `Outage to recovery: classic GetToken errors ${classicErrors.length} ` +
        `(codes ${[...new Set(classicErrors.map((e) => e.code))].join(',')}); ${describeAudit(d)}`,
    );
    const after = cluster.audit.window();
    await sleep(5_000);
    const a = after.close();
    const rf = await recoveryFetches.close();
    log(
      `after recovery: classic fetches ${fetchesOf(rf, CLASSIC).tokenCalls} in ${(rf.ms / 1000).toFixed(1)} s, ` +
        `long ${fetchesOf(rf, LONG).tokenCalls}, herd ${fetchesOf(rf, HERD).tokenCalls}; ${describeAudit(a)}`,
    );

    // Outage to recovery: the long-lived token is served by every replica without a single
    // error, and WeChat rejects nothing any replica serves.
    expect(d.invalid).toEqual([]);
    expect(d.generationConflicts).toEqual([]);
    expect(d.regressions).toEqual([]);
    const longErrors = d.errors.filter((e) => e.appId === LONG);
    expect(
      longErrors.slice(0, 5),
      `${longErrors.length} GetToken(LONG) errors during the outage`,
    ).toEqual([]);
    for (const r of cluster.running()) {
      expect(
        o.served[r.name]?.[LONG] ?? 0,
        `${r.name} served LONG during the outage`,
      ).toBeGreaterThan(0);
    }
    // A classic token that expires meanwhile is refused (UNAVAILABLE), never served dead.
    expect([...new Set(classicErrors.map((e) => e.code))].filter((c) => c !== 14)).toEqual([]);
    // No storm: nobody fetches without the refresh lock.
    expect(
      fetchesOf(of, CLASSIC).tokenCalls,
      'classic fetches during the outage',
    ).toBeLessThanOrEqual(1);
    expect(fetchesOf(of, LONG).tokenCalls).toBe(0);
    expect(fetchesOf(of, HERD).tokenCalls).toBe(0);

    // Recovery: one leader, valid tokens, one fetch per rotation (the first one included).
    expect(electedMs).toBeLessThanOrEqual(10_000);
    expect(freshValid, 'the classic token all replicas serve once Redis is back').toBe(true);
    expectCleanAudit(a, cluster.running());
    expectOneFetchPerRotation(fetchesOf(rf, CLASSIC), rf.ms);
    expect(
      fetchesOf(rf, LONG).tokenCalls,
      'LONG fetches after Redis came back empty',
    ).toBeLessThanOrEqual(1);
    expect(
      fetchesOf(rf, HERD).tokenCalls,
      'HERD fetches after Redis came back empty',
    ).toBeLessThanOrEqual(1);
    expect(await cluster.leaders()).toHaveLength(1);
  }, 45_000);

  it('degraded mode: Redis keys lost (FLUSHALL on every node): at most one extra fetch cluster-wide, clients see nothing, the store is repaired', async () => {
    const fetches = await cluster.fetchWindow([CLASSIC, LONG, HERD]);
    const audit = cluster.audit.window();
    await cluster.eachRedis((r) => r.flushall());
    await sleep(6_000);
    const keys = await cluster.keyCounts();
    // A replica started now warms from the repaired store: it must not need a fetch.
    const longToken = (await getToken(cluster.running()[0]!.client, LONG, 2_000)).access_token;
    const joiner = await cluster.addReplica();
    const joinerLong = await getToken(joiner.client, LONG, 5_000);
    await sleep(500);
    const f = await fetches.close();
    const a = audit.close();
    log(
      `FLUSHALL: classic fetches ${fetchesOf(f, CLASSIC).tokenCalls} in ${(f.ms / 1000).toFixed(1)} s ` +
        `(gaps ${fetchesOf(f, CLASSIC)
          .gaps.map((g) => (g / 1000).toFixed(2))
          .join('/')} s), ` +
        `long ${fetchesOf(f, LONG).tokenCalls}, herd ${fetchesOf(f, HERD).tokenCalls}; keys per node after ${keys.join('/')}; ${describeAudit(a)}`,
    );
    expectCleanAudit(a, cluster.running());
    expectOneFetchPerRotation(fetchesOf(f, CLASSIC), f.ms, 1);
    expect(fetchesOf(f, LONG).tokenCalls, 'LONG fetches after the flush').toBeLessThanOrEqual(1);
    expect(fetchesOf(f, HERD).tokenCalls, 'HERD fetches after the flush').toBeLessThanOrEqual(1);
    for (const [i, n] of keys.entries())
      expect(n, `keys under the prefix on node ${i}`).toBeGreaterThan(0);
    expect(joinerLong.access_token).toBe(longToken);
    expect(await cluster.leaders()).toHaveLength(1);
    // Back to 3 replicas for the next scenario.
    expect(await cluster.signal(joiner, 'SIGTERM')).toBe(0);
  }, 40_000);

  it('invariants 2 + 7: SIGSTOP of the leader past the lease TTL: another leads; resumed, the old leader steps down and overwrites nothing', async () => {
    const leader = await cluster.waitForSingleLeader(5_000);
    const others = cluster.running().filter((r) => r !== leader);
    await cluster.waitForRotation(leader, CLASSIC, 5_000);
    await sleep(300);
    const leaderMark = leader.logMark();
    const marks = new Map(others.map((r) => [r, r.logMark()]));
    const fetches = await cluster.fetchWindow([CLASSIC, LONG, HERD]);
    const audit = cluster.audit.window();

    const stoppedAt = Date.now();
    cluster.pause(leader);
    const { leader: next, ms } = await cluster.waitForLeader(
      others,
      stoppedAt,
      LEASE_TTL_MS + 5_000,
    );
    // Logs are written asynchronously (and batched under load): wait for the line, briefly.
    await until(
      '"became leader" in the new leader\'s log',
      () => /"msg":"became leader/.test(next.logSince(marks.get(next)!)),
      1_000,
    );
    await sleep(stoppedAt + LEASE_TTL_MS + 1_000 - Date.now());
    const resumedAt = Date.now();
    // The resumed replica rejoins the audited pool once a reconcile interval has passed.
    cluster.resume(leader, RECONCILE_MS + 100);
    const firstAnswer = await getToken(leader.client, CLASSIC, 2_000).then(
      async (t) => (await cluster.control.check(t.access_token)).valid,
      (e: Error) => e.message,
    );
    await waitFor(
      'the resumed replica to step down',
      async () => ((await leader.isLeader()) === false ? true : undefined),
      5_000,
      10,
    );
    const stepDownMs = Date.now() - resumedAt;
    log(
      `SIGSTOP ${leader.name} for ${resumedAt - stoppedAt} ms: ${next.name} leads after ${ms} ms; resumed, ` +
        `${leader.name} reports leader=false after ${stepDownMs} ms; its first answer after SIGCONT valid=${firstAnswer}`,
    );
    expect(ms, 'takeover while the leader is stopped (ms)').toBeLessThanOrEqual(
      LEASE_TTL_MS + 1_000,
    );
    await waitFor(
      '"stopped leading" in the resumed replica log',
      async () => (/"msg":"stopped leading"/.test(leader.logSince(leaderMark)) ? true : undefined),
      3_000,
    );
    expect(await cluster.leaders()).toEqual([next]);

    await sleep(5_000);
    const f = await fetches.close();
    const a = audit.close();
    log(
      `after SIGSTOP/SIGCONT: classic fetches ${fetchesOf(f, CLASSIC).tokenCalls} in ${(f.ms / 1000).toFixed(1)} s ` +
        `(gaps ${fetchesOf(f, CLASSIC)
          .gaps.map((g) => (g / 1000).toFixed(2))
          .join('/')} s); ${describeAudit(a)}`,
    );
    expectCleanAudit(a, cluster.running());
    expectOneFetchPerRotation(fetchesOf(f, CLASSIC), f.ms);
    expect(fetchesOf(f, LONG).tokenCalls).toBe(0);
    expect(fetchesOf(f, HERD).tokenCalls).toBe(0);
    expect(await cluster.leaders()).toEqual([next]);
  }, 40_000);

  it('invariants 2 + 3 + 8 over the whole run: zero invalid tokens, no generation carrying two tokens, none going back, no secret in any log', () => {
    const s = cluster.audit.summary();
    expect(s.invalid).toEqual([]);
    expect(s.generationConflicts).toEqual([]);
    expect(s.regressions).toEqual([]);
    expect(s.calls).toBeGreaterThan(1_000);
    for (const r of cluster.replicas) expect(r.proc.output(), r.name).not.toContain(SECRET);
  });
}

function describeAudit(a: AuditSummary): string {
  const served = Object.entries(a.served)
    .map(([r, byApp]) => `${r}:${Object.values(byApp).reduce((x, y) => x + y, 0)}`)
    .join(' ');
  return (
    `audited ${a.calls} GetToken+check (${served}), errors ${a.errors.length}, invalid ${a.invalid.length}, ` +
    `expired in transit ${a.expiredInTransit}, distinct tokens ${JSON.stringify(a.distinctTokens)}`
  );
}

/** Zero errors, zero invalid tokens, no fencing anomaly, and every replica in `replicas` audited. */
function expectCleanAudit(a: AuditSummary, replicas: Replica[]): void {
  expect(a.invalid.slice(0, 5), `${a.invalid.length} invalid tokens served`).toEqual([]);
  expect(a.errors.slice(0, 5), `${a.errors.length} GetToken errors`).toEqual([]);
  expect(a.generationConflicts, 'one generation, two tokens').toEqual([]);
  expect(a.regressions, 'generation going back on a replica').toEqual([]);
  expect(a.expiredInTransit, 'tokens served within ms of their expiry').toBe(0);
  for (const r of replicas) {
    const n = Object.values(a.served[r.name] ?? {}).reduce((x, y) => x + y, 0);
    expect(n, `GetToken calls audited on ${r.name}`).toBeGreaterThan(0);
  }
}

/**
 * One upstream fetch per rotation, cluster-wide: every call minted a token, no two calls closer
 * than a rotation allows (`extra` tolerated), and the count matches the window's length.
 */
function expectOneFetchPerRotation(f: AppFetches, windowMs: number, extra = 0): void {
  const s = windowMs / 1000;
  const duplicates = f.gaps.filter((g) => g < DUPLICATE_GAP_MS);
  expect(f.tokenIssued, 'tokens issued vs token calls').toBe(f.tokenCalls);
  expect(
    duplicates.length,
    `gaps under ${DUPLICATE_GAP_MS} ms: ${duplicates.join(',')}`,
  ).toBeLessThanOrEqual(extra);
  expect(f.tokenCalls, 'fetches in the window').toBeLessThanOrEqual(
    Math.ceil(s / ROTATION_MIN_S) + 1 + extra,
  );
  expect(f.tokenCalls, 'rotations continue').toBeGreaterThanOrEqual(
    Math.max(1, Math.floor(s / (ROTATION_MAX_S + 0.2)) - 1),
  );
}
