import type * as grpc from '@grpc/grpc-js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { forceRefresh, getToken } from '../src/cli/grpc-client.js';
import type { TokenServiceClient } from '../src/grpc/generated/wxtoken/v1/TokenService.js';
import type { BenchReplica } from './bench-cluster.js';

export interface BurstCommand {
  readonly method: 'GetToken' | 'ForceRefresh';
  readonly n: number;
  /** Request fields by number (all strings here): 1 app_id, 2 stale_token, 3 reason. */
  readonly fields: Readonly<Record<string, string>>;
}

export interface BurstResult {
  /** Per successful call, ms from its start to its answer. */
  readonly latencies_ms: number[];
  readonly errors: string[];
  /** Distinct access tokens returned. */
  readonly tokens: number;
  /** ForceRefresh replies with refreshed=true. */
  readonly refreshed: number;
  /** How long issuing the n calls took (they go out over this time), and the whole burst. */
  readonly issue_ms: number;
  readonly wall_ms: number;
}

/** `n` concurrent unary calls, round-robin over `channels` connections to each replica. */
export interface Burster {
  readonly kind: string;
  /** The load generator's own process, when it has one (for CPU accounting). */
  readonly pid?: number | undefined;
  run(command: BurstCommand): Promise<BurstResult>;
  close(): Promise<void>;
}

const PYTHON = '/usr/bin/python3';

/**
 * The herd's load generator: Debian's python3-grpcio (C-core) when installed, which costs
 * about half the CPU per call of a Node client (stack-notes.md), else grpc-js in this process.
 */
export async function startBurster(
  root: string,
  replicas: readonly BenchReplica[],
  channels: number,
): Promise<Burster> {
  if (spawnSync(PYTHON, ['-c', 'import grpc']).status === 0) {
    return PythonBurster.start(root, replicas, channels);
  }
  return new NodeBurster(
    replicas.flatMap((r) => Array.from({ length: channels }, () => r.newClient())),
  );
}

class PythonBurster implements Burster {
  readonly kind = 'python3-grpcio';
  readonly pid: number | undefined;
  readonly #lines: AsyncIterator<string>;

  private constructor(readonly proc: ChildProcess) {
    this.#lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
    this.pid = proc.pid;
    // Also gone when the bench exits early (it would exit on its own once stdin closes).
    const kill = (): void => void proc.kill('SIGKILL');
    process.once('exit', kill);
    proc.once('close', () => process.off('exit', kill));
  }

  static async start(
    root: string,
    replicas: readonly BenchReplica[],
    channels: number,
  ): Promise<PythonBurster> {
    const config = JSON.stringify({ addrs: replicas.map((r) => r.addr), channels });
    const proc = spawn(PYTHON, [join(root, 'bench', 'grpc-burst.py'), config], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const b = new PythonBurster(proc);
    try {
      await b.#next();
      return b;
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
  }

  async #next(): Promise<string> {
    const line = await this.#lines.next();
    if (line.done) throw new Error(`grpc-burst.py exited (${this.proc.exitCode})`);
    return line.value;
  }

  async run(command: BurstCommand): Promise<BurstResult> {
    this.proc.stdin!.write(`${JSON.stringify(command)}\n`);
    return JSON.parse(await this.#next()) as BurstResult;
  }

  async close(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('close', r));
    this.proc.stdin!.end();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

class NodeBurster implements Burster {
  readonly kind = 'grpc-js (python3-grpcio not installed)';

  constructor(private readonly clients: readonly TokenServiceClient[]) {}

  async run(command: BurstCommand): Promise<BurstResult> {
    const latencies: number[] = [];
    const errors: string[] = [];
    const tokens = new Set<string>();
    let refreshed = 0;
    const [app, stale, reason] = ['1', '2', '3'].map((k) => command.fields[k] ?? '');
    const t0 = performance.now();
    const all = Promise.all(
      Array.from({ length: command.n }, async (_, i) => {
        const c = this.clients[i % this.clients.length]!;
        const t0 = performance.now();
        try {
          if (command.method === 'GetToken') {
            tokens.add((await getToken(c, app!, 30_000)).access_token);
          } else {
            const r = await forceRefresh(c, { app_id: app!, stale_token: stale!, reason: reason! });
            tokens.add(r.token?.access_token ?? '');
            if (r.refreshed) refreshed++;
          }
          latencies.push(performance.now() - t0);
        } catch (err) {
          const e = err as grpc.ServiceError;
          errors.push(`${e.code ?? ''} ${e.details ?? String(err)}`);
        }
      }),
    );
    const issued = performance.now();
    await all;
    return {
      latencies_ms: latencies,
      errors,
      tokens: tokens.size,
      refreshed,
      issue_ms: issued - t0,
      wall_ms: performance.now() - t0,
    };
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.close();
  }
}
