import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { spawnProcess, waitForOutput, type Spawned } from './spawned.js';

const INSTALL_HINT =
  'redis-server is required for the Redis tests: install it with `apt-get install -y redis-server` (Debian) — .ci/run does this';

/** How to start a node; every field is optional (default: plain TCP, no auth). */
export interface RedisServerOptions {
  /** `requirepass`: the `default` user's password. */
  readonly requirepass?: string;
  /**
   * ACL file lines, e.g. `user default off` and `user wx on >pw ~* &* +@all`; written to a
   * temp file passed as `--aclfile` (a server with an aclfile takes no `requirepass`).
   */
  readonly aclUsers?: readonly string[];
  /**
   * TLS only: the plain port is closed (`--port 0`) and the node listens on `--tls-port`.
   * `authClients`: whether clients must present a certificate signed by `caFile` (mTLS).
   */
  readonly tls?: {
    readonly certFile: string;
    readonly keyFile: string;
    readonly caFile: string;
    readonly authClients: 'yes' | 'no' | 'optional';
  };
  /** Run on this CPU core (benchmarks keep Redis off the measured server's core). */
  readonly core?: number;
  /** More redis-server arguments, e.g. `--replicaof 127.0.0.1 6379` or `--cluster-enabled yes`. */
  readonly extraArgs?: readonly string[];
}

export interface RedisNode {
  readonly port: number;
  /** The redis-server process now (a restart starts another one). */
  readonly pid: number;
  /** `redis://127.0.0.1:PORT`, or `rediss://...` for a TLS node; never with credentials. */
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

/** The arguments that select auth and TLS; files (the aclfile) are written now. */
function securityArgs(port: number, o: RedisServerOptions): string[] {
  if (o.requirepass !== undefined && o.aclUsers !== undefined) {
    throw new Error('startRedis: give requirepass or aclUsers, not both');
  }
  const args: string[] = [];
  if (o.requirepass !== undefined) args.push('--requirepass', o.requirepass);
  if (o.aclUsers !== undefined) {
    const file = join(mkdtempSync(join(tmpdir(), 'wxtoken-acl-')), 'users.acl');
    writeFileSync(file, `${o.aclUsers.join('\n')}\n`);
    args.push('--aclfile', file);
  }
  if (o.tls === undefined) return ['--port', String(port), ...args];
  return [
    '--port',
    '0',
    '--tls-port',
    String(port),
    '--tls-cert-file',
    o.tls.certFile,
    '--tls-key-file',
    o.tls.keyFile,
    '--tls-ca-cert-file',
    o.tls.caFile,
    '--tls-auth-clients',
    o.tls.authClients,
    ...args,
  ];
}

/** Debian builds redis-server with TLS; a build without it rejects the tls-* directives. */
const NO_TLS_HINT =
  'this redis-server was built without TLS support (the tls-* directives are unknown): the Redis TLS tests need a build with BUILD_TLS=yes, as Debian 12 redis-server 7.0 is';

class PortTakenError extends Error {
  constructor(port: number) {
    super(`redis-server: port ${port} was taken before it could bind it`);
  }
}

async function launch(port: number, o: RedisServerOptions): Promise<Spawned> {
  const p = spawnProcess(
    'redis-server',
    [
      ...securityArgs(port, o),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      ...(o.extraArgs ?? []),
    ],
    { core: o.core, keepChars: 64_000 },
  );
  try {
    await waitForOutput(p, /Ready to accept connections/);
    return p;
  } catch (err) {
    await p.stop('SIGKILL');
    // A build without TLS stops at the first tls-* directive, which is tls-port.
    const noTls = o.tls !== undefined && />>> 'tls-port\b[\s\S]*Bad directive/.test(p.output());
    if (noTls) throw new Error(`${NO_TLS_HINT}\n${p.output()}`, { cause: err });
    if (/Address already in use/.test(p.output())) throw new PortTakenError(port);
    throw new Error(`redis-server did not start on port ${port}`, { cause: err });
  }
}

/**
 * Starts a throwaway redis-server on a free loopback port (no persistence); `options` add
 * a password, ACL users or TLS. Fails loudly (never skips) when the server cannot start.
 */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisNode> {
  assertRedisInstalled();
  // Test files run two at a time: a port found free can be taken by another file's process
  // before redis-server binds it. Then it says so, and another free port is tried.
  let port = await freePort();
  let p = await launch(port, options).catch(async (err: unknown) => {
    if (!(err instanceof PortTakenError)) throw err;
    port = await freePort();
    return launch(port, options);
  });
  const kill = async (): Promise<void> => {
    p.proc.kill('SIGCONT');
    await p.stop('SIGKILL');
  };
  return {
    port,
    get pid(): number {
      return p.pid;
    },
    url: `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    pause: () => void p.proc.kill('SIGSTOP'),
    resume: () => void p.proc.kill('SIGCONT'),
    stop: kill,
    restart: async () => {
      await kill();
      p = await launch(port, options);
    },
  };
}

export async function startRedisNodes(
  count: number,
  options: RedisServerOptions = {},
): Promise<RedisNode[]> {
  return Promise.all(Array.from({ length: count }, () => startRedis(options)));
}
