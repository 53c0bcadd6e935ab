import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { getToken, listApps } from '../../src/cli/grpc-client.js';
import { fingerprint } from '../../src/shared/secret.js';
import type { SimCall } from '../../src/sim/types.js';
import { Cluster, type AuditSummary } from '../support/cluster.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { waitFor } from '../support/until.js';

/**
 * Issue 16, the failover test: 3 `wxtoken serve` replicas on a Sentinel-managed Redis
 * (1 primary, 2 replicas, 3 sentinels) or a Redis Cluster (3 masters + 3 replicas: the master
 * of the app's slot is the one killed), real processes, client auditors calling GetToken on
 * every replica and checking every token at the simulator, short token lifetimes so rotations
 * follow each other. The primary is SIGKILLed while an upstream fetch is in flight (the
 * simulator answers after LATENCY_MS): the sentinels promote a replica, and wxtoken must serve
 * zero invalid tokens, never have two fetches of one app in flight, accept no stale write (one
 * generation, one token; no generation going back), and rotate again within the lease TTL plus
 * the promotion time (measured and printed).
 */
const APP = 'wxfailover000001';
const SECRET = 'failover-e2e-secret-never-printed-7d1e';
/**
 * WeChat: 7200 s, 300 s of overlap, refreshed 300 s ahead: both windows dwarf a promotion.
 * Scaled down, they must still outlast one (about 2.5 s here) plus the write-back.
 */
const LIFETIME_S = 12;
const OVERLAP_S = 6;
const AHEAD_S = 6;
const LATENCY_MS = 250;
const LEASE_TTL_MS = 2_000;
const LEASE_RENEW_MS = 500;
const RECONCILE_MS = 500;
const RETRY_MAX_MS = 1_000;
const ROTATION_MAX_MS = (LIFETIME_S - AHEAD_S) * 1000;

/** The most token calls of the app that were in flight at once (a call lasts LATENCY_MS). */
function maxInFlight(calls: readonly SimCall[]): number {
  const starts = calls.map((c) => c.at).sort((a, b) => a - b);
  let max = 0;
  for (let i = 0; i < starts.length; i++) {
    let n = 1;
    for (let j = i + 1; j < starts.length && starts[j]! < starts[i]! + LATENCY_MS; j++) n++;
    max = Math.max(max, n);
  }
  return max;
}

function describeAudit(a: AuditSummary): string {
  return (
    `audited ${a.calls} GetToken+check, errors ${a.errors.length}, invalid ${a.invalid.length}, ` +
    `expired in transit ${a.expiredInTransit}, distinct tokens ${JSON.stringify(a.distinctTokens)}`
  );
}

/** A Redis topology under test: its `redis:` keys, and how to kill the app's primary. */
export interface FailoverStore {
  /** The keys of `redis:` besides keyPrefix, e.g. `sentinels: [...], sentinelName: x`. */
  readonly topology: string;
  /** What ListApps reports as store_topology. */
  readonly topologyName: 'sentinel' | 'cluster';
  /** Whether ListApps names the primary (one primary: Sentinel), checked after the failover. */
  readonly reportsPrimary: boolean;
  /** SIGKILLs the node that is primary for the record of `recordKey`; waits for its successor. */
  killPrimaryOf(recordKey: string): Promise<{
    oldPort: number;
    newPort: number;
    killedAt: number;
    promotedAt: number;
  }>;
  stop(): Promise<void>;
}

export function failoverSuite(name: string, startStore: () => Promise<FailoverStore>): void {
  let store: FailoverStore;
  let cluster: Cluster;
  const keyPrefix = `wxt-e2e-failover-${process.pid}:`;
  const log = (msg: string): void => console.log(`[${name} failover] ${msg}`);

  beforeAll(async () => {
    store = await startStore();
    cluster = new Cluster({
      redisNodes: 0,
      redisTopology: store.topology,
      keyPrefix,
      replicas: 3,
      apps: [
        {
          appId: APP,
          expiresInSeconds: LIFETIME_S,
          overlapSeconds: OVERLAP_S,
          latencyMs: LATENCY_MS,
        },
      ],
      auditedApps: [APP],
      secret: SECRET,
      leaseTtlMs: LEASE_TTL_MS,
      leaseRenewIntervalMs: LEASE_RENEW_MS,
      reconcileIntervalMs: RECONCILE_MS,
      aheadSeconds: AHEAD_S,
      auditPaceMs: 20,
    });
    await cluster.start();
  }, 60_000);

  afterAll(async () => {
    // WXT_FAILOVER_LOGS=/tmp/fo writes each replica's log to /tmp/fo-<replica>.log (debugging).
    if (process.env.WXT_FAILOVER_LOGS) {
      const { writeFileSync } = await import('node:fs');
      for (const r of cluster?.replicas ?? []) {
        writeFileSync(`${process.env.WXT_FAILOVER_LOGS}-${r.name}.log`, r.proc.output());
      }
    }
    await cluster?.stop();
    await store?.stop();
  }, 30_000);

  it('SIGKILL of the primary mid-rotation: zero invalid, one fetch in flight, no stale write, rotation resumes', async () => {
    const fetches = await cluster.fetchWindow([APP]);
    const audit = cluster.audit.window();
    const [probe] = cluster.running();
    const layout = async (): Promise<string[]> =>
      (await Promise.all(cluster.running().map((r) => listApps(r.client, 1_000)))).map(
        (l) => `${l.apps[0]!.store_topology} ${l.apps[0]!.store_primary}`,
      );
    await cluster.waitForRotation(probe!, APP, ROTATION_MAX_MS + 3_000);

    // Mid-rotation: the next token call has reached the simulator and is still in flight.
    const since = Date.now();
    const inFlight = await waitFor(
      'the next upstream fetch',
      async () => (await cluster.control.calls(APP, since)).find((c) => c.endpoint === 'token'),
      ROTATION_MAX_MS + 3_000,
      5,
    );
    const { killedAt, promotedAt, oldPort, newPort } = await store.killPrimaryOf(
      new RedisKeys(keyPrefix).record(APP),
    );
    const promotionMs = promotedAt - killedAt;
    log(
      `killed primary :${oldPort} ${killedAt - inFlight.at} ms into a fetch; :${newPort} took over in ${promotionMs} ms`,
    );

    // Recovered: every replica serves the newest token WeChat issued (the one fetched while the
    // primary died: its fetcher writes it back once the new primary answers).
    const recovered = await waitFor(
      'every replica to serve the newest token issued',
      async () => {
        const issued = (await cluster.control.calls(APP, inFlight.at)).filter(
          (c) => c.endpoint === 'token' && c.errcode === 0,
        );
        const newest = issued.at(-1)?.tokenFingerprint;
        const served = await Promise.all(
          cluster.running().map((r) => getToken(r.client, APP, 1_000).catch(() => undefined)),
        );
        return newest && served.every((t) => t && fingerprint(t.access_token) === newest)
          ? Date.now()
          : undefined;
      },
      promotionMs + LEASE_TTL_MS + ROTATION_MAX_MS + 10_000,
      10,
    );
    const recoverMs = recovered - killedAt;
    // ListApps (wxtoken status) names the topology, and the promoted primary.
    const primary = store.reportsPrimary ? `127.0.0.1:${newPort}` : '';
    await waitFor(
      'ListApps to name the new primary on every replica',
      async () =>
        (await layout()).every((l) => l === `${store.topologyName} ${primary}`) ? true : undefined,
      5_000,
    );
    // Rotation resumes: every replica serves a token fetched after the kill.
    const resumed = await waitFor(
      'every replica to serve a token fetched after the kill',
      async () => {
        const fetchedAfter = new Set(
          (await cluster.control.calls(APP, killedAt))
            .filter((c) => c.endpoint === 'token' && c.errcode === 0 && c.tokenFingerprint)
            .map((c) => c.tokenFingerprint!),
        );
        const served = await Promise.all(
          cluster.running().map((r) => getToken(r.client, APP, 1_000).catch(() => undefined)),
        );
        return served.every((t) => t && fetchedAfter.has(fingerprint(t.access_token)))
          ? Date.now()
          : undefined;
      },
      promotionMs + LEASE_TTL_MS + ROTATION_MAX_MS + 10_000,
      10,
    );
    const resumeMs = resumed - killedAt;
    // Keep rotating for two more lifetimes on the new primary.
    await cluster.waitForRotation(probe!, APP, ROTATION_MAX_MS + 3_000);
    await cluster.waitForRotation(probe!, APP, ROTATION_MAX_MS + 3_000);
    await sleep(200);
    const f = (await fetches.close()).apps[APP]!;
    const a = audit.close();
    const calls = (await cluster.control.calls(APP, since - ROTATION_MAX_MS)).filter(
      (c) => c.endpoint === 'token',
    );
    const around = calls.filter((c) => c.at >= killedAt - 1_000 && c.at <= resumed);
    log(
      `SIGKILL → every replica on the newest token issued: ${recoverMs} ms; ` +
        `→ every replica on a token fetched after it (next rotation): ${resumeMs} ms (promotion ${promotionMs} ms, ` +
        `lease TTL ${LEASE_TTL_MS} ms); token calls ${f.tokenCalls} over ${(
          (Date.now() - since) /
          1000
        ).toFixed(1)} s, ${around.length} between 1 s before the kill and resumption; ` +
        `max in flight ${maxInFlight(calls)}; ${describeAudit(a)}`,
    );
    expect(a.invalid.slice(0, 5), `${a.invalid.length} invalid tokens served`).toEqual([]);
    expect(a.generationConflicts, 'one generation, two tokens (a stale write accepted)').toEqual(
      [],
    );
    expect(a.regressions, 'a generation going back on a replica').toEqual([]);
    expect(a.errors.slice(0, 5), `${a.errors.length} GetToken errors`).toEqual([]);
    expect(maxInFlight(calls), 'upstream fetches of the app in flight at once').toBe(1);
    // Bound from the configuration, not a speed target: the promotion, then the lease held by
    // a leader that lost the store lapses, then the rotation that was due is retried.
    expect(recoverMs).toBeLessThanOrEqual(promotionMs + LEASE_TTL_MS + RETRY_MAX_MS + RECONCILE_MS);
    expect(resumeMs).toBeLessThanOrEqual(
      promotionMs + LEASE_TTL_MS + ROTATION_MAX_MS + RETRY_MAX_MS + RECONCILE_MS,
    );
  }, 60_000);
}
