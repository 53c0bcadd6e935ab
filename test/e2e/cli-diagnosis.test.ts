import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type IssuedCert, type TestCa } from '../support/certs.js';
import { runCli, type Spawned, startServe, startSimWithApp } from '../support/processes.js';

/**
 * Invariant 9 (bad input, clear answer) for the operator: when the on-call CLI or
 * `wxtoken health` cannot get an answer, the message names the cause and the flag that fixes it.
 * Issue 11 §5 asked for "server not running → say what to do"; the first fix said "nothing is
 * listening there. Start it" for EVERY connection failure, TLS mistakes included, sending an
 * operator to restart a healthy server. Real `wxtoken serve` processes: plaintext, TLS (a
 * certificate for a DNS name only, as in a cluster) and mutual TLS.
 */

const APP = 'wxe2eclidiag0001';
const SECRET = 'cli-diag-secret-7a2c';
const KEY = 'k-' + randomBytes(16).toString('hex');
const SERVER_NAME = 'wxtoken.internal';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let ca: TestCa;
let other: TestCa;
let oncall: IssuedCert;
let foreign: IssuedCert;
let sim: Spawned & { url: string };
let plain: Spawned & { addr: string };
let tls: Spawned & { addr: string };
let mtls: Spawned & { addr: string };
let closedAddr: string;

beforeAll(async () => {
  ca = createTestCa();
  other = createTestCa();
  // Only a DNS name: the replica is dialled as 127.0.0.1 (the HEALTHCHECK does), which the
  // certificate does not name, so verification needs --server-name.
  const serverCert = ca.issueServer('server', `DNS:${SERVER_NAME}`);
  oncall = ca.issueClient('oncall');
  foreign = other.issueClient('oncall'); // the right CN from a CA the server does not trust
  sim = await startSimWithApp(APP, SECRET);
  const base = `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
apps:
  - { appId: ${APP}, mode: classic, secretEnv: D_SECRET }
`;
  const keyCaller = `{ name: ops, keySha256: "${createHash('sha256').update(KEY).digest('hex')}", apps: ["*"], scopes: [token:read, admin] }`;
  const tlsFiles = `certFile: "${serverCert.certFile}", keyFile: "${serverCert.keyFile}"`;
  [plain, tls, mtls] = await Promise.all([
    startServe(`${base}\nauth: { callers: [${keyCaller}] }\n`, { D_SECRET: SECRET }),
    startServe(`${base}\ntls: { ${tlsFiles} }\nauth: { callers: [${keyCaller}] }\n`, {
      D_SECRET: SECRET,
    }),
    startServe(
      `${base}\ntls: { ${tlsFiles}, clientCaFile: "${ca.caFile}" }\n` +
        'auth: { callers: [{ name: oncall, certCommonName: oncall, apps: ["*"], scopes: [token:read, admin] }] }\n',
      { D_SECRET: SECRET },
    ),
  ]);
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedAddr = `127.0.0.1:${(probe.address() as { port: number }).port}`;
  await new Promise((resolve) => probe.close(resolve));
});

afterAll(async () => {
  await Promise.all([plain?.stop(), tls?.stop(), mtls?.stop()]);
  await sim?.stop();
});

const NOT_LISTENING = /nothing is listening there/;

interface Case {
  readonly name: string;
  readonly args: () => string[];
  /** What the message must say: the cause and the flag that fixes it. */
  readonly says: RegExp;
}

const withName = ['--server-name', SERVER_NAME];
const cases: readonly Case[] = [
  {
    name: 'nothing listening',
    args: () => ['--addr', closedAddr],
    says: /nothing is listening there\. Start it \(wxtoken serve --config FILE\) or point --addr/,
  },
  {
    name: 'a host name that does not resolve',
    args: () => ['--addr', 'no-such-host.invalid:50051'],
    says: /the host name does not resolve: check --addr \(or WXTOKEN_ADDR\)/,
  },
  {
    name: 'plaintext to a TLS server',
    args: () => ['--addr', tls.addr],
    says: /closed the connection before gRPC started: it may require TLS \(pass --tls with --ca FILE, or WXTOKEN_TLS=1 with WXTOKEN_TLS_CA\)/,
  },
  {
    name: 'TLS without the CA that signed the server certificate',
    args: () => ['--addr', tls.addr, '--tls', ...withName],
    says: /the server's certificate is not trusted \(unable to verify the first certificate\): pass --ca FILE/,
  },
  {
    name: 'TLS with another CA',
    args: () => ['--addr', tls.addr, '--ca', other.caFile, ...withName],
    says: /the server's certificate is not trusted .*: pass --ca FILE/,
  },
  {
    name: 'TLS to an address the certificate does not name',
    args: () => ['--addr', tls.addr, '--ca', ca.caFile],
    says: /the server's certificate does not name 127\.0\.0\.1: pass --server-name NAME \(or WXTOKEN_TLS_SERVER_NAME\)/,
  },
  {
    name: 'TLS to a plaintext server',
    args: () => ['--addr', plain.addr, '--ca', ca.caFile, ...withName],
    says: /the server did not answer TLS: it may be plaintext \(drop --tls, --ca, --cert and WXTOKEN_TLS\*\)/,
  },
  {
    name: 'mutual TLS without a client certificate',
    args: () => ['--addr', mtls.addr, '--ca', ca.caFile, ...withName],
    says: /the server requires a client certificate \(mutual TLS\): pass --cert FILE and --cert-key FILE/,
  },
  {
    name: 'mutual TLS with a certificate from a CA the server does not trust',
    args: () => [
      '--addr',
      mtls.addr,
      '--ca',
      ca.caFile,
      ...withName,
      '--cert',
      foreign.certFile,
      '--cert-key',
      foreign.keyFile,
    ],
    says: /the server closed the connection during the TLS handshake: under mutual TLS, --cert must be signed by a CA in its tls\.clientCaFile/,
  },
];

describe('an unreachable server: the CLI names the cause and the flag (invariant 9, issue 11 §5)', () => {
  it.each(cases)('status, get and health: $name', async ({ args, says, name }) => {
    const [status, get, health, healthJson] = await Promise.all([
      runCli(['status', ...args()], { WXTOKEN_KEY: KEY }),
      runCli(['get', APP, ...args(), '--json'], { WXTOKEN_KEY: KEY }),
      runCli(['health', ...args(), '--timeout-ms', '5000']),
      runCli(['health', ...args(), '--timeout-ms', '5000', '--json']),
    ]);
    for (const r of [status, get, health, healthJson]) expect(r.code).toBe(1);
    expect(status.out).toMatch(says);
    expect(JSON.parse(get.out)).toMatchObject({ error: { code: 'UNAVAILABLE' } });
    expect((JSON.parse(get.out) as { error: { details: string } }).error.details).toMatch(says);
    expect(health.out).toMatch(says);
    expect(JSON.parse(healthJson.out)).toMatchObject({ status: 'UNREACHABLE' });
    for (const r of [status, get, health]) {
      expect(r.out).not.toMatch(/Resolution note/);
      // Only a closed port is "nothing listening": a running server is never reported as down.
      if (name !== 'nothing listening') expect(r.out).not.toMatch(NOT_LISTENING);
    }
  });

  it('the same flags, put right, get answers (so each case above failed for the reason it names)', async () => {
    const tlsOk = ['--addr', tls.addr, '--ca', ca.caFile, ...withName];
    const mtlsOk = [
      '--addr',
      mtls.addr,
      '--ca',
      ca.caFile,
      ...withName,
      '--cert',
      oncall.certFile,
      '--cert-key',
      oncall.keyFile,
    ];
    const runs = await Promise.all([
      runCli(['status', '--addr', plain.addr, '--json'], { WXTOKEN_KEY: KEY }),
      runCli(['status', ...tlsOk, '--json'], { WXTOKEN_KEY: KEY }),
      runCli(['get', APP, ...mtlsOk, '--json']),
      runCli(['health', ...mtlsOk]),
    ]);
    for (const r of runs) expect(r).toMatchObject({ code: 0 });
  });
});

describe('the caller key', () => {
  it('--key works and warns that ps shows it; WXTOKEN_KEY and WXTOKEN_KEY_FILE do not warn', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wxtoken-key-'));
    writeFileSync(join(dir, 'key'), `${KEY}\n`, { mode: 0o600 });
    const [flag, env, file] = await Promise.all([
      runCli(['get', APP, '--addr', plain.addr, '--key', KEY]),
      runCli(['get', APP, '--addr', plain.addr], { WXTOKEN_KEY: KEY }),
      runCli(['get', APP, '--addr', plain.addr], { WXTOKEN_KEY_FILE: join(dir, 'key') }),
    ]);
    for (const r of [flag, env, file]) expect(r.code).toBe(0);
    expect(flag.out).toMatch(
      /warning: --key shows in `ps` to every user of this machine: use --key-file FILE or WXTOKEN_KEY_FILE/,
    );
    expect(flag.out).not.toContain(KEY); // the warning never repeats the key
    for (const r of [env, file]) expect(r.out).not.toMatch(/warning/);
  });
});

describe("the image's HEALTHCHECK against a TLS replica, configured by the environment alone", () => {
  /** The Dockerfile's HEALTHCHECK command, with its --addr pointed at the test server. */
  function healthcheck(addr: string): string[] {
    const line = readFileSync(`${ROOT}Dockerfile`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('HEALTHCHECK '));
    const cmd = JSON.parse(/ CMD (\[.*\])\s*$/.exec(line ?? '')?.[1] ?? '[]') as string[];
    expect(cmd.slice(0, 3)).toEqual(['node', 'bin/wxtoken.js', 'health']);
    const at = cmd.indexOf('--addr');
    return cmd.slice(2).map((arg, i) => (i + 2 === at + 1 ? addr : arg));
  }

  it('TLS and mutual TLS: WXTOKEN_TLS_CA and WXTOKEN_TLS_SERVER_NAME (plus the client pair) make it SERVING', async () => {
    const env = {
      WXTOKEN_TLS: '1',
      WXTOKEN_TLS_CA: ca.caFile,
      WXTOKEN_TLS_SERVER_NAME: SERVER_NAME,
    };
    const [onTls, onMtls, noName] = await Promise.all([
      runCli(healthcheck(tls.addr), env),
      runCli(healthcheck(mtls.addr), {
        ...env,
        WXTOKEN_TLS_CERT: oncall.certFile,
        WXTOKEN_TLS_CERT_KEY: oncall.keyFile,
      }),
      runCli(healthcheck(tls.addr), { ...env, WXTOKEN_TLS_SERVER_NAME: '' }),
    ]);
    expect(onTls).toMatchObject({ code: 0, out: 'SERVING\n' });
    expect(onMtls).toMatchObject({ code: 0, out: 'SERVING\n' });
    // A certificate that does not name 127.0.0.1 needs the server name: the message says so.
    expect(noName.code).toBe(1);
    expect(noName.out).toMatch(/does not name 127\.0\.0\.1: pass --server-name NAME/);
  });
});
