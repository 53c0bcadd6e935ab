import { Agent, request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { startInProcess } from '../support/in-process.js';

/**
 * Stopping the gateway drains it (invariant 7 depends on it: the leader releases its lease
 * only after its front doors stopped): a forwarded call in flight finishes and is answered,
 * a keep-alive connection does not hold the process, and the stop is bounded.
 */
const APP = 'wxgwshutdown0001';
const SECRET = 'gateway-shutdown-secret';

function getJson(agent: Agent, port: number, path: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
    });
    req.once('error', reject);
    req.end();
  });
}

describe('gateway shutdown', () => {
  it('a forwarded call in flight at stop is answered, and stop returns although the client keeps its connection', async () => {
    const h = await startInProcess(
      `
grpc: { listen: "127.0.0.1:0" }
gateway: { listen: "127.0.0.1:0", passThrough: true }
metrics: { listen: "" }
wechat: { baseUrl: "SIM_URL", timeoutMs: 3000 }
apps: [{ appId: ${APP}, mode: classic, secretEnv: APP_SECRET }]
`,
      { APP_SECRET: SECRET },
      (control) =>
        control.configureApp({ appId: APP, secret: SECRET, expiresInSeconds: 7200 }).then(),
    );
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const port = h.server.gatewayPort!;
      const token = await getJson(
        agent,
        port,
        `/cgi-bin/token?grant_type=client_credential&appid=${APP}&secret=any`,
      );
      // WeChat answers slowly from now on: the next call is in flight when the stop begins.
      await h.control.configureApp({
        appId: APP,
        secret: SECRET,
        expiresInSeconds: 7200,
        latencyMs: 800,
      });
      const inFlight = getJson(
        agent,
        port,
        `/cgi-bin/getcallbackip?access_token=${token.access_token}`,
      );
      await new Promise((r) => setTimeout(r, 200));
      const stopping = h.stop();
      const answer = await inFlight;
      expect(Array.isArray(answer.ip_list)).toBe(true);
      // Bounded: the drain deadline is 5 s; an idle keep-alive socket must not hold it longer.
      const outcome = await Promise.race([
        stopping.then(() => 'stopped'),
        new Promise((r) => setTimeout(() => r('still running'), 8_000)),
      ]);
      expect(outcome).toBe('stopped');
    } finally {
      agent.destroy();
    }
  });
});
