import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getToken, listApps, tokenClient } from '../../src/cli/grpc-client.js';
import { HealthClient } from '../support/health-client.js';
import { startServe, startSim, type Spawned } from '../support/processes.js';
import { startRedis, type RedisNode } from '../support/redis-server.js';
import { SimControl } from '../support/sim-control.js';
import { until } from '../support/until.js';

/**
 * Issue 11 §2 "Fail small": one broken app, or Redis down at start, must not take the
 * replica out of service. Real `wxtoken serve`, real simulator, real redis-server.
 */

const GOOD = 'wxe2efailsmall01';
const BAD = 'wxe2efailsmall02';
const SECRET = 'fail-small-e2e-secret-1c9d';
const PER_APP = (appId: string): string => `wxtoken.v1.TokenService/${appId}`;

const config = (simUrl: string, extra = ''): string => `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${simUrl}", timeoutMs: 2000 }
refresh: { configErrorRetryMs: 60000 }
${extra}
apps:
  - { appId: ${GOOD}, mode: classic, secretEnv: F_SECRET }
  - { appId: ${BAD}, mode: classic, secretEnv: F_WRONG }
`;
const ENV = { F_SECRET: SECRET, F_WRONG: 'not-the-secret' };

const rssBytes = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let sim: Spawned & { url: string };
let control: SimControl;

beforeAll(async () => {
  sim = await startSim();
  control = new SimControl(sim.url);
  for (const appId of [GOOD, BAD]) {
    await control.configureApp({ appId, secret: SECRET, expiresInSeconds: 7200 });
  }
});

afterAll(async () => {
  await sim?.stop();
});

describe('one app without a token is an app state, not an outage (design: standard health)', () => {
  let server: Spawned & { addr: string };
  let health: HealthClient;

  beforeAll(async () => {
    server = await startServe(config(sim.url), ENV);
    health = new HealthClient(server.addr);
  });
  afterAll(async () => {
    health?.close();
    await server?.stop();
  });

  it('readiness "" is SERVING, the broken app alone is NOT_SERVING, the good app serves valid tokens', async () => {
    const client = tokenClient(server.addr);
    try {
      const token = await getToken(client, GOOD);
      expect((await control.check(token.access_token)).valid).toBe(true);
      // The broken app's state is in ListApps once its first fetch failed.
      await until('the broken app to be in config_error', async () => {
        const apps = (await listApps(client)).apps;
        return apps.find((a) => a.app_id === BAD)?.state === 'APP_STATE_CONFIG_ERROR';
      });
      await until(
        'the good app to be SERVING',
        async () => (await health.check(PER_APP(GOOD))) === 'SERVING',
      );
      const statuses = {
        ready: await health.check(''),
        liveness: await health.check('liveness'),
        good: await health.check(PER_APP(GOOD)),
        bad: await health.check(PER_APP(BAD)),
        unknownApp: await health.check(PER_APP('wxnosuchapp00000')),
      };
      console.log('[fail-small] health with one broken app:', JSON.stringify(statuses));
      expect(statuses).toEqual({
        ready: 'SERVING',
        liveness: 'SERVING',
        good: 'SERVING',
        bad: 'NOT_SERVING',
        unknownApp: 'NOT_FOUND',
      });
    } finally {
      client.close();
    }
  });

  it('health Watch sends a message only when the status changes (issue 11 §3)', async () => {
    await until('readiness', async () => (await health.check('')) === 'SERVING');
    const watchers = [health.watch(''), health.watch(PER_APP(GOOD)), health.watch(PER_APP(BAD))];
    // The readiness timer runs every second: three ticks pass in this window.
    await sleep(3_500);
    for (const w of watchers) w.cancel();
    const counts = watchers.map((w) => w.messages.length);
    console.log('[fail-small] health Watch messages per watcher in 3.5 s:', counts.join(', '));
    // The first message is the current status; nothing changed afterwards.
    expect(counts).toEqual([1, 1, 1]);
  });

  it('2,000 open health Watch streams: memory figure (issue 11 §3)', async () => {
    const pid = server.proc.pid!;
    // 20 connections of 100 streams each, as 20 watching clients would open them.
    const clients = Array.from({ length: 20 }, () => new HealthClient(server.addr));
    const before = rssBytes(pid);
    const watchers = clients.flatMap((c) => Array.from({ length: 100 }, () => c.watch('')));
    await until(
      'every watcher to get its first status',
      () => watchers.every((w) => w.messages.length >= 1),
      30_000,
    );
    await sleep(3_500);
    const after = rssBytes(pid);
    const messages = watchers.reduce((n, w) => n + w.messages.length, 0);
    console.log(
      `[fail-small] 2000 health Watch streams: RSS +${((after - before) / 2 ** 20).toFixed(1)} MB after 3.5 s, ${messages} messages sent`,
    );
    for (const w of watchers) w.cancel();
    for (const c of clients) c.close();
    expect(messages).toBe(2000);
  }, 60_000);
});

describe('Redis down at start: the replica stays up and converges (README degraded modes)', () => {
  let redis: RedisNode;
  let server: (Spawned & { addr: string }) | undefined;

  beforeAll(async () => {
    redis = await startRedis();
    await redis.stop();
  });
  afterAll(async () => {
    await server?.stop();
    await redis?.stop();
  });

  it('starts, is not ready, answers UNAVAILABLE with the reason, and serves valid tokens once Redis is up', async () => {
    const yaml = config(sim.url, `redis: { urls: ["${redis.url}"] }`);
    server = await startServe(yaml, ENV);
    const health = new HealthClient(server.addr);
    const client = tokenClient(server.addr);
    try {
      expect(await health.check('')).toBe('NOT_SERVING');
      expect(await health.check('liveness')).toBe('SERVING');
      const err = await getToken(client, GOOD, 5_000).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      console.log('[fail-small] GetToken with Redis down:', err?.code, err?.details);
      expect(err?.code).toBe(grpc.status.UNAVAILABLE);
      expect(err?.details).toMatch(/store/i);
      expect(server.proc.exitCode).toBeNull();

      await redis.restart();
      await until(
        'readiness once Redis is up',
        async () => (await health.check('')) === 'SERVING',
        20_000,
      );
      const token = await getToken(client, GOOD);
      expect((await control.check(token.access_token)).valid).toBe(true);
      expect(await health.check(PER_APP(BAD))).toBe('NOT_SERVING');
    } finally {
      client.close();
      health.close();
    }
  }, 60_000);
});
