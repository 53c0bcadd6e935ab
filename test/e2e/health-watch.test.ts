import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, startSim, type Spawned } from '../support/processes.js';
import { SimControl } from '../support/sim-control.js';
import { until } from '../support/until.js';

/**
 * Health Watch streams hear the current status, then only changes: a readiness status
 * re-asserted every second used to write to every watcher every second (2,000 unauthenticated
 * watchers: a steady write load and ~30 MB of buffers).
 */

const APP = 'wxe2ehealthwat01';
const SECRET = 'health-watch-secret-0d4e';
const WATCHERS = 50;
const WINDOW_MS = 3_500;

let sim: Spawned & { url: string };
let server: Spawned & { addr: string };

beforeAll(async () => {
  sim = await startSim();
  await new SimControl(sim.url).configureApp({
    appId: APP,
    secret: SECRET,
    expiresInSeconds: 7200,
  });
  server = await startServe(
    `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
apps:
  - { appId: ${APP}, mode: classic, secretEnv: W_SECRET }
`,
    { W_SECRET: SECRET },
  );
});

afterAll(async () => {
  await server?.stop();
  await sim?.stop();
});

describe('grpc.health.v1.Health/Watch', () => {
  it('sends each watcher the current status once, then nothing while it does not change', async () => {
    const Client = grpc.makeGenericClientConstructor(healthService, 'Health');
    const client = new Client(server.addr, grpc.credentials.createInsecure());
    const received: string[][] = [];
    const streams: grpc.ClientReadableStream<{ status: string }>[] = [];
    try {
      for (let i = 0; i < WATCHERS; i++) {
        const seen: string[] = [];
        received.push(seen);
        const stream = (
          client as unknown as {
            watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }>;
          }
        ).watch({ service: '' });
        stream.on('data', (m: { status: string }) => seen.push(m.status));
        stream.on('error', () => undefined);
        streams.push(stream);
      }
      await until(
        'every watcher to see SERVING',
        () => received.every((s) => s.includes('SERVING')),
        15_000,
      );
      const before = received.map((s) => s.length);
      // The readiness timer runs every second: three or more ticks pass in this window.
      await new Promise((r) => setTimeout(r, WINDOW_MS));
      const extra = received.map((s, i) => s.length - before[i]!);
      expect(extra).toEqual(new Array<number>(WATCHERS).fill(0));
    } finally {
      for (const s of streams) s.cancel();
      client.close();
    }
  });
});
