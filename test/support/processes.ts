import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'wxtoken.js');
const DIST_CLI = join(ROOT, 'dist', 'cli', 'main.js');

export interface Spawned {
  readonly proc: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs the built CLI (`npm test` builds first); fails loudly if the build is missing. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  assertBuilt();
  const proc = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, WXTOKEN_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  // 'close', not 'exit': it fires after stdout and stderr are drained, so output() is complete.
  const exited = new Promise<number | null>((resolve) =>
    proc.once('close', (code) => resolve(code)),
  );
  return {
    proc,
    output: () => out,
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
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

/** Resolves with the first match of `pattern` in the process output, or fails after `timeoutMs`. */
export async function waitForOutput(
  p: Spawned,
  pattern: RegExp,
  timeoutMs = 15_000,
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = p.output().match(pattern);
    if (m) return m;
    if (p.proc.exitCode !== null) {
      throw new Error(
        `process exited (${p.proc.exitCode}) before printing ${pattern}:\n${p.output()}`,
      );
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A missing build is a setup error, not a skipped test. */
export function assertBuilt(): void {
  if (!existsSync(DIST_CLI)) {
    throw new Error(`${DIST_CLI} is missing: run \`npm run build\` (npm test does it first)`);
  }
}

/** Starts `wxtoken sim` on a free port; resolves with its base URL. */
export async function startSim(args: string[] = []): Promise<Spawned & { url: string }> {
  const p = spawnCli(['sim', '--listen', '127.0.0.1:0', ...args]);
  const m = await waitForOutput(p, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  return Object.assign(p, { url: m[1]! });
}

/** Writes `yaml` to a temp file and starts `wxtoken serve`; resolves with its gRPC address. */
export async function startServe(
  yaml: string,
  env: NodeJS.ProcessEnv = {},
): Promise<Spawned & { addr: string; configPath: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'wxtoken-e2e-'));
  const configPath = join(dir, 'wxtoken.yaml');
  writeFileSync(configPath, yaml);
  const p = spawnCli(['serve', '--config', configPath], env);
  const m = await waitForOutput(p, /"grpc":(\d+).*"msg":"wxtoken serving"/);
  return Object.assign(p, { addr: `127.0.0.1:${m[1]!}`, configPath });
}
