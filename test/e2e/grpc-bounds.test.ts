import { randomBytes } from 'node:crypto';
import { connect as http2Connect } from 'node:http2';
import { connect, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenClient } from '../../src/cli/grpc-client.js';
import type { Token__Output } from '../../src/grpc/generated/wxtoken/v1/Token.js';
import { type Spawned, startServe, startSimWithApp } from '../support/processes.js';
import { until } from '../support/until.js';
import { sha256 } from '../support/key-digest.js';

/**
 * Issue 11 §3: what one peer can hold open on the gRPC port is bounded (grpc.* config):
 * idle connections are closed, connections age out (WatchToken clients reconnect), streams per
 * connection and WatchToken streams per caller are capped, refusals logged like unary calls.
 */

const APP = 'wxe2ebounds00001';
const SECRET = 'bounds-e2e-secret-a1f0';
const KEY = {
  a: 'a-' + randomBytes(16).toString('hex'),
  b: 'b-' + randomBytes(16).toString('hex'),
};
/** The HTTP/2 client preface and an empty SETTINGS frame: a connection, then silence. */
const PREFACE = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);

let sim: Spawned & { url: string };
let server: Spawned & { addr: string };

beforeAll(async () => {
  sim = await startSimWithApp(APP, SECRET);
  server = await startServe(
    `
grpc:
  listen: "127.0.0.1:0"
  idleTimeoutMs: 600
  maxConnectionAgeMs: 1500
  maxConnectionAgeGraceMs: 300
  maxConcurrentStreams: 8
  maxWatchStreamsPerCaller: 3
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
auth:
  callers:
    - { name: watcher-a, keySha256: "${sha256(KEY.a)}", apps: ["*"], scopes: [token:read] }
    - { name: watcher-b, keySha256: "${sha256(KEY.b)}", apps: ["*"], scopes: [token:read] }
apps:
  - { appId: ${APP}, mode: classic, secretEnv: B_SECRET }
`,
    { B_SECRET: SECRET },
  );
});

afterAll(async () => {
  await server?.stop();
  await sim?.stop();
});

function openSockets(n: number, preface: boolean): Promise<Socket[]> {
  const [host, port] = server.addr.split(':') as [string, string];
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect(Number(port), host, () => {
            if (preface) s.write(PREFACE);
            resolve(s);
          });
          s.on('error', reject);
          s.resume(); // read (and drop) what the server sends, so its close is seen
        }),
    ),
  );
}

const closed = (sockets: Socket[]): number =>
  sockets.filter((s) => s.destroyed || s.readableEnded).length;

interface Watch {
  readonly tokens: Token__Output[];
  readonly ended: Promise<grpc.StatusObject | grpc.ServiceError>;
  cancel(): void;
}

function watch(key: string): Watch {
  const client = tokenClient(server.addr, key);
  const tokens: Token__Output[] = [];
  const call = client.WatchToken({ app_id: APP });
  call.on('data', (t: Token__Output) => tokens.push(t));
  const ended = new Promise<grpc.StatusObject | grpc.ServiceError>((resolve) => {
    call.on('error', (err: grpc.ServiceError) => resolve(err));
    call.on('status', (s: grpc.StatusObject) => resolve(s));
  });
  return {
    tokens,
    ended,
    cancel: () => {
      call.cancel();
      client.close();
    },
  };
}

describe('gRPC connection bounds (issue 11 §3)', () => {
  it('idle connections are closed after grpc.idleTimeoutMs, with or without an HTTP/2 preface', async () => {
    const quiet = await openSockets(50, true);
    const silent = await openSockets(50, false);
    try {
      await until('idle connections to be closed', () => closed(quiet) === 50, 10_000);
      await until('silent connections to be closed', () => closed(silent) === 50, 10_000);
    } finally {
      for (const s of [...quiet, ...silent]) s.destroy();
    }
    expect(closed(quiet) + closed(silent)).toBe(100);
  });

  it('advertises grpc.maxConcurrentStreams to every connection', async () => {
    const session = http2Connect(`http://${server.addr}`);
    try {
      const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve, reject) => {
        session.once('remoteSettings', resolve);
        session.once('error', reject);
      });
      expect(settings.maxConcurrentStreams).toBe(8);
    } finally {
      session.destroy();
    }
  });

  it('WatchToken streams per caller are capped: the 4th of one caller is RESOURCE_EXHAUSTED, another caller is not affected, a closed one frees a slot', async () => {
    const a = [watch(KEY.a), watch(KEY.a), watch(KEY.a)];
    try {
      await until('three streams to get the current token', () =>
        a.every((w) => w.tokens.length > 0),
      );
      const fourth = watch(KEY.a);
      const refused = (await fourth.ended) as grpc.ServiceError;
      expect(refused.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(refused.details).toMatch(
        /watcher-a already holds 3 WatchToken streams.*grpc\.maxWatchStreamsPerCaller/,
      );
      fourth.cancel();
      const b = watch(KEY.b);
      await until('another caller to get a stream', () => b.tokens.length > 0);
      b.cancel();
      a[0]!.cancel();
      await until('the freed slot to be usable', async () => {
        const again = watch(KEY.a);
        await until('an answer', () => again.tokens.length > 0 || refusedYet(again), 5_000);
        const ok = again.tokens.length > 0;
        again.cancel();
        return ok;
      });
      await until('the refusal in the log', () =>
        /"method":"WatchToken".*"code":"RESOURCE_EXHAUSTED".*"caller":"watcher-a"/.test(
          server.output(),
        ),
      );
    } finally {
      for (const w of a) w.cancel();
    }
  });

  it('connections age out after grpc.maxConnectionAgeMs: an open WatchToken stream ends, and the client reconnects', async () => {
    const w = watch(KEY.b);
    await until('the current token', () => w.tokens.length > 0);
    const status = await w.ended;
    expect([grpc.status.UNAVAILABLE, grpc.status.OK, grpc.status.CANCELLED]).toContain(status.code);
    w.cancel();
    const again = watch(KEY.b);
    await until('a new stream after the age-out', () => again.tokens.length > 0);
    again.cancel();
  });
});

const settledWatches = new WeakSet<Watch>();
function refusedYet(w: Watch): boolean {
  void w.ended.then(() => settledWatches.add(w));
  return settledWatches.has(w);
}
