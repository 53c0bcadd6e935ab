import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt } from '../support/processes.js';

/**
 * The Python client (clients/python, issue 14 §2): its stubs are generated from proto/ with
 * Debian's grpc_tools.protoc, then its unittest suite runs against a real `wxtoken serve` +
 * `wxtoken sim` that the suite starts itself (clients/python/tests/test_client.py).
 */
const PYTHON = '/usr/bin/python3';
const DIR = fileURLToPath(new URL('../../clients/python/', import.meta.url));
const INSTALL =
  'apt-get install -y python3-grpcio python3-protobuf python3-grpc-tools (or run scripts/install-test-deps.sh)';

interface Run {
  code: number | null;
  out: string;
}

function python(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) =>
    execFile(
      PYTHON,
      args,
      {
        cwd: DIR,
        timeout: timeoutMs,
        maxBuffer: 16 * 2 ** 20,
        // The suite spawns `node bin/wxtoken.js` with this very Node; no __pycache__ in the tree.
        env: { ...process.env, NODE: process.execPath, PYTHONDONTWRITEBYTECODE: '1' },
      },
      (err, stdout, stderr) =>
        resolve({
          code: err ? (typeof err.code === 'number' ? err.code : -1) : 0,
          out: `${stdout}${stderr}`,
        }),
    ),
  );
}

let run: Run;

beforeAll(async () => {
  assertBuilt();
  const probe = await python(['-c', 'import grpc, google.protobuf, grpc_tools.protoc'], 30_000);
  if (probe.code !== 0) {
    throw new Error(
      `${PYTHON} lacks a Debian package the Python client needs: ${INSTALL}\n${probe.out}`,
    );
  }
  const build = await python(['build.py'], 30_000);
  if (build.code !== 0) throw new Error(`clients/python/build.py failed:\n${build.out}`);
  run = await python(['-m', 'unittest', 'discover', '-s', 'tests', '-v'], 90_000);
}, 150_000);

describe('Python client (wxtoken_client) against a real serve + sim', () => {
  it('passes its unittest suite', () => {
    if (run.code !== 0 || !/\nOK\b/.test(run.out)) console.error(run.out);
    expect(run.code, run.out).toBe(0);
    expect(run.out).toMatch(/\nOK\b/);
    expect(run.out).not.toMatch(/skipped/);
    // Every test ran (a collection error would run fewer).
    expect(Number(/Ran (\d+) tests?/.exec(run.out)?.[1] ?? 0)).toBeGreaterThanOrEqual(15);
  });
});
