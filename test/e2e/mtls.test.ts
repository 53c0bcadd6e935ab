import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { loadProto } from '../../src/grpc/proto.js';
import { createTestCa, normaliseSerial, type IssuedCert, type TestCa } from '../support/certs.js';
import {
  spawnCli,
  type Spawned,
  startServe,
  startSimWithApp,
  waitForOutput,
} from '../support/processes.js';
import { failure } from '../support/failure.js';
import { until } from '../support/until.js';

/**
 * Server TLS and mTLS with certificates made in the test (openssl CLI): the client
 * certificate's CN is the caller; a CA-signed but unconfigured CN is UNAUTHENTICATED; no
 * client certificate, no handshake; renewed server certificates are picked up without a restart.
 */

const APP = 'wxe2emtls0000001';
const SECRET = 'mtls-e2e-secret-11aa';
const BEARER = randomBytes(24).toString('base64url');

let sim: Spawned & { url: string };
let ca: TestCa;
let serverCert: IssuedCert;
let oncall: IssuedCert;
let stranger: IssuedCert;
/** Server with mTLS (clientCaFile set), callers by certificate CN. */
let mtls: Spawned & { addr: string };
/** Server with TLS only, callers by bearer key. */
let tlsOnly: Spawned & { addr: string };
const clients: grpc.Client[] = [];

function client(addr: string, creds: grpc.ChannelCredentials): TokenServiceClient {
  const c = new (loadProto().wxtoken.v1.TokenService)(addr, creds);
  clients.push(c);
  return c;
}

function getToken(
  c: TokenServiceClient,
  key?: string,
  timeoutMs = 5_000,
): Promise<{ app_id: string; access_token: string }> {
  const md = new grpc.Metadata();
  if (key !== undefined) md.set('authorization', `Bearer ${key}`);
  return new Promise((resolve, reject) =>
    c.GetToken({ app_id: APP }, md, { deadline: Date.now() + timeoutMs }, (err, res) =>
      err ? reject(err) : resolve(res as { app_id: string; access_token: string }),
    ),
  );
}

/** The serial of the certificate the server presents on a NEW TLS connection. */
function servedSerial(addr: string, clientCert: IssuedCert): Promise<string> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.split(':').pop())];
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      ca: ca.ca,
      cert: clientCert.cert,
      key: clientCert.key,
      ALPNProtocols: ['h2'],
    });
    socket.setTimeout(3_000, () => socket.destroy(new Error('TLS connect timed out')));
    socket.once('secureConnect', () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(normaliseSerial(serial));
    });
    socket.once('error', reject);
  });
}

beforeAll(async () => {
  ca = createTestCa();
  serverCert = ca.issueServer('server');
  oncall = ca.issueClient('oncall');
  stranger = ca.issueClient('stranger');
  sim = await startSimWithApp(APP, SECRET);
  const base = `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
apps:
  - { appId: ${APP}, mode: classic, secretEnv: MTLS_SECRET }
`;
  [mtls, tlsOnly] = await Promise.all([
    startServe(
      `${base}
tls: { certFile: "${serverCert.certFile}", keyFile: "${serverCert.keyFile}", clientCaFile: "${ca.caFile}" }
auth:
  callers:
    - { name: oncall, certCommonName: oncall, apps: ["*"], scopes: [token:read] }
`,
      { MTLS_SECRET: SECRET },
    ),
    startServe(
      `${base}
tls: { certFile: "${serverCert.certFile}", keyFile: "${serverCert.keyFile}" }
auth:
  callers:
    - { name: svc, keySha256: "${createHash('sha256').update(BEARER).digest('hex')}", apps: ["*"], scopes: [token:read] }
`,
      { MTLS_SECRET: SECRET },
    ),
  ]);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await mtls?.stop();
  await tlsOnly?.stop();
  await sim?.stop();
});

describe('mTLS: the client certificate is the caller', () => {
  it('CN=oncall (configured) → GetToken works without any key', async () => {
    const c = client(mtls.addr, grpc.credentials.createSsl(ca.ca, oncall.key, oncall.cert));
    const t = await getToken(c, undefined, 10_000);
    expect(t.app_id).toBe(APP);
    expect(t.access_token).not.toBe('');
  });

  it('CN=oncall is held to its scopes: ListApps (admin) → PERMISSION_DENIED', async () => {
    const c = client(mtls.addr, grpc.credentials.createSsl(ca.ca, oncall.key, oncall.cert));
    const err = await failure(
      new Promise((resolve, reject) =>
        c.ListApps({}, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (e, r) =>
          e ? reject(e) : resolve(r),
        ),
      ),
    );
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('CN=stranger (signed by the CA, not a configured caller) → UNAUTHENTICATED', async () => {
    const c = client(mtls.addr, grpc.credentials.createSsl(ca.ca, stranger.key, stranger.cert));
    const err = await failure(getToken(c));
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err.details).toMatch(/client certificate is not a configured caller/);
  });

  it('no client certificate → the handshake fails (UNAVAILABLE)', async () => {
    const c = client(mtls.addr, grpc.credentials.createSsl(ca.ca));
    const err = await failure(getToken(c));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('a client certificate from another CA → the handshake fails (UNAVAILABLE)', async () => {
    const other = createTestCa();
    const forged = other.issueClient('oncall'); // right CN, wrong issuer
    const c = client(mtls.addr, grpc.credentials.createSsl(ca.ca, forged.key, forged.cert));
    const err = await failure(getToken(c));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('a plaintext client fails', async () => {
    const c = client(mtls.addr, grpc.credentials.createInsecure());
    const err = await failure(getToken(c));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe('TLS without client certificates, callers by bearer key', () => {
  it('the bearer key over TLS works; no key → UNAUTHENTICATED; plaintext fails', async () => {
    const c = client(tlsOnly.addr, grpc.credentials.createSsl(ca.ca));
    expect((await getToken(c, BEARER, 10_000)).app_id).toBe(APP);
    expect((await failure(getToken(c))).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await failure(getToken(c, 'wrong-key'))).code).toBe(grpc.status.UNAUTHENTICATED);
    const plain = client(tlsOnly.addr, grpc.credentials.createInsecure());
    expect((await failure(getToken(plain, BEARER))).code).toBe(grpc.status.UNAVAILABLE);
  });

  it('a client that does not trust the issuing CA refuses the server (UNAVAILABLE)', async () => {
    const c = client(tlsOnly.addr, grpc.credentials.createSsl(createTestCa().ca));
    expect((await failure(getToken(c, BEARER))).code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe('certificate reload', () => {
  /** Replaces `to` by rename (what cert-manager style renewals do: no half-written file). */
  const stage = (from: string, to: string): void => {
    copyFileSync(from, `${to}.next`);
    renameSync(`${to}.next`, to);
  };

  /** Polls new TLS connections until the server presents `serial`; returns how long it took. */
  async function waitForSerial(serial: string, withinMs: number): Promise<number> {
    const started = Date.now();
    let seen = '';
    while (Date.now() - started < withinMs) {
      seen = await servedSerial(mtls.addr, oncall).catch((e: Error) => `error: ${e.message}`);
      if (seen === normaliseSerial(serial)) return Date.now() - started;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`after ${withinMs} ms the server still presents ${seen}, not ${serial}`);
  }

  it('a renewed server certificate (same CA) is served to new connections within the refresh interval, with no restart', async () => {
    const pid = mtls.proc.pid;
    expect(await servedSerial(mtls.addr, oncall)).toBe(normaliseSerial(serverCert.serial));

    const renewed = ca.issueServer('server-renewed');
    stage(renewed.keyFile, serverCert.keyFile);
    stage(renewed.certFile, serverCert.certFile);
    const tookMs = await waitForSerial(renewed.serial, 12_000); // refresh interval is 5 s
    console.log(`mtls: renewed certificate served after ${tookMs} ms`);

    // A new gRPC connection works with the new certificate, and it is the same process.
    const c = client(mtls.addr, grpc.credentials.createSsl(ca.ca, oncall.key, oncall.cert));
    expect((await getToken(c)).app_id).toBe(APP);
    expect(mtls.proc.pid).toBe(pid);
    expect(mtls.proc.exitCode).toBeNull();
    expect(mtls.output().match(/"msg":"wxtoken serving"/g)).toHaveLength(1);
    // Logs are written asynchronously (and batched under load): wait for the line, briefly.
    await until(
      '"TLS certificate reloaded" in the log',
      () => /"msg":"TLS certificate reloaded"/.test(mtls.output()),
      1_000,
    );
  }, 30_000);

  it('SIGHUP re-reads the files at once and does not stop the process', async () => {
    const next = ca.issueServer('server-hup');
    stage(next.keyFile, serverCert.keyFile);
    stage(next.certFile, serverCert.certFile);
    mtls.proc.kill('SIGHUP');
    expect(await waitForSerial(next.serial, 2_000)).toBeLessThan(2_000);
    expect(mtls.proc.exitCode).toBeNull();
    expect(mtls.proc.signalCode).toBeNull();
  });

  it('a half-finished rotation (new certificate, old key) keeps the previous pair in service', async () => {
    const before = await servedSerial(mtls.addr, oncall);
    const next = ca.issueServer('server-half');
    stage(next.certFile, serverCert.certFile); // the key is not there yet
    mtls.proc.kill('SIGHUP');
    await waitForOutput(mtls, /"msg":"TLS files not reloaded; keeping the current ones"/, 3_000);
    expect(await servedSerial(mtls.addr, oncall)).toBe(before);
    const c = client(mtls.addr, grpc.credentials.createSsl(ca.ca, oncall.key, oncall.cert));
    expect((await getToken(c)).app_id).toBe(APP);

    stage(next.keyFile, serverCert.keyFile); // the rotation completes
    mtls.proc.kill('SIGHUP');
    await waitForSerial(next.serial, 2_000);
    expect(mtls.output()).not.toContain(next.key.toString());
  });
});

describe('TLS files are checked at start', () => {
  it('a missing certificate file stops serve with a message naming it (no server that drops every connection)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wxtoken-mtls-e2e-'));
    const path = join(dir, 'broken.yaml');
    const missing = join(dir, 'no-such-cert.pem');
    writeFileSync(
      path,
      `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
tls: { certFile: "${missing}", keyFile: "${serverCert.keyFile}" }
apps:
  - { appId: ${APP}, mode: classic, secretEnv: MTLS_SECRET }
`,
    );
    const p = spawnCli(['serve', '--config', path], { MTLS_SECRET: SECRET });
    const code = await new Promise<number | null>((resolve) =>
      p.proc.exitCode !== null ? resolve(p.proc.exitCode) : p.proc.once('exit', resolve),
    );
    expect(code).toBe(2); // a config error, like any other
    expect(p.output()).toContain(`tls.certFile: cannot read ${missing} (ENOENT)`);
    expect(p.output()).not.toMatch(/wxtoken serving/);
  });
});
