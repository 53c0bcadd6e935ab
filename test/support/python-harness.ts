import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { assertBuilt } from './processes.js';

const PYTHON = '/usr/bin/python3';
const REDIS_SERVER = '/usr/bin/redis-server';
const BIN = fileURLToPath(new URL('../../bin/wxtoken.js', import.meta.url));

/**
 * Runs one of the independent Python harnesses (test/e2e/python/*.py: Debian's python3-grpcio,
 * its own Redis and simulator processes, no code shared with wxtoken) and returns the JSON it
 * prints. Missing prerequisites fail loudly with the command that installs them.
 */
export async function runPythonHarness<T>(harness: string, name: string): Promise<T> {
  assertBuilt();
  for (const [bin, args, install] of [
    [PYTHON, ['-c', 'import grpc'], 'apt-get install -y python3-grpcio'],
    [REDIS_SERVER, ['--version'], 'apt-get install -y redis-server'],
  ] as const) {
    await new Promise<void>((resolve, reject) =>
      execFile(bin, [...args], (err) =>
        err ? reject(new Error(`${bin} ${args.join(' ')} failed: ${install}`)) : resolve(),
      ),
    );
  }
  const observed = await new Promise<T>((resolve, reject) =>
    execFile(
      PYTHON,
      [harness, process.execPath, BIN, REDIS_SERVER],
      { timeout: 120_000, maxBuffer: 16 * 2 ** 20 },
      (err, stdout, stderr) => {
        try {
          resolve(JSON.parse(stdout) as T);
        } catch {
          reject(new Error(`${name} harness failed (${String(err)}):\n${stdout}\n${stderr}`));
        }
      },
    ),
  );
  console.log(`[${name} independent] ${JSON.stringify(observed)}`);
  return observed;
}
