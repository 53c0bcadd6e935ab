import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVE_ENV, SERVE_NODE_FLAGS } from '../../src/cli/node-flags.js';
import { SimControl } from './sim-control.js';
import { spawnProcess, waitForOutput, type Spawned } from './spawned.js';

export { waitForOutput, type Spawned } from './spawned.js';

/**
 * The repository: the nearest folder above this file with a package.json, so that the copy of
 * this file the benchmarks run (compiled into dist-bench/test/support/) finds it too.
 */
export const ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
const BIN = join(ROOT, 'bin', 'wxtoken.js');
const DIST_CLI = join(ROOT, 'dist', 'cli', 'main.js');

function findRoot(dir: string): string {
  if (existsSync(join(dir, 'package.json'))) return dir;
  const up = dirname(dir);
  if (up === dir) throw new Error('no package.json above test/support');
  return findRoot(up);
}

/** What `wxtoken sim` prints once it listens; group 1 is its base URL. */
export const SIM_LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)/;
/** What `wxtoken serve` prints once it serves; group 1 is its gRPC port. */
export const SERVE_READY = /"grpc":(\d+).*"msg":"wxtoken serving"/;

export interface CliOptions {
  /** Run on this CPU core (benchmarks), where pinning is possible. */
  readonly core?: number | undefined;
  /** Node flags before the script, e.g. `--cpu-prof`. */
  readonly nodeArgs?: readonly string[];
  /** Without the flags the shipped launchers pass (as `node bin/wxtoken.js` runs it). */
  readonly plainNode?: boolean;
  /** See SpawnOptions.keepChars: long benchmark runs keep only the tail of the output. */
  readonly keepChars?: number;
  /** startSim/startServe: how long the start may take (a loaded machine is slow). */
  readonly readyTimeoutMs?: number;
}

/** Runs the built CLI (`npm test` builds first); fails loudly if the build is missing. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}, o: CliOptions = {}): Spawned {
  assertBuilt();
  // With the flags and environment the shipped launchers give (the image, bin/wxtoken.js's first line).
  const argv = [...(o.plainNode ? [] : SERVE_NODE_FLAGS), ...(o.nodeArgs ?? []), BIN, ...args];
  return spawnProcess(process.execPath, argv, {
    cwd: ROOT,
    env: { ...(o.plainNode ? {} : SERVE_ENV), WXTOKEN_LOG_LEVEL: 'info', ...env },
    core: o.core,
    ...(o.keepChars === undefined ? {} : { keepChars: o.keepChars }),
  });
}

/** Runs a short-lived CLI command (`get`, `audit`...) to its end: exit code and all output. */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; out: string }> {
  const p = spawnCli(args, env);
  const code = await new Promise<number | null>((resolve) =>
    p.proc.once('close', (c) => resolve(c)),
  );
  return { code, out: p.output() };
}

/** A missing build is a setup error, not a skipped test. */
export function assertBuilt(): void {
  if (!existsSync(DIST_CLI)) {
    throw new Error(`${DIST_CLI} is missing: run \`npm run build\` (npm test does it first)`);
  }
}

/** Spawns the CLI and waits for `ready`; a failed start is killed, so it leaves nothing behind. */
async function startCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  o: CliOptions,
  ready: RegExp,
): Promise<{ p: Spawned; m: RegExpMatchArray }> {
  const p = spawnCli(args, env, o);
  try {
    return { p, m: await waitForOutput(p, ready, o.readyTimeoutMs ?? 15_000) };
  } catch (err) {
    await p.stop('SIGKILL');
    throw err;
  }
}

/** Starts `wxtoken sim` on a free port (`args` are added); resolves with its base URL. */
export async function startSim(
  args: string[] = [],
  o: CliOptions = {},
): Promise<Spawned & { url: string }> {
  const { p, m } = await startCli(
    ['sim', '--listen', '127.0.0.1:0', ...args],
    {},
    o,
    SIM_LISTENING,
  );
  return Object.assign(p, { url: m[1]! });
}

/**
 * Starts `wxtoken sim` with one app configured (a WeChat-like 7200 s token lifetime): what most
 * tests of one server need first.
 */
export async function startSimWithApp(
  appId: string,
  secret: string,
): Promise<Spawned & { url: string }> {
  const sim = await startSim();
  try {
    await new SimControl(sim.url).configureApp({ appId, secret, expiresInSeconds: 7200 });
  } catch (err) {
    await sim.stop('SIGKILL');
    throw err;
  }
  return sim;
}

/** Writes `yaml` to a temp file and starts `wxtoken serve`; resolves with its gRPC address. */
export async function startServe(
  yaml: string,
  env: NodeJS.ProcessEnv = {},
  o: CliOptions = {},
): Promise<Spawned & { addr: string; configPath: string }> {
  const configPath = join(mkdtempSync(join(tmpdir(), 'wxtoken-e2e-')), 'wxtoken.yaml');
  writeFileSync(configPath, yaml);
  return startServeFile(configPath, env, o);
}

/** Starts `wxtoken serve --config configPath`; resolves with its gRPC address. */
export async function startServeFile(
  configPath: string,
  env: NodeJS.ProcessEnv = {},
  o: CliOptions = {},
): Promise<Spawned & { addr: string; configPath: string }> {
  const { p, m } = await startCli(['serve', '--config', configPath], env, o, SERVE_READY);
  return Object.assign(p, { addr: `127.0.0.1:${m[1]!}`, configPath });
}
