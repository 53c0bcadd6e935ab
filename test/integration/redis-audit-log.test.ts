import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/audit-log.js';
import { RedisAuditLog } from '../../src/redis/redis-audit-log.js';
import { createRedisClient, waitReady } from '../../src/redis/redis-clients.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { StoreUnavailableError } from '../../src/shared/errors.js';
import { startRedisNodes, type RedisNode } from '../support/redis-server.js';

/**
 * Issue 6 point 4: the audit trail as a capped Redis stream on three real redis-server
 * masters: capped at maxEvents, written to every node, read back merged (a node that missed
 * writes while down hides nothing), and still readable with a node down.
 */

let nodes: RedisNode[];
let clients: Redis[];

beforeAll(async () => {
  nodes = await startRedisNodes(3);
  clients = nodes.map((n, i) =>
    createRedisClient(n.url, { commandTimeoutMs: 500, connectionName: `audit-test-${i}` }),
  );
  await Promise.all(clients.map((c) => waitReady(c, 3_000)));
});

afterAll(async () => {
  for (const c of clients ?? []) c.disconnect();
  for (const n of nodes ?? []) await n.stop();
});

let seq = 0;
function event(appId: string, reason = ''): AuditEvent {
  seq += 1;
  return {
    id: randomUUID(),
    at: Date.UTC(2026, 10, 25) + seq,
    caller: 'ops',
    appId,
    action: 'operator_refresh',
    reason,
    result: 'OK',
    detail: `refreshed, generation ${seq}`,
    replica: 'host:1',
  };
}

/** The apps a test deployment configures: they get per-app index streams. */
const CONFIGURED = new Set(['wxa', 'wxb', 'wxrare', 'wxnoisy', 'wxmine']);

function logWith(max: number): { log: RedisAuditLog; keys: RedisKeys } {
  const keys = new RedisKeys(`audit-${randomUUID().slice(0, 8)}:`);
  return { log: new RedisAuditLog(clients, keys, max, (a) => CONFIGURED.has(a)), keys };
}

/** XREVRANGE calls served by every node since `reset` (INFO commandstats). */
async function xrevrangeCalls(): Promise<number> {
  let total = 0;
  for (const c of clients) {
    const info = await c.info('commandstats');
    total += Number(/cmdstat_xrevrange:calls=(\d+)/.exec(info)?.[1] ?? 0);
  }
  return total;
}

describe('RedisAuditLog', () => {
  it('round-trips every field, newest first, and each event once though every node holds it', async () => {
    const { log, keys } = logWith(1_000);
    const written = [event('wxa', 'first'), event('wxb', 'second: "quoted", 中文'), event('wxa')];
    for (const e of written) await log.append(e);
    expect(await log.list({ limit: 10 })).toEqual([...written].reverse());
    for (const c of clients) expect(await c.xlen(keys.audit())).toBe(3);
  });

  it('is capped at maxEvents on every node (exact MAXLEN)', async () => {
    const { log, keys } = logWith(100);
    for (let i = 0; i < 250; i++) await log.append(event('wxcap'));
    for (const c of clients) expect(await c.xlen(keys.audit())).toBe(100);
    const listed = await log.list({ limit: 1_000 });
    expect(listed).toHaveLength(100);
    expect(listed[0]!.at).toBeGreaterThan(listed[99]!.at);
  });

  it("a scoped admin's query reads its apps' index streams, not the whole trail (issue 11 §4)", async () => {
    const { log, keys } = logWith(10_000);
    const mine = [event('wxmine', 'a'), event('wxmine', 'b')];
    await log.append(mine[0]!);
    for (let i = 0; i < 3_000; i++) await log.append(event('wxnoisy'));
    await log.append(mine[1]!);
    await log.append(event('wx-not-configured', 'refused elsewhere'));
    for (const c of clients) {
      expect(await c.xlen(keys.appAudit('wxmine'))).toBe(2);
      expect(await c.exists(keys.appAudit('wx-not-configured'))).toBe(0); // no key for it
    }
    const before = await xrevrangeCalls();
    const listed = await log.list({
      limit: 100,
      apps: ['wxmine'],
      visible: (e) => e.appId === 'wxmine',
    });
    expect(listed).toEqual([...mine].reverse());
    // One page of the app's index per node; the whole trail would be 7 pages per node.
    expect((await xrevrangeCalls()) - before).toBe(clients.length);
  });

  it('filters by app across pages (matching events older than the first page are found)', async () => {
    const { log } = logWith(5_000);
    const rare = event('wxrare', 'old one');
    await log.append(rare);
    for (let i = 0; i < 1_200; i++) await log.append(event('wxnoisy'));
    expect(await log.list({ appId: 'wxrare', limit: 10 })).toEqual([rare]);
    const visible = await log.list({ limit: 5, visible: (e) => e.appId === 'wxrare' });
    expect(visible).toEqual([rare]);
  });

  it('one node down: appends still land and reads merge what the others hold', async () => {
    const { log } = logWith(1_000);
    const before = event('wxdown', 'before');
    await log.append(before);
    await nodes[0]!.stop();
    try {
      const during = event('wxdown', 'during');
      await log.append(during);
      expect((await log.list({ appId: 'wxdown', limit: 10 })).map((e) => e.reason)).toEqual([
        'during',
        'before',
      ]);
    } finally {
      await nodes[0]!.restart();
      await waitReady(clients[0]!, 5_000);
    }
    // The restarted node is empty; the merge still shows both from the other two.
    expect((await log.list({ appId: 'wxdown', limit: 10 })).map((e) => e.reason)).toEqual([
      'during',
      'before',
    ]);
  });

  it('every node down: append and list fail with StoreUnavailableError (never hang)', async () => {
    const { log } = logWith(1_000);
    for (const n of nodes) n.pause();
    try {
      await expect(log.append(event('wxall'))).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(log.list({ limit: 1 })).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      for (const n of nodes) n.resume();
    }
  });
});
