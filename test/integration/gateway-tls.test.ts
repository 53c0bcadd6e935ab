import { createHash } from 'node:crypto';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type TestCa } from '../support/certs.js';
import { startInProcess, type InProcess } from '../support/in-process.js';

/** The gateway over HTTPS from the same `tls:` files as gRPC (issue 13 §4). */
const APP = 'wxgatewaytls0001';
const SECRET = 'gateway-tls-secret-77aa';
const KEY = 'gateway-tls-caller-key-0099';

let ca: TestCa;
let h: InProcess;

function getJson(port: number, path: string, caFile: Buffer): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca: caFile }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
    });
    req.once('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  ca = createTestCa();
  const cert = ca.issueServer('gateway');
  h = await startInProcess(
    `
grpc: { listen: "127.0.0.1:0" }
gateway: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "SIM_URL", timeoutMs: 2000 }
tls: { certFile: "${cert.certFile}", keyFile: "${cert.keyFile}" }
auth:
  callers:
    - { name: shop, keySha256: "${createHash('sha256').update(KEY).digest('hex')}", apps: ["*"], scopes: [token:read] }
apps:
  - { appId: ${APP}, mode: classic, secretEnv: APP_SECRET }
`,
    { APP_SECRET: SECRET },
    (control) =>
      control.configureApp({ appId: APP, secret: SECRET, expiresInSeconds: 7200 }).then(),
  );
});

afterAll(async () => {
  await h?.stop();
});

describe('gateway over TLS', () => {
  it('answers /cgi-bin/token over HTTPS to a client that trusts the CA', async () => {
    const port = h.server.gatewayPort!;
    const path = `/cgi-bin/token?grant_type=client_credential&appid=${APP}&secret=${KEY}`;
    const body = await getJson(port, path, ca.ca);
    expect(typeof body.access_token).toBe('string');
    expect(body.expires_in).toBeGreaterThan(7000);
  });

  it('refuses plain HTTP on the TLS port (no key ever travels in clear)', async () => {
    const port = h.server.gatewayPort!;
    const err = await fetch(`http://127.0.0.1:${port}/cgi-bin/token`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
  });
});
