import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getTicket, tokenClient } from '../src/cli/grpc-client.js';
import { startServeFile, startSim } from '../test/support/processes.js';
import { SimControl } from '../test/support/sim-control.js';
import type { Spawned } from '../test/support/spawned.js';
import { runLoad, type LoadResult } from './load.js';
import { KEEP_OUTPUT_CHARS, LOAD_CORE, SERVER_CORE } from './procs.js';
import { perSecond, type Scenario } from './report.js';

const APP = 'wxbenchticket001';
const SECRET = 'bench-ticket-secret-2c9e';
const LIFETIME_S = 3;
const AHEAD_S = 1;

/**
 * Issue 12: tickets on the credential engine. (1) GetTicket against GetToken on the same
 * server in one run, interleaved rounds of the same closed-loop load (target ≥ 0.95×: a ticket
 * is answered from memory exactly like a token). (2) getticket calls per ticket written, over
 * many short ticket lifetimes: 1.00 means no fetch was wasted (invariant 1 per credential).
 */
export const ticketsScenario: Scenario = {
  name: 'tickets',
  title: 'Tickets: GetTicket vs GetToken throughput, getticket calls per rotation',
  async run(ctx) {
    const rounds = ctx.quick ? 2 : 4;
    const durationMs = ctx.quick ? 2_000 : 4_000;
    const dir = mkdtempSync(join(tmpdir(), 'wxtoken-bench-tickets-'));
    const started: Spawned[] = [];
    try {
      const sim = await startSim([], { core: LOAD_CORE, keepChars: KEEP_OUTPUT_CHARS });
      started.push(sim);
      const control = new SimControl(sim.url);
      await control.configureApp({
        appId: APP,
        secret: SECRET,
        expiresInSeconds: 7200,
        ticketLifetimeSeconds: LIFETIME_S,
      });
      const configPath = join(dir, 'wxtoken.yaml');
      writeFileSync(
        configPath,
        [
          'grpc: { listen: "127.0.0.1:0" }',
          'metrics: { listen: "" }',
          `wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }`,
          `refresh: { aheadSeconds: ${AHEAD_S}, retryMinMs: 100, retryMaxMs: 1000 }`,
          `apps: [{ appId: ${APP}, mode: classic, secretEnv: BENCH_SECRET, tickets: [jsapi] }]`,
        ].join('\n'),
      );
      const server = await startServeFile(
        configPath,
        { BENCH_SECRET: SECRET },
        { core: SERVER_CORE, keepChars: KEEP_OUTPUT_CHARS },
      );
      started.push(server);
      const load = (method: 'GetToken' | 'GetTicket'): Promise<LoadResult> =>
        runLoad({
          addr: server.addr,
          appId: APP,
          channels: 4,
          inflight: 16,
          durationMs,
          warmupMs: 500,
          method,
        });
      await load('GetTicket'); // the first ticket, and a warm server
      const client = tokenClient(server.addr);
      const generation = async (): Promise<number> =>
        Number((await getTicket(client, APP, 'TICKET_TYPE_JSAPI')).generation);
      const before = await control.ticketCounters(APP, 'jsapi');
      const firstGeneration = await generation();
      const startedAt = performance.now();
      const sums = { GetToken: 0, GetTicket: 0, errors: 0 };
      for (let i = 0; i < rounds; i++) {
        // Interleaved, so drift on this shared machine lands on both sides alike.
        for (const method of ['GetToken', 'GetTicket'] as const) {
          const r = await load(method);
          sums[method] += r.callsPerSecond;
          sums.errors += r.errors;
          ctx.log(
            `${method} round ${i + 1}: ${perSecond(r.callsPerSecond)}, p99 ${r.p99Ms.toFixed(2)} ms`,
          );
        }
      }
      const after = await control.ticketCounters(APP, 'jsapi');
      const written = (await generation()) - firstGeneration;
      const elapsedS = (performance.now() - startedAt) / 1000;
      client.close();
      const ratio = sums.GetTicket / sums.GetToken;
      const fetches = after.calls - before.calls;
      return [
        {
          scenario: 'tickets',
          metric: 'GetTicket vs GetToken, same server and load, interleaved',
          value: `${perSecond(sums.GetTicket / rounds)} vs ${perSecond(sums.GetToken / rounds)} (ratio ${ratio.toFixed(2)}); errors ${sums.errors}`,
          target: '≥ 0.95',
          met: ratio >= 0.95 && sums.errors === 0,
        },
        {
          scenario: 'tickets',
          metric: `getticket calls per ticket rotation (${LIFETIME_S} s tickets, ${AHEAD_S} s ahead, under load)`,
          value: `${fetches} calls, ${written} rotations in ${elapsedS.toFixed(1)} s (${(fetches / Math.max(1, written)).toFixed(2)} per rotation); max in flight ${after.maxInFlight}, with a dead token ${after.rejectedDeadToken}`,
          target: '1; 1; 0',
          met:
            written > 0 &&
            fetches === written &&
            after.maxInFlight === 1 &&
            after.rejectedDeadToken === 0,
        },
      ];
    } finally {
      for (const p of started.reverse()) await p.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
