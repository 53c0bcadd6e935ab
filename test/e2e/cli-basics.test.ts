import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli, spawnCli, startServe, waitForOutput } from '../support/processes.js';
import { serveEnvAssignments, SERVE_NODE_FLAGS } from '../../src/cli/node-flags.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string })
  .version;

describe('wxtoken CLI basics (issue 11 §4-5)', () => {
  it('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(VERSION);
  });

  it('bin/wxtoken.js runs as a program: its first line starts node with the serve flags', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(`${ROOT}bin/wxtoken.js`, ['--version'], (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    );
    expect(out.trim()).toBe(VERSION);
  });

  it('serve with a platform names the Node flags and environment it was started without, and is quiet with them', async () => {
    const yaml = `
grpc: { listen: "127.0.0.1:0" }
gateway: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "http://127.0.0.1:1", timeoutMs: 500 }
components:
  - { componentAppId: wxclibasicscomp1, secretEnv: C_SECRET, messageTokenEnv: C_TOKEN, encodingAesKeyEnv: C_AES }
`;
    const env = { C_SECRET: 's', C_TOKEN: 't', C_AES: 'a'.repeat(43) };
    for (const plainNode of [true, false]) {
      const server = await startServe(yaml, env, { plainNode });
      try {
        const flags = SERVE_NODE_FLAGS.join(' ');
        const env = serveEnvAssignments();
        const note = new RegExp(
          `note: started without ${env} ${flags}: .*${env} node ${flags} bin/wxtoken\\.js serve`,
        );
        if (plainNode) expect(server.output()).toMatch(note);
        else expect(server.output()).not.toMatch(/started without/);
      } finally {
        await server.stop();
      }
    }
  });

  it('serve warns when callers are configured but gRPC is plaintext on a non-loopback address', async () => {
    const key = 'cli-basics-key-0b1c';
    const server = await startServe(
      `
grpc: { listen: "0.0.0.0:0" }
metrics: { listen: "" }
wechat: { baseUrl: "http://127.0.0.1:1", timeoutMs: 500 }
auth:
  callers:
    - { name: svc, keySha256: "${createHash('sha256').update(key).digest('hex')}", apps: ["*"], scopes: [token:read] }
apps:
  - { appId: wxclibasics00001, mode: classic, secret: s }
`,
    );
    try {
      expect(server.output()).toMatch(
        /warning: grpc\.listen 0\.0\.0\.0:0 is not loopback and tls is not configured: caller keys travel in plain text/,
      );
    } finally {
      await server.stop();
    }
  });

  it('on-call commands with nothing listening say what to do, with code names in --json', async () => {
    const addr = '127.0.0.1:1';
    const plain = await runCli(['status', '--addr', addr]);
    expect(plain.code).toBe(1);
    expect(plain.out).toMatch(
      /error: cannot reach wxtoken at 127\.0\.0\.1:1: nothing is listening there\. Start it \(wxtoken serve --config FILE\) or point --addr/,
    );
    expect(plain.out).not.toMatch(/Resolution note/);
    const json = await runCli(['get', 'wxany', '--addr', addr, '--json']);
    expect(JSON.parse(json.out)).toMatchObject({ error: { code: 'UNAVAILABLE' } });
  });

  it('with auth on, a missing key names --key and WXTOKEN_KEY', async () => {
    const server = await startServe(
      `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "http://127.0.0.1:1", timeoutMs: 500 }
auth:
  callers:
    - { name: svc, keySha256: "${createHash('sha256').update('k').digest('hex')}", apps: ["*"], scopes: [admin] }
apps:
  - { appId: wxclibasics00002, mode: classic, secret: s }
`,
    );
    try {
      const r = await runCli(['status', '--addr', server.addr], { WXTOKEN_KEY: '' });
      expect(r.code).toBe(1);
      expect(r.out).toMatch(
        /missing credentials.*pass the caller key with --key-file FILE \(or WXTOKEN_KEY_FILE\), --key KEY or the WXTOKEN_KEY/,
      );
    } finally {
      await server.stop();
    }
  });

  it('a logger without pretty output never loads pino-pretty (a dev-only dependency of log.pretty)', async () => {
    const probe = `
      const { createLogger } = await import(${JSON.stringify(`${ROOT}dist/shared/logger.js`)});
      createLogger({ level: 'info' });
      const { createRequire } = await import('node:module');
      const cache = createRequire(${JSON.stringify(ROOT)}).cache;
      console.log(Object.keys(cache).some((k) => k.includes('pino-pretty')));
      createLogger({ level: 'info', pretty: true });
      console.log(Object.keys(cache).some((k) => k.includes('pino-pretty')));
    `;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--input-type=module', '-e', probe], (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    );
    expect(out.trim().split('\n')).toEqual(['false', 'true']);
  });

  /**
   * A preload (NODE_OPTIONS=--import) that reports, as the process exits, how many CommonJS files
   * it loaded and how many of them are pino-pretty's (pino-pretty and its dependencies are
   * CommonJS, so they land in require.cache whether imported or required).
   */
  function moduleProbe(): NodeJS.ProcessEnv {
    const probe = join(mkdtempSync(join(tmpdir(), 'wxtoken-probe-')), 'probe.mjs');
    writeFileSync(
      probe,
      `import { createRequire } from 'node:module';
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => {
  const files = Object.keys(cache);
  const pretty = files.filter((f) => f.includes('/node_modules/pino-pretty/')).length;
  process.stderr.write('module probe: ' + pretty + ' pino-pretty files of ' + files.length + ' CommonJS files\\n');
});
`,
    );
    return { NODE_OPTIONS: `--import ${probe}` };
  }

  const probed = (out: string): { pretty: number; files: number } => {
    const m = /module probe: (\d+) pino-pretty files of (\d+) CommonJS files/.exec(out);
    if (!m) throw new Error(`no module probe line in:\n${out}`);
    return { pretty: Number(m[1]), files: Number(m[2]) };
  };

  it('a real `serve` never loads pino-pretty; `dev` (log.pretty) does, so the probe sees it', async () => {
    const env = moduleProbe();
    const server = await startServe(
      `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "http://127.0.0.1:1", timeoutMs: 500 }
apps:
  - { appId: wxclibasics00003, mode: classic, secret: s }
`,
      env,
    );
    expect(await server.stop(), server.output()).toBe(0);
    const dev = spawnCli(['dev', '--listen', '127.0.0.1:0', '--sim-listen', '127.0.0.1:0'], env);
    await waitForOutput(dev, /wxtoken dev is running/);
    expect(await dev.stop(), dev.output()).toBe(0);
    const [s, d] = [probed(server.output()), probed(dev.output())];
    console.log(
      `CommonJS files loaded: serve ${s.files} (pino-pretty ${s.pretty}), dev ${d.files} (pino-pretty ${d.pretty})`,
    );
    expect(s.pretty).toBe(0);
    expect(d.pretty).toBeGreaterThan(0);
  });

  it('invariant 7: a SIGTERM the moment serve says "wxtoken serving" still shuts down cleanly (10 of 10)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wxtoken-sigterm-'));
    const config = join(dir, 'wxtoken.yaml');
    writeFileSync(
      config,
      `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "http://127.0.0.1:1", timeoutMs: 500 }
apps:
  - { appId: wxclibasics00004, mode: classic, secretEnv: S }
`,
    );
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const p = spawnCli(['serve', '--config', config], { S: 's' });
      // Sent from the data event itself (no polling delay), as a rollout that changes its mind would.
      p.proc.stdout!.on('data', () => {
        if (/wxtoken serving/.test(p.output()) && p.proc.exitCode === null) p.proc.kill('SIGTERM');
      });
      const code = await new Promise<number | null>((resolve) => p.proc.once('close', resolve));
      outcomes.push(code === 0 && /"msg":"stopped"/.test(p.output()) ? 'clean' : `code ${code}`);
    }
    // Before the handlers were installed ahead of the start: 31 of 40 were killed outright.
    expect(outcomes).toEqual(Array(10).fill('clean'));
  });
});
