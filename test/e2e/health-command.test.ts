import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHealth } from '../../src/cli/health-command.js';
import { assertBuilt, startServe, startSim, type Spawned } from '../support/processes.js';
import { SimControl } from '../support/sim-control.js';

/** `wxtoken health` against real servers: what the Docker HEALTHCHECK and on-call rely on. */

const GOOD = 'wxe2ehealthok001';
const BAD = 'wxe2ehealthbad01';
const SECRET = 'health-e2e-secret-51c2';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function health(...args: string[]): Promise<Run> {
  assertBuilt();
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin', 'wxtoken.js'), 'health', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

const config = (simUrl: string, apps: string) => `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${simUrl}", timeoutMs: 2000 }
refresh: { configErrorRetryMs: 60000 }
apps:
${apps}
`;

let sim: Spawned & { url: string };
let serving: Spawned & { addr: string };
let notServing: Spawned & { addr: string };
/** Accepts TCP connections and never answers: a hung server. */
let silent: Server;
const sockets = new Set<Socket>();

beforeAll(async () => {
  sim = await startSim();
  const control = new SimControl(sim.url);
  for (const appId of [GOOD, BAD]) {
    await control.configureApp({ appId, secret: SECRET, expiresInSeconds: 7200 });
  }
  [serving, notServing] = await Promise.all([
    startServe(config(sim.url, `  - { appId: ${GOOD}, mode: classic, secretEnv: H_SECRET }`), {
      H_SECRET: SECRET,
    }),
    // One app has the wrong secret: it never gets a token; only its own health is NOT_SERVING.
    startServe(
      config(
        sim.url,
        `  - { appId: ${GOOD}, mode: classic, secretEnv: H_SECRET }
  - { appId: ${BAD}, mode: classic, secretEnv: H_WRONG }`,
      ),
      { H_SECRET: SECRET, H_WRONG: 'not-the-secret' },
    ),
  ]);
  const deadline = Date.now() + 10_000;
  while ((await checkHealth(serving.addr, '', 1000)).status !== 'SERVING') {
    if (Date.now() > deadline) throw new Error(`never SERVING:\n${serving.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  silent = createServer((s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  silent?.close();
  await Promise.all([serving?.stop(), notServing?.stop()]);
  await sim?.stop();
});

const portOf = (s: Server): number => (s.address() as { port: number }).port;

describe('wxtoken health', () => {
  it('SERVING: prints it and exits 0, for the server and for each service', async () => {
    const [plain, json, token, login] = await Promise.all([
      health('--addr', serving.addr),
      health('--addr', serving.addr, '--json'),
      health('--addr', serving.addr, '--service', 'wxtoken.v1.TokenService', '--json'),
      health('--addr', serving.addr, '--service', 'wxtoken.v1.LoginService'),
    ]);
    expect(plain).toMatchObject({ code: 0, stdout: 'SERVING\n', stderr: '' });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ status: 'SERVING', service: '' });
    expect(token.code).toBe(0);
    expect(JSON.parse(token.stdout)).toEqual({
      status: 'SERVING',
      service: 'wxtoken.v1.TokenService',
    });
    expect(login).toMatchObject({ code: 0, stdout: 'SERVING\n' });
  });

  it('one app without a live token (a wrong secret): readiness SERVING, that app NOT_SERVING, exit 1', async () => {
    const app = `wxtoken.v1.TokenService/${BAD}`;
    const deadline = Date.now() + 10_000;
    while ((await checkHealth(notServing.addr, app, 1000)).status !== 'NOT_SERVING') {
      if (Date.now() > deadline) throw new Error(`never NOT_SERVING:\n${notServing.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const [plain, json, good] = await Promise.all([
      health('--addr', notServing.addr),
      health('--addr', notServing.addr, '--service', app, '--json'),
      health('--addr', notServing.addr, '--service', `wxtoken.v1.TokenService/${GOOD}`),
    ]);
    // Issue 11 §2: one broken app is an app state, never the process's readiness.
    expect(plain).toMatchObject({ code: 0, stdout: 'SERVING\n' });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ status: 'NOT_SERVING', service: app });
    expect(good).toMatchObject({ code: 0, stdout: 'SERVING\n' });
  });

  it('an unknown service: exit 1, saying so', async () => {
    const [plain, json] = await Promise.all([
      health('--addr', serving.addr, '--service', 'no.such.Service'),
      health('--addr', serving.addr, '--service', 'no.such.Service', '--json'),
    ]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/does not know service "no\.such\.Service"/);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      status: 'SERVICE_UNKNOWN',
      service: 'no.such.Service',
    });
  });

  it('nothing listening: exit 1 at once, with a clear message', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const addr = `127.0.0.1:${portOf(closed)}`;
    await new Promise((resolve) => closed.close(resolve));
    const [plain, json] = await Promise.all([
      health('--addr', addr),
      health('--addr', addr, '--json'),
    ]);
    expect(plain.code).toBe(1);
    expect(plain.stdout).toBe('');
    expect(plain.stderr).toMatch(
      new RegExp(
        `^error: cannot reach wxtoken at ${addr}: nothing is listening there\\. Start it .* or point --addr`,
      ),
    );
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'UNREACHABLE', service: '' });
  });

  it('a hung server: exit 1 after --timeout-ms, well inside the Docker HEALTHCHECK timeout', async () => {
    const addr = `127.0.0.1:${portOf(silent)}`;
    const r = await health('--addr', addr, '--timeout-ms', '300');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: cannot reach wxtoken at ${addr}: no answer within 300 ms\n`);
    expect(r.ms).toBeLessThan(3000);
  });

  it('rejects a bad --timeout-ms', async () => {
    const r = await health('--addr', serving.addr, '--timeout-ms', '0');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--timeout-ms.*positive integer/);
  });
});
