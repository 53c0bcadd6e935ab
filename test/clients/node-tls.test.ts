import { createHash, randomBytes } from 'node:crypto';
import { TokenUnavailableError, WxTokenClient } from 'wxtoken-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertOpenssl, createTestCa, type IssuedCert, type TestCa } from '../support/certs.js';
import { type Spawned, startServe, startSimWithApp } from '../support/processes.js';

/**
 * wxtoken-client's ways in (design.md "Client libraries": bearer key or mTLS) against real
 * `wxtoken serve` processes: TLS + `authorization: Bearer <key>` (auth.callers keySha256), and
 * mutual TLS (a caller named by its certificate's CN).
 */
const APP = 'wxnodeclienttls1';
const SECRET = 'node-tls-secret-4e9b';
const KEY = 'k-' + randomBytes(16).toString('hex');

let ca: TestCa;
let clientCert: IssuedCert;
let sim: Spawned & { url: string };
let tls: Spawned & { addr: string };
let mtls: Spawned & { addr: string };
const clients: WxTokenClient[] = [];

beforeAll(async () => {
  assertOpenssl();
  ca = createTestCa();
  const serverCert = ca.issueServer('server');
  clientCert = ca.issueClient('shop');
  sim = await startSimWithApp(APP, SECRET);
  const base = `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
apps:
  - { appId: ${APP}, mode: classic, secretEnv: T_SECRET }
`;
  const keyCaller = `{ name: shop, keySha256: "${createHash('sha256').update(KEY).digest('hex')}", apps: [${APP}], scopes: [token:read, token:refresh] }`;
  const tlsFiles = `certFile: "${serverCert.certFile}", keyFile: "${serverCert.keyFile}"`;
  [tls, mtls] = await Promise.all([
    startServe(`${base}\ntls: { ${tlsFiles} }\nauth: { callers: [${keyCaller}] }\n`, {
      T_SECRET: SECRET,
    }),
    startServe(
      `${base}\ntls: { ${tlsFiles}, clientCaFile: "${ca.caFile}" }\n` +
        `auth: { callers: [{ name: shop, certCommonName: shop, apps: [${APP}], scopes: [token:read] }] }\n`,
      { T_SECRET: SECRET },
    ),
  ]);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([tls?.stop(), mtls?.stop()]);
  await sim?.stop();
});

function client(o: ConstructorParameters<typeof WxTokenClient>[0]): WxTokenClient {
  const c = new WxTokenClient(o);
  clients.push(c);
  return c;
}

describe('wxtoken-client over TLS with a bearer key, and over mutual TLS', () => {
  it('TLS (CA as a file path) + bearer key: token() answers, and the stream comes up', async () => {
    const c = client({ address: tls.addr, key: KEY, tls: { ca: ca.caFile } });
    const t = await c.token(APP);
    expect(t.length).toBeGreaterThan(20);
    const t0 = Date.now();
    while (!c.status(APP)!.streaming && Date.now() - t0 < 5_000) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(c.status(APP)!.streaming).toBe(true);
  });

  it('TLS with a wrong key: a typed error carrying UNAUTHENTICATED', async () => {
    const c = client({ address: tls.addr, key: 'not-the-key', tls: { ca: ca.ca } });
    const err = await c.token(APP).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect((err as TokenUnavailableError).codeName).toBe('UNAUTHENTICATED');
  });

  it('mutual TLS (PEM buffers): token() answers without a key', async () => {
    const c = client({
      address: mtls.addr,
      tls: { ca: ca.ca, cert: clientCert.cert, key: clientCert.key },
    });
    expect((await c.token(APP)).length).toBeGreaterThan(20);
  });
});
