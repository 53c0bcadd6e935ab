import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt } from '../support/processes.js';

/**
 * Issue 11 "done means", observed by a harness that shares no code with wxtoken
 * (test/e2e/python/hardening_harness.py: Debian's python3-grpcio with hand-encoded requests,
 * urllib for the simulator, its own process management). Each scenario starts its own
 * `wxtoken sim`, `wxtoken serve` and, where needed, `redis-server`.
 */

const PYTHON = '/usr/bin/python3';
const HARNESS = fileURLToPath(new URL('./python/hardening_harness.py', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/wxtoken.js', import.meta.url));
const REDIS_SERVER = '/usr/bin/redis-server';

type Observations = Record<string, unknown> & { error?: string; output?: string[] };

function harness(scenario: string): Promise<Observations> {
  return new Promise((resolve, reject) =>
    execFile(
      PYTHON,
      [HARNESS, process.execPath, BIN, REDIS_SERVER, scenario],
      { timeout: 120_000, maxBuffer: 16 * 2 ** 20 },
      (err, stdout, stderr) => {
        try {
          const result = JSON.parse(stdout) as Observations;
          if (result.error) {
            reject(
              new Error(`${scenario}: ${result.error}\n${(result.output ?? []).join('\n---\n')}`),
            );
          } else resolve(result);
        } catch {
          reject(new Error(`${scenario}: harness failed (${String(err)}):\n${stdout}\n${stderr}`));
        }
      },
    ),
  );
}

beforeAll(async () => {
  assertBuilt();
  await new Promise<void>((resolve, reject) =>
    execFile(PYTHON, ['-c', 'import grpc'], (err) =>
      err
        ? reject(new Error(`${PYTHON} cannot import grpc: apt-get install -y python3-grpcio`))
        : resolve(),
    ),
  );
  await new Promise<void>((resolve, reject) =>
    execFile(REDIS_SERVER, ['--version'], (err) =>
      err
        ? reject(new Error(`${REDIS_SERVER} missing: apt-get install -y redis-server`))
        : resolve(),
    ),
  );
});

describe('issue 11 done-means, from an independent harness', () => {
  it('one app without a token leaves the process SERVING and the other app served (blast radius)', async () => {
    const r = await harness('one-bad-app');
    expect(r).toMatchObject({
      processHealth: 'SERVING',
      badAppHealth: 'NOT_SERVING',
      goodAppHealth: 'SERVING',
      goodTokensValid: [true, true, true, true, true],
      badAppGetToken: 'UNAVAILABLE',
      serverAlive: true,
    });
  });

  it('a replica started with Redis down stays up and serves once Redis starts', async () => {
    const r = await harness('redis-down');
    expect(r).toMatchObject({
      aliveWithRedisDown: true,
      healthWithRedisDown: 'NOT_SERVING',
      getTokenWithRedisDown: 'UNAVAILABLE',
      tokenValidAfterRedisUp: true,
      healthAfterRedisUp: 'SERVING',
      serverAlive: true,
    });
  });

  it('a 100 MiB token body leaves the process up and serving the next good token', async () => {
    const r = await harness('huge-body');
    expect(r).toMatchObject({
      refreshWithHugeBody: 'UNAVAILABLE',
      aliveAfterHugeBody: true,
      servedOldTokenMeanwhile: true,
      nextRefresh: 'OK',
      nextTokenValid: true,
      hugeBodyFaultsAnswered: 1,
      serverAlive: true,
    });
  });

  it('a herd reporting a token that died after a "still valid" verdict costs exactly one fetch (invariant 6)', async () => {
    const r = await harness('herd');
    expect(r).toMatchObject({
      liveHerdKept: 50,
      deadHerdAnswers: 200,
      deadHerdErrors: [],
      deadHerdGotX: 0,
      deadHerdDistinctTokens: 1,
      deadHerdTokenValid: true,
      fetchesAfterInvalidation: 1,
      serverAlive: true,
    });
    expect(r['checksAfterInvalidation']).toBeLessThanOrEqual(2);
  });
});
