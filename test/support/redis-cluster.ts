import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { assertRedisInstalled, startRedis, type RedisNode } from './redis-server.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { waitFor } from './until.js';

export interface RedisClusterSetup {
  /** `host:port` of every node, as `redis.cluster` takes them (seed nodes). */
  readonly seeds: readonly string[];
  readonly nodes: readonly RedisNode[];
  /** The port of the master serving `key`'s slot now (asks a live node). */
  masterOf(key: string): Promise<number>;
  /**
   * SIGKILLs the master serving `key`'s slot and waits until its replica serves the slot as
   * master. Returns the ports and when each step happened.
   */
  killMasterOf(key: string): Promise<{
    oldPort: number;
    newPort: number;
    killedAt: number;
    promotedAt: number;
  }>;
  /**
   * Moves `key`'s slot (with its keys) to another live master, the way `redis-cli --cluster
   * reshard` does: IMPORTING/MIGRATING, MIGRATE in batches, then SETSLOT NODE everywhere.
   * Clients see ASK during the move and MOVED after it. Returns the ports.
   */
  moveSlotOf(key: string): Promise<{ fromPort: number; toPort: number; keysMoved: number }>;
  stop(): Promise<void>;
}

/**
 * Issue 16: a Redis Cluster on loopback, real processes: 3 masters + 3 replicas
 * (`--cluster-enabled yes`, then `redis-cli --cluster create ... --cluster-replicas 1`), with a
 * 1 s node timeout so a replica takes over in seconds. The cluster bus port is chosen free
 * (`--cluster-port`): the default port + 10000 can be taken or out of range. Fails loudly when
 * redis-server is missing.
 */
export async function startRedisCluster(
  o: { nodeTimeoutMs?: number } = {},
): Promise<RedisClusterSetup> {
  assertRedisInstalled();
  const dir = mkdtempSync(join(tmpdir(), 'wxtoken-rcluster-'));
  const nodes: RedisNode[] = [];
  const dead = new Set<number>();
  try {
    for (let i = 0; i < 6; i++) {
      const bus = await freePort();
      nodes.push(
        await startRedis({
          extraArgs: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, `nodes-${i}.conf`),
            '--cluster-node-timeout',
            String(o.nodeTimeoutMs ?? 1000),
            '--cluster-port',
            String(bus),
            // A replica that never finished its first sync cannot be promoted (it counts as
            // disconnected too long): sync at once, not after the default 5 s batching delay.
            '--repl-diskless-sync-delay',
            '0',
            // A replica loads its first sync through an RDB file in its working directory.
            '--dir',
            dir,
          ],
        }),
      );
    }
    // A port freed by another test's process can still see that process's clients reconnect
    // (and write) before the cluster is formed: start every node empty.
    for (const n of nodes) {
      await call(n.port, ['FLUSHALL']);
      await call(n.port, ['CLUSTER', 'RESET', 'HARD']);
    }
    await create([
      '--cluster',
      'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ]);
    await waitFor(
      'every node to report cluster_state:ok',
      async () => {
        const states = await Promise.all(
          nodes.map((n) => call(n.port, ['CLUSTER', 'INFO']).catch(() => '')),
        );
        return states.every((s) => /cluster_state:ok/.test(String(s))) ? true : undefined;
      },
      30_000,
      100,
    );
    await waitFor(
      'every replica to be in sync with its master',
      async () => {
        const infos = await Promise.all(
          nodes.map((n) => call(n.port, ['INFO', 'replication']).catch(() => '')),
        );
        const replicas = infos.filter((i) => /role:slave/.test(String(i)));
        return replicas.length === 3 &&
          replicas.every((i) => /master_link_status:up/.test(String(i)))
          ? true
          : undefined;
      },
      30_000,
      100,
    );
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  const live = (): RedisNode[] => nodes.filter((n) => !dead.has(n.port));
  const masterOf = async (key: string): Promise<number> => {
    for (const n of live()) {
      try {
        const slot = Number(await call(n.port, ['CLUSTER', 'KEYSLOT', key]));
        const slots = (await call(n.port, ['CLUSTER', 'SLOTS'])) as [
          number,
          number,
          [string, number],
        ][];
        const range = slots.find(([from, to]) => slot >= from && slot <= to);
        if (range) return Number(range[2][1]);
      } catch {
        // ask the next node
      }
    }
    throw new Error(`no live node knows the master of ${key}`);
  };
  return {
    seeds: nodes.map((n) => `127.0.0.1:${n.port}`),
    nodes,
    masterOf,
    killMasterOf: async (key) => {
      const oldPort = await masterOf(key);
      const node = nodes.find((n) => n.port === oldPort)!;
      dead.add(oldPort);
      await node.stop();
      const killedAt = Date.now();
      const newPort = await waitFor(
        `a replica to take over the slot of ${key}`,
        async () => {
          const port = await masterOf(key).catch(() => oldPort);
          if (port === oldPort) return undefined;
          const role = (await call(port, ['ROLE']).catch(() => [''])) as [string];
          return role[0] === 'master' ? port : undefined;
        },
        30_000,
        25,
      );
      return { oldPort, newPort, killedAt, promotedAt: Date.now() };
    },
    moveSlotOf: async (key) => {
      const fromPort = await masterOf(key);
      const slot = Number(await call(fromPort, ['CLUSTER', 'KEYSLOT', key]));
      const idOf = async (port: number): Promise<string> =>
        String(await call(port, ['CLUSTER', 'MYID']));
      const masters = new Set<number>();
      for (const n of live()) {
        const role = (await call(n.port, ['ROLE']).catch(() => [''])) as [string];
        if (role[0] === 'master') masters.add(n.port);
      }
      const toPort = [...masters].find((p) => p !== fromPort)!;
      const [fromId, toId] = [await idOf(fromPort), await idOf(toPort)];
      await call(toPort, ['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', fromId]);
      await call(fromPort, ['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', toId]);
      let keysMoved = 0;
      for (;;) {
        const batch = (await call(fromPort, [
          'CLUSTER',
          'GETKEYSINSLOT',
          String(slot),
          '10',
        ])) as string[];
        if (batch.length === 0) break;
        await call(fromPort, [
          'MIGRATE',
          '127.0.0.1',
          String(toPort),
          '',
          '0',
          '5000',
          'KEYS',
          ...batch,
        ]);
        keysMoved += batch.length;
      }
      for (const port of masters) {
        await call(port, ['CLUSTER', 'SETSLOT', String(slot), 'NODE', toId]);
      }
      return { fromPort, toPort, keysMoved };
    },
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

async function call(port: number, args: string[]): Promise<unknown> {
  const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return await c.call(args[0]!, ...args.slice(1));
  } finally {
    c.disconnect();
  }
}

const run = promisify(execFile);

/** `redis-cli --cluster create ...`; a failure carries the tool's output. */
async function create(args: string[]): Promise<void> {
  try {
    await run('redis-cli', args, { timeout: 30_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    const first = Number(args[2]!.split(':')[1]);
    const known = await call(first, ['CLUSTER', 'NODES']).catch((x: Error) => x.message);
    const keys = await call(first, ['DBSIZE']).catch((x: Error) => x.message);
    throw new Error(
      `redis-cli ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}\nnodes: ${String(known)} dbsize ${String(keys)}`,
      {
        cause: err,
      },
    );
  }
}
