import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type IssuedCert, type TestCa } from '../support/certs.js';
import { runCli, type Spawned, startServe, startSimWithApp } from '../support/processes.js';

/**
 * Issue 11 §4: the on-call CLI and `wxtoken health` speak TLS and mutual TLS, and read the
 * caller key from a file or the environment (argv shows in `ps`). Otherwise turning on `tls:`
 * marked every container unhealthy (the HEALTHCHECK spoke plaintext).
 */

const APP = 'wxe2eclitls00001';
const SECRET = 'cli-tls-secret-4d1e';
const KEY = 'k-' + randomBytes(16).toString('hex');

let ca: TestCa;
let oncall: IssuedCert;
let sim: Spawned & { url: string };
let tlsServer: Spawned & { addr: string };
let mtlsServer: Spawned & { addr: string };
let keyFile: string;

beforeAll(async () => {
  ca = createTestCa();
  const serverCert = ca.issueServer('server');
  oncall = ca.issueClient('oncall');
  sim = await startSimWithApp(APP, SECRET);
  const base = `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
apps:
  - { appId: ${APP}, mode: classic, secretEnv: T_SECRET }
`;
  [tlsServer, mtlsServer] = await Promise.all([
    startServe(
      `${base}
tls: { certFile: "${serverCert.certFile}", keyFile: "${serverCert.keyFile}" }
auth:
  callers:
    - { name: ops, keySha256: "${createHash('sha256').update(KEY).digest('hex')}", apps: ["*"], scopes: [token:read, token:refresh, admin] }
`,
      { T_SECRET: SECRET },
    ),
    startServe(
      `${base}
tls: { certFile: "${serverCert.certFile}", keyFile: "${serverCert.keyFile}", clientCaFile: "${ca.caFile}" }
auth:
  callers:
    - { name: oncall, certCommonName: oncall, apps: ["*"], scopes: [token:read, token:refresh, admin] }
`,
      { T_SECRET: SECRET },
    ),
  ]);
  keyFile = join(mkdtempSync(join(tmpdir(), 'wxtoken-key-')), 'caller.key');
  writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await Promise.all([tlsServer?.stop(), mtlsServer?.stop()]);
  await sim?.stop();
});

describe('CLI over TLS and mutual TLS (issue 11 §4)', () => {
  it('health: plaintext against a TLS server fails; --ca works; the environment alone works (the HEALTHCHECK way)', async () => {
    const plain = await runCli(['health', '--addr', tlsServer.addr, '--timeout-ms', '3000']);
    expect(plain.code).toBe(1);
    const flags = await runCli(['health', '--addr', tlsServer.addr, '--ca', ca.caFile]);
    expect(flags).toMatchObject({ code: 0 });
    expect(flags.out.trim()).toBe('SERVING');
    const env = await runCli(['health', '--addr', tlsServer.addr], {
      WXTOKEN_TLS: '1',
      WXTOKEN_TLS_CA: ca.caFile,
    });
    expect(env.code).toBe(0);
  });

  it('get, status, refresh, audit over TLS with the key from --key-file and from WXTOKEN_KEY_FILE', async () => {
    const tls = ['--addr', tlsServer.addr, '--ca', ca.caFile];
    const get = await runCli(['get', APP, ...tls, '--key-file', keyFile, '--json']);
    expect(get.code).toBe(0);
    expect(JSON.parse(get.out)).toMatchObject({ appId: APP });
    const status = await runCli(['status', ...tls, '--json'], { WXTOKEN_KEY_FILE: keyFile });
    expect(status.code).toBe(0);
    const refresh = await runCli(['refresh', APP, ...tls, '--reason', 'cli tls drill', '--json'], {
      WXTOKEN_KEY_FILE: keyFile,
    });
    expect(refresh.code).toBe(0);
    const audit = await runCli(['audit', ...tls, '--json'], { WXTOKEN_KEY_FILE: keyFile });
    expect(audit.code).toBe(0);
    expect(audit.out).toContain('cli tls drill');
  });

  it('mutual TLS: --cert/--cert-key authenticate the caller by certificate; without them the call is refused', async () => {
    const mtls = ['--addr', mtlsServer.addr, '--ca', ca.caFile];
    const ok = await runCli([
      'get',
      APP,
      ...mtls,
      '--cert',
      oncall.certFile,
      '--cert-key',
      oncall.keyFile,
      '--json',
    ]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ appId: APP });
    const health = await runCli([
      'health',
      ...mtls,
      '--cert',
      oncall.certFile,
      '--cert-key',
      oncall.keyFile,
    ]);
    expect(health.code).toBe(0);
    const refused = await runCli(['get', APP, ...mtls, '--json']);
    expect(refused.code).toBe(1);
  });

  it('bad flags are named: --cert without --cert-key, a missing --key-file', async () => {
    const half = await runCli(['get', APP, '--addr', tlsServer.addr, '--cert', oncall.certFile]);
    expect(half.code).toBe(2);
    expect(half.out).toMatch(/--cert and --cert-key go together/);
    const missing = await runCli([
      'get',
      APP,
      '--addr',
      tlsServer.addr,
      '--key-file',
      '/nonexistent/key',
    ]);
    expect(missing.code).toBe(2);
    expect(missing.out).toMatch(/--key-file \/nonexistent\/key: ENOENT/);
  });
});
