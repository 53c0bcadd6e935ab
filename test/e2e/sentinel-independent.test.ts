import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt } from '../support/processes.js';

/**
 * Issue 16 "done means", observed by a harness that shares no code with wxtoken
 * (test/e2e/python/sentinel_harness.py: its own redis-server, sentinels, simulator and two
 * `wxtoken serve` whose `redis:` holds only `sentinels` and `sentinelName`; Debian's
 * python3-grpcio with requests hand-encoded from proto/). The primary is SIGKILLed while a
 * token fetch is in flight.
 */
const PYTHON = '/usr/bin/python3';
const HARNESS = fileURLToPath(new URL('./python/sentinel_harness.py', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/wxtoken.js', import.meta.url));
const REDIS_SERVER = '/usr/bin/redis-server';

interface Observations {
  served: number;
  invalid: number;
  errors: Record<string, number>;
  tokenCallsAfterKill: number;
  maxInFlight: number;
  promotionSeconds: number;
  recoverSeconds: number;
  lifetimeSeconds: number;
}

let observed: Observations;

beforeAll(async () => {
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
  observed = await new Promise<Observations>((resolve, reject) =>
    execFile(
      PYTHON,
      [HARNESS, process.execPath, BIN, REDIS_SERVER],
      { timeout: 120_000, maxBuffer: 16 * 2 ** 20 },
      (err, stdout, stderr) => {
        try {
          resolve(JSON.parse(stdout) as Observations);
        } catch {
          reject(new Error(`sentinel harness failed (${String(err)}):\n${stdout}\n${stderr}`));
        }
      },
    ),
  );
  console.log(`[sentinel independent] ${JSON.stringify(observed)}`);
}, 150_000);

describe('issue 16 done-means, from an independent harness (Sentinel primary SIGKILLed)', () => {
  it('zero invalid tokens and no errors through the promotion', () => {
    expect(observed.served).toBeGreaterThan(100);
    expect(observed.invalid).toBe(0);
    expect(observed.errors).toEqual({});
  });

  it('rotation continues on the promoted primary, one fetch in flight at a time', () => {
    expect(observed.tokenCallsAfterKill).toBeGreaterThanOrEqual(1);
    expect(observed.maxInFlight).toBe(1);
    expect(observed.recoverSeconds).toBeGreaterThanOrEqual(observed.promotionSeconds);
  });
});
