import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getToken, tokenClient } from '../../src/cli/grpc-client.js';
import { freePort } from '../support/free-port.js';
import { startServeFile, startSim, type Spawned } from '../support/processes.js';
import { SimControl } from '../support/sim-control.js';
import { spawnProcess, waitForOutput } from '../support/spawned.js';

/**
 * Issue 14 "Done means": an independent program (harness/node_client_harness.mjs) that knows
 * only the published client API keeps getting valid tokens through a server restart while the
 * token lives, and recovers from a token invalidated at the simulator with exactly one upstream
 * fetch. Validity is WeChat's (the simulator's) verdict on a real call with each token.
 */
const APP = 'wxnodeharness001';
const SECRET = 'node-harness-secret-91d0';
const HARNESS = fileURLToPath(new URL('./harness/node_client_harness.mjs', import.meta.url));

let sim: Spawned & { url: string };
let control: SimControl;
let server: (Spawned & { addr: string }) | undefined;
let harness: Spawned;
let harnessUrl: string;
let configPath: string;

async function post<T>(path: string): Promise<T> {
  const res = await fetch(`${harnessUrl}${path}`, { method: 'POST' });
  if (!res.ok) throw new Error(`harness ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

beforeAll(async () => {
  sim = await startSim();
  control = new SimControl(sim.url);
  await control.configureApp({ appId: APP, secret: SECRET, expiresInSeconds: 7200 });
  const port = await freePort();
  configPath = join(mkdtempSync(join(tmpdir(), 'wxtoken-node-harness-')), 'wxtoken.yaml');
  writeFileSync(
    configPath,
    `
grpc: { listen: "127.0.0.1:${port}" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
refresh: { forceMinIntervalMs: 1 }
apps:
  - { appId: ${APP}, mode: classic, secretEnv: APP_SECRET }
`,
  );
  server = await startServeFile(configPath, { APP_SECRET: SECRET });
  harness = spawnProcess(process.execPath, [HARNESS], {
    env: { WXTOKEN_ADDR: server.addr, APP_ID: APP, WECHAT_URL: sim.url },
  });
  harnessUrl = (await waitForOutput(harness, /harness listening on (http:\/\/[\d.:]+)/))[1]!;
});

afterAll(async () => {
  await post('/close').catch(() => undefined);
  await harness?.stop('SIGKILL');
  await server?.stop('SIGKILL');
  await sim?.stop();
});

interface LoopStats {
  calls: number;
  valid: number;
  invalid: string[];
  errors: string[];
  distinctTokens: number;
  last: string;
}

describe('an independent program on wxtoken-client (node_client_harness.mjs)', () => {
  it('keeps getting valid tokens through a server restart, and ends on the new server token', async () => {
    await post('/loop/start');
    await new Promise((r) => setTimeout(r, 300));
    await server!.stop('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    server = await startServeFile(configPath, { APP_SECRET: SECRET });
    const raw = tokenClient(server.addr);
    const current = (await getToken(raw, APP)).access_token;
    raw.close();
    // The client reconnects by itself: its backoff (and the channel's) is capped at 5 s.
    const t0 = Date.now();
    while ((await post<{ last: string }>('/loop/peek')).last !== current) {
      if (Date.now() - t0 > 12_000)
        throw new Error('the client never moved to the new server token');
      await new Promise((r) => setTimeout(r, 50));
    }
    const resumedMs = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 200));
    const stats = await post<LoopStats>('/loop/stop');
    expect(stats.errors).toEqual([]);
    expect(stats.invalid).toEqual([]);
    expect(stats.calls).toBeGreaterThan(50);
    expect(stats.valid).toBe(stats.calls);
    expect(stats.last).toBe(current); // the stream resumed on the restarted server
    console.log(
      `harness through restart: ${JSON.stringify({ ...stats, last: undefined })}, on the new token ${resumedMs} ms after the restarted server answered`,
    );
  });

  it('recovers from a token invalidated at the simulator with exactly one upstream fetch', async () => {
    await control.rotate(APP, true); // another system fetched: the served token is dead at once
    const before = await control.counters(APP);
    const herd = await post<{ ok: number; failed: string[]; distinctTokens: number }>(
      '/herd?n=100',
    );
    const after = await control.counters(APP);
    expect(herd.failed).toEqual([]);
    expect(herd.ok).toBe(100);
    expect(herd.distinctTokens).toBe(1);
    expect(after.tokenCalls - before.tokenCalls).toBe(1);
  });
});
