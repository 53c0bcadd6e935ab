import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

const INSTALL_HINT =
  'redis-server is required for the Redis tests: install it with `apt-get install -y redis-server` (Debian) — .ci/run does this';

/** A free loopback TCP port (bind to 0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface RedisNode {
  readonly port: number;
  readonly url: string;
  /** SIGSTOP/SIGCONT: the node hangs without closing sockets, like a partition. */
  pause(): void;
  resume(): void;
  /** Kills the process (its data is gone: no persistence). */
  stop(): Promise<void>;
  /** Starts a fresh, empty process on the same port. */
  restart(): Promise<void>;
}

/** Fails loudly (never skips) when redis-server is not installed. */
export function assertRedisInstalled(): void {
  if (spawnSync('redis-server', ['--version']).status !== 0) throw new Error(INSTALL_HINT);
}

async function launch(port: number): Promise<ChildProcess> {
  const proc = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) resolve();
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`redis-server exited ${code}: ${out}`)));
    proc.once('error', () => reject(new Error(INSTALL_HINT)));
  });
  proc.stdout!.resume();
  return proc;
}

/** Starts a throwaway redis-server on a free loopback port (no persistence). */
export async function startRedis(): Promise<RedisNode> {
  assertRedisInstalled();
  const port = await freePort();
  let proc = await launch(port);
  const kill = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGCONT');
    proc.kill('SIGKILL');
    await exited;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pause: () => void proc.kill('SIGSTOP'),
    resume: () => void proc.kill('SIGCONT'),
    stop: kill,
    restart: async () => {
      await kill();
      proc = await launch(port);
    },
  };
}

export async function startRedisNodes(count: number): Promise<RedisNode[]> {
  return Promise.all(Array.from({ length: count }, () => startRedis()));
}
