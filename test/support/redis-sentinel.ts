import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { assertRedisInstalled, startRedis, type RedisNode } from './redis-server.js';
import { spawnProcess, waitForOutput, type Spawned } from './spawned.js';
import { waitFor } from './until.js';

/** The master name the test sentinels monitor. */
export const SENTINEL_NAME = 'wxtoken';

export interface SentinelSetup {
  /** `host:port` of each sentinel, as `redis.sentinels` takes them. */
  readonly sentinels: readonly string[];
  readonly name: string;
  /** The data nodes: [0] is the first primary, [1] and [2] its replicas. */
  readonly nodes: readonly RedisNode[];
  /** The port the sentinels name as primary now (asks a sentinel that is up). */
  primaryPort(): Promise<number>;
  /**
   * SIGKILLs the current primary (its data is gone) and waits until the sentinels have
   * promoted a replica and it answers as master. Returns the ports and when each step happened.
   */
  killPrimary(afterKill?: () => void): Promise<{
    oldPort: number;
    newPort: number;
    killedAt: number;
    promotedAt: number;
  }>;
  stop(): Promise<void>;
}

/**
 * Issue 16: a Sentinel-managed Redis on loopback, real processes: 1 primary + 2 replicas
 * (`--replicaof`) and 3 sentinels (`redis-server sentinel.conf --sentinel`, quorum 2), with a
 * short down-after so a promotion takes seconds. Fails loudly when redis-server is missing.
 */
export async function startSentinelSetup(
  o: {
    downAfterMs?: number;
    failoverTimeoutMs?: number;
    /** The data nodes' `requirepass` (and `masterauth`; the sentinels' `auth-pass`). */
    password?: string;
    /** The sentinels' own `requirepass` (and `sentinel-pass` between them). */
    sentinelPassword?: string;
  } = {},
): Promise<SentinelSetup> {
  assertRedisInstalled();
  const downAfter = o.downAfterMs ?? 1000;
  // A replica loads its first sync through an RDB file in its working directory: a temp one.
  const dataDir = mkdtempSync(join(tmpdir(), 'wxtoken-sentinel-data-'));
  const auth = o.password === undefined ? {} : { requirepass: o.password };
  const masterauth = o.password === undefined ? [] : ['--masterauth', o.password];
  const primary = await startRedis({ ...auth, extraArgs: ['--dir', dataDir, ...masterauth] });
  const replicas = await Promise.all(
    [0, 1].map(() =>
      startRedis({
        ...auth,
        extraArgs: [
          '--replicaof',
          '127.0.0.1',
          String(primary.port),
          '--dir',
          dataDir,
          ...masterauth,
        ],
      }),
    ),
  );
  const dataCall = (port: number, args: string[]) => nodeCall(port, args, o.password);
  const sentinelCall = (port: number, args: string[]) => nodeCall(port, args, o.sentinelPassword);
  const connectedReplicas = async (port: number): Promise<number> => {
    const info = (await dataCall(port, ['INFO', 'replication'])) as string;
    return (info.match(/^slave\d+:.*state=online/gm) ?? []).length;
  };
  const roleOf = async (port: number): Promise<string | undefined> => {
    try {
      return ((await dataCall(port, ['ROLE'])) as [string])[0];
    } catch {
      return undefined;
    }
  };
  const nodes = [primary, ...replicas];
  await waitFor(
    'both replicas to sync with the primary',
    async () => ((await connectedReplicas(primary.port)) >= 2 ? true : undefined),
    10_000,
    50,
  );
  const dir = mkdtempSync(join(tmpdir(), 'wxtoken-sentinel-'));
  const sentinels: { port: number; proc: Spawned }[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const file = join(dir, `sentinel-${i}.conf`);
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        'protected-mode no',
        `dir ${dir}`,
        `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${primary.port} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_NAME} ${downAfter}`,
        `sentinel failover-timeout ${SENTINEL_NAME} ${o.failoverTimeoutMs ?? 5000}`,
        `sentinel parallel-syncs ${SENTINEL_NAME} 1`,
        ...(o.password === undefined ? [] : [`sentinel auth-pass ${SENTINEL_NAME} ${o.password}`]),
        ...(o.sentinelPassword === undefined
          ? []
          : [`requirepass ${o.sentinelPassword}`, `sentinel sentinel-pass ${o.sentinelPassword}`]),
        '',
      ].join('\n'),
    );
    const proc = spawnProcess('redis-server', [file, '--sentinel'], { keepChars: 64_000 });
    await waitForOutput(proc, /Sentinel ID is|Ready to accept connections/);
    sentinels.push({ port, proc });
  }
  // Every sentinel must know the replicas and the other sentinels before a failover can work.
  for (const s of sentinels) {
    await waitFor(
      `sentinel ${s.port} to see 2 replicas and 2 other sentinels`,
      async () => {
        const info = await sentinelCall(s.port, ['SENTINEL', 'MASTER', SENTINEL_NAME]);
        const fields = toMap(info as string[]);
        return Number(fields['num-slaves']) >= 2 && Number(fields['num-other-sentinels']) >= 2
          ? true
          : undefined;
      },
      15_000,
      100,
    );
  }
  const primaryPort = async (): Promise<number> => {
    for (const s of sentinels) {
      try {
        const addr = (await sentinelCall(s.port, [
          'SENTINEL',
          'GET-MASTER-ADDR-BY-NAME',
          SENTINEL_NAME,
        ])) as [string, string];
        return Number(addr[1]);
      } catch {
        // try the next sentinel
      }
    }
    throw new Error('no sentinel answered');
  };
  return {
    sentinels: sentinels.map((s) => `127.0.0.1:${s.port}`),
    name: SENTINEL_NAME,
    nodes,
    primaryPort,
    killPrimary: async (afterKill) => {
      const oldPort = await primaryPort();
      const node = nodes.find((n) => n.port === oldPort);
      if (!node) throw new Error(`the primary ${oldPort} is not one of this setup's nodes`);
      await node.stop();
      const killedAt = Date.now();
      afterKill?.();
      const newPort = await waitFor(
        'the sentinels to promote a replica',
        async () => {
          const port = await primaryPort();
          if (port === oldPort) return undefined;
          return (await roleOf(port)) === 'master' ? port : undefined;
        },
        30_000,
        25,
      );
      return { oldPort, newPort, killedAt, promotedAt: Date.now() };
    },
    stop: async () => {
      await Promise.all(sentinels.map((s) => s.proc.stop('SIGKILL')));
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

async function nodeCall(port: number, args: string[], password?: string): Promise<unknown> {
  const c = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    ...(password === undefined ? {} : { password }),
  });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return await c.call(args[0]!, ...args.slice(1));
  } finally {
    c.disconnect();
  }
}

function toMap(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}
