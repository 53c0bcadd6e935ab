import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTicket, tokenClient } from '../../src/cli/grpc-client.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { startInProcess, type InProcess } from '../support/in-process.js';
import { spawnProcess, waitForOutput, type Spawned } from '../support/spawned.js';

/**
 * The examples of examples/ run as a user would run them against a server, here the server in
 * process and the simulator (`wxtoken dev` is the same pair): a customer-service message sent
 * through withToken, surviving a token WeChat killed at the cost of one fetch, and a wx.config
 * signature that checks against the central jsapi ticket (invariant 1: one live token, fetched
 * by wxtoken alone).
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const APP = 'wxexamples000001';
const SECRET = 'examples-app-secret-2b7c';
const PYTHON = '/usr/bin/python3';

let h: InProcess;
let grpcClient: TokenServiceClient;

beforeAll(async () => {
  h = await startInProcess(
    `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "SIM_URL", timeoutMs: 2000 }
refresh: { forceMinIntervalMs: 1 }
apps:
  - { appId: ${APP}, mode: classic, secretEnv: APP_SECRET, tickets: [jsapi] }
`,
    { APP_SECRET: SECRET },
    async (control) => {
      await control.configureApp({ appId: APP, secret: SECRET, expiresInSeconds: 7200 });
    },
  );
  grpcClient = tokenClient(h.addr);
  const build = spawnSync(PYTHON, ['clients/python/build.py'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) {
    throw new Error(
      `clients/python/build.py failed (apt-get install -y python3-grpc-tools python3-grpcio python3-protobuf):\n${build.stdout}${build.stderr}`,
    );
  }
});

afterAll(async () => {
  grpcClient?.close();
  await h?.stop();
});

const examples: [string, string, string[], NodeJS.ProcessEnv][] = [
  ['node-express', process.execPath, ['examples/node-express/server.mjs'], {}],
  [
    'python-http-server',
    PYTHON,
    ['examples/python-http-server/server.py'],
    { PYTHONPATH: `${ROOT}clients/python` },
  ],
];

describe.each(examples)('examples/%s against wxtoken', (_name, command, args, env) => {
  let example: Spawned;
  let origin: string;

  beforeAll(async () => {
    example = spawnProcess(command, args, {
      cwd: ROOT,
      env: {
        ...env,
        WXTOKEN_ADDRESS: h.addr,
        WECHAT_API: h.simUrl,
        APP_ID: APP,
        PORT: '0',
      },
    });
    const m = await waitForOutput(example, /example listening on (http:\/\/\S+)/, 20_000);
    origin = m[1]!;
  });

  afterAll(async () => {
    await example?.stop();
  });

  const send = async (text: string): Promise<Record<string, unknown>> => {
    const res = await fetch(`${origin}/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ openid: 'o-example-user', text }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  };

  it('sends a customer-service message with the central token', async () => {
    const before = await h.control.counters(APP);
    expect(await send('hello')).toMatchObject({ errcode: 0 });
    const after = await h.control.counters(APP);
    expect(after.tokenCalls - before.tokenCalls).toBe(0); // the token was wxtoken's, no fetch
  });

  it('a token WeChat killed costs one fetch, and the message still goes out (withToken)', async () => {
    await new Promise((r) => setTimeout(r, 20)); // past refresh.forceMinIntervalMs
    await h.control.rotate(APP, true);
    const before = await h.control.counters(APP);
    expect(await send('after the kill')).toMatchObject({ errcode: 0 });
    const after = await h.control.counters(APP);
    expect(after.tokenCalls - before.tokenCalls).toBe(1);
  });

  it('signs wx.config with the central jsapi ticket', async () => {
    const page = 'https://shop.example.com/pay?id=7#top';
    const res = await fetch(`${origin}/jsconfig?url=${encodeURIComponent(page)}`);
    expect(res.status).toBe(200);
    const s = (await res.json()) as {
      appId: string;
      timestamp: number;
      nonceStr: string;
      signature: string;
    };
    expect(s.appId).toBe(APP);
    const ticket = (await getTicket(grpcClient, APP, 'TICKET_TYPE_JSAPI')).ticket;
    const plain = `jsapi_ticket=${ticket}&noncestr=${s.nonceStr}&timestamp=${s.timestamp}&url=https://shop.example.com/pay?id=7`;
    expect(s.signature).toBe(createHash('sha1').update(plain).digest('hex'));
  });
});
