import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getToken, tokenClient } from '../../src/cli/grpc-client.js';
import { spawnCli, startServe, startSim, waitForOutput } from '../support/processes.js';
import { SimControl } from '../support/sim-control.js';

function configFile(yaml: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'wxtoken-cfg-')), 'wxtoken.yaml');
  writeFileSync(path, yaml);
  return path;
}

async function exitOf(args: string[], env: NodeJS.ProcessEnv = {}) {
  const p = spawnCli(args, env);
  const code = await new Promise<number | null>((r) => p.proc.once('exit', r));
  return { code, output: p.output() };
}

describe('the wxtoken process', () => {
  it.each([
    ['an unknown mode', 'apps: [{ appId: wxa, mode: fast, secret: s }]', /apps\[0\]\.mode/],
    [
      'a typo in a key',
      'grpc: { lisen: "127.0.0.1:0" }\napps: [{ appId: wxa, mode: classic, secret: s }]',
      /grpc\.lisen/,
    ],
    [
      'a missing secret variable',
      'apps: [{ appId: wxa, mode: classic, secretEnv: WXT_NOT_SET_ANYWHERE }]',
      /apps\[0\]\.secretEnv.*WXT_NOT_SET_ANYWHERE/,
    ],
    [
      'lease renew not below ttl/2',
      'lease: { ttlMs: 1000, renewIntervalMs: 600 }\napps: [{ appId: wxa, mode: classic, secret: s }]',
      /lease\.renewIntervalMs/,
    ],
    ['no apps', 'grpc: { listen: "127.0.0.1:0" }', /apps/],
  ])('refuses a config with %s: exit 2 and a message naming the key', async (_name, yaml, key) => {
    const { code, output } = await exitOf(['serve', '--config', configFile(yaml)]);
    expect(code).toBe(2);
    expect(output).toMatch(key);
  });

  it('refuses to start without a config file, saying how to pass one', async () => {
    const { code, output } = await exitOf(['serve'], { WXTOKEN_CONFIG: '' });
    expect(code).toBe(2);
    expect(output).toMatch(/--config FILE or set WXTOKEN_CONFIG/);
  });

  it('WXTOKEN_CONFIG works like --config', async () => {
    const sim = await startSim(['--app', 'wxenvcfg00000001:s3cr3t-value']);
    const path = configFile(`
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}" }
apps: [{ appId: wxenvcfg00000001, mode: classic, secretEnv: ENV_SECRET }]
`);
    const p = spawnCli(['serve'], { WXTOKEN_CONFIG: path, ENV_SECRET: 's3cr3t-value' });
    const m = await waitForOutput(p, /"grpc":(\d+).*"msg":"wxtoken serving"/);
    const client = tokenClient(`127.0.0.1:${m[1]}`);
    expect((await getToken(client, 'wxenvcfg00000001')).access_token).toMatch(/^\d\d_/);
    client.close();
    expect(await p.stop('SIGTERM')).toBe(0);
    await sim.stop();
  });

  it('SIGTERM: stops taking calls, finishes, exits 0; the secret and served tokens never reach the log', async () => {
    const secret = 'lifecycle-secret-3f9a0c';
    const sim = await startSim();
    const control = new SimControl(sim.url);
    await control.configureApp({ appId: 'wxlifecycle00001', secret, expiresInSeconds: 7200 });
    const server = await startServe(
      `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}" }
log: { level: debug }
apps: [{ appId: wxlifecycle00001, mode: classic, secretEnv: LC_SECRET }]
`,
      { LC_SECRET: secret },
    );
    const client = tokenClient(server.addr);
    const token = (await getToken(client, 'wxlifecycle00001')).access_token;
    client.close();
    expect(await server.stop('SIGTERM')).toBe(0);
    const out = server.output();
    expect(out).toContain('"msg":"stopped"');
    expect(out).not.toContain(secret);
    expect(out).not.toContain(token); // even at debug level
    await sim.stop();
  });

  it('a WeChat that rejects the secret shows as a configuration error, and GetToken says why', async () => {
    const sim = await startSim(['--app', 'wxbadsecret00001:the-right-secret']);
    const server = await startServe(
      `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}" }
apps: [{ appId: wxbadsecret00001, mode: classic, secretEnv: WRONG }]
`,
      { WRONG: 'the-wrong-secret' },
    );
    const client = tokenClient(server.addr);
    const err = await getToken(client, 'wxbadsecret00001').catch(
      (e: { code: number; details: string; metadata: { get(k: string): unknown[] } }) => e,
    );
    expect(err).toMatchObject({ code: 14 }); // UNAVAILABLE: no live token (invariant 3)
    const e = err as { details: string; metadata: { get(k: string): unknown[] } };
    expect(e.details).toMatch(/40125/);
    expect(e.metadata.get('wechat-errcode')).toEqual(['40125']);
    expect(e.metadata.get('wechat-error-kind')).toEqual(['config']);
    client.close();
    const out = server.output();
    expect(out).not.toContain('the-wrong-secret');
    expect(await server.stop()).toBe(0);
    await sim.stop();
  });

  it('`wxtoken dev` (the README command) serves the demo app at once', async () => {
    const p = spawnCli(['dev', '--listen', '127.0.0.1:0', '--sim-listen', '127.0.0.1:0'], {
      WXTOKEN_LOG_LEVEL: 'warn',
    });
    const m = await waitForOutput(p, /gRPC\s+(127\.0\.0\.1:\d+)/);
    const client = tokenClient(m[1]!);
    expect((await getToken(client, 'wxdemo0000000001')).access_token).toMatch(/^\d\d_/);
    expect((await getToken(client, 'wxdemo0000000002')).access_token).toMatch(/^\d\d_/);
    client.close();
    expect(p.output()).toMatch(/wxtoken get wxdemo0000000001/);
    expect(await p.stop('SIGINT')).toBe(0);
  });
});
