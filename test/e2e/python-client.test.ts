import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getToken, tokenClient } from '../../src/cli/grpc-client.js';
import { checkHealth } from '../../src/cli/health-command.js';
import { startServe, startSim, type Spawned } from '../support/processes.js';
import { SimControl } from '../support/sim-control.js';

/**
 * A non-Node client: Debian's python3-grpcio, with no generated stubs and no .proto files,
 * gets SERVING from grpc.health.v1, lists the services through server reflection, loads the
 * reflected descriptors as grpcurl would, and gets a token from GetToken.
 *
 * Debian's package installs into /usr/bin/python3 only (not a pyenv or venv `python3` on
 * PATH), so that interpreter is used by its full path. A missing package fails the suite: it
 * is a setup error, not a reason to skip.
 */

const PYTHON = '/usr/bin/python3';
const INSTALL = 'apt-get install -y python3-grpcio';
const SCRIPT = fileURLToPath(new URL('./python/health_and_token.py', import.meta.url));
const APP = 'wxe2epython00001';
const SECRET = 'python-e2e-secret-4b7e';

interface ScriptToken {
  app_id: string;
  access_token: string;
  access_token_length: number;
  expires_at: number;
  generation: number;
}

interface ScriptOutput {
  python: string;
  grpcio: string;
  health: Record<string, string>;
  reflection: { api: string; services: string[] };
  token: ScriptToken & { request_hex: string; expires_in_s: number };
  descriptors: { ok: boolean; files?: string[]; error?: string };
  token_via_descriptors?: ScriptToken;
  error?: string;
}

function runPython(
  args: string[],
  timeoutMs = 30_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(PYTHON, args, { timeout: timeoutMs }, (err, stdout, stderr) =>
      resolve({
        code: err ? (typeof err.code === 'number' ? err.code : -1) : 0,
        stdout,
        stderr: stderr || (err && typeof err.code !== 'number' ? err.message : ''),
      }),
    ),
  );
}

let sim: Spawned & { url: string };
let server: Spawned & { addr: string };
let control: SimControl;
let scriptOut: ScriptOutput;
/**
 * Why there is no script output. Kept, not thrown from beforeAll: a throwing hook makes
 * vitest report the tests as skipped, and a missing package must count as failed tests.
 */
let setupError: Error | undefined;

/** The script's output, or the setup error as a test failure. */
function output(): ScriptOutput {
  if (setupError) throw setupError;
  return scriptOut;
}

beforeAll(async () => {
  const probe = await runPython(['-c', 'import grpc, google.protobuf; print(grpc.__version__)']);
  if (probe.code !== 0) {
    setupError = new Error(
      `${PYTHON} cannot import grpc: install Debian's package with \`${INSTALL}\` ` +
        `(as root; it installs into ${PYTHON}, not into a pyenv/venv python3).\n${probe.stderr}`,
    );
    return;
  }
  sim = await startSim();
  control = new SimControl(sim.url);
  await control.configureApp({ appId: APP, secret: SECRET, expiresInSeconds: 7200 });
  server = await startServe(
    `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
apps:
  - { appId: ${APP}, mode: classic, secretEnv: PY_E2E_SECRET }
`,
    { PY_E2E_SECRET: SECRET },
  );
  // "wxtoken serving" comes before the first fetch; health turns SERVING once it is done.
  const deadline = Date.now() + 10_000;
  while ((await checkHealth(server.addr, '', 1000)).status !== 'SERVING') {
    if (Date.now() > deadline) throw new Error(`never SERVING:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const r = await runPython([SCRIPT, server.addr, APP]);
  if (r.code !== 0) {
    setupError = new Error(`${SCRIPT} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return;
  }
  scriptOut = JSON.parse(r.stdout) as ScriptOutput;
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await sim?.stop();
});

describe('a Python grpcio client (no stubs, no .proto files)', () => {
  it('runs on Debian python3-grpcio', () => {
    const out = output();
    expect(out.python).toBe(PYTHON);
    expect(out.grpcio).toMatch(/^\d+\.\d+/);
    expect(out.error).toBeUndefined();
  });

  it('grpc.health.v1.Health/Check: SERVING for the server and both services', () => {
    const out = output();
    expect(out.health).toEqual({
      '': 'SERVING',
      'wxtoken.v1.TokenService': 'SERVING',
      'wxtoken.v1.LoginService': 'SERVING',
    });
  });

  it('server reflection lists TokenService, LoginService and grpc.health.v1.Health', () => {
    const out = output();
    expect(['v1', 'v1alpha']).toContain(out.reflection.api);
    expect(out.reflection.services).toEqual(
      expect.arrayContaining([
        'wxtoken.v1.TokenService',
        'wxtoken.v1.LoginService',
        'grpc.health.v1.Health',
      ]),
    );
  });

  it('GetToken with hand-encoded request bytes: a token WeChat accepts, with its expiry', async () => {
    const out = output();
    // GetTokenRequest{app_id}: tag 0x0a (field 1, length-delimited), varint length, UTF-8.
    expect(out.token.request_hex).toBe(
      `0a${APP.length.toString(16).padStart(2, '0')}${Buffer.from(APP).toString('hex')}`,
    );
    expect(out.token.app_id).toBe(APP);
    expect(out.token.access_token_length).toBe(136); // what WeChat (and the simulator) issue
    expect(out.token.access_token).toHaveLength(out.token.access_token_length);
    expect(out.token.expires_in_s).toBeGreaterThan(7000);
    expect(out.token.expires_in_s).toBeLessThanOrEqual(7200);
    expect(out.token.generation).toBeGreaterThanOrEqual(1);
    expect(await control.check(out.token.access_token)).toMatchObject({ valid: true, errcode: 0 });
    // The same answer the Node client gets.
    const client = tokenClient(server.addr);
    try {
      const t = await getToken(client, APP);
      expect(out.token.access_token).toBe(t.access_token);
      expect(out.token.expires_at).toBe(Number(t.expires_at!.seconds) + t.expires_at!.nanos / 1e9);
    } finally {
      client.close();
    }
  });

  it('the reflected descriptors load (as grpcurl needs them) and GetToken works through them', () => {
    const out = output();
    expect(out.descriptors.error).toBeUndefined();
    expect(out.descriptors.ok).toBe(true);
    expect(out.token_via_descriptors).toEqual({
      app_id: APP,
      access_token: out.token.access_token,
      access_token_length: 136,
      expires_at: out.token.expires_at,
      generation: out.token.generation,
    });
  });

  it('the server logged no token', () => {
    const out = output();
    expect(server.output()).not.toContain(out.token.access_token);
    expect(server.output()).not.toContain(SECRET);
  });
});
