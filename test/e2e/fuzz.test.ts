import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { service as healthService } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getToken, tokenClient } from '../../src/cli/grpc-client.js';
import type { LoginServiceClient } from '../../src/grpc/generated/wxtoken/v1/LoginService.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { loadProto } from '../../src/grpc/proto.js';
import { type Spawned, startServe, startSimWithApp } from '../support/processes.js';

/**
 * Hostile input at every RPC (issue 6, invariant 9), with fast-check: random, unicode,
 * control-character and oversized strings through the real client, and random bytes as raw
 * (often malformed) protobuf through a generic client. Every answer must be OK or a proper
 * status (never INTERNAL/UNKNOWN, never a hang past the deadline), and the process keeps serving.
 * The library services (grpc.health.v1, server reflection v1 and v1alpha) get raw bytes too.
 */

const APP = 'wxe2efuzz0000001';
const SECRET = 'fuzz-e2e-secret-3e7c';
/** Per-call deadline; an answer later than this (plus slack) is a hang. */
const DEADLINE_MS = 3_000;
/** 300 by default (bounded for CI); FUZZ_RUNS=N for a longer hunt. */
const NUM_RUNS = Number(process.env.FUZZ_RUNS ?? 300);

let sim: Spawned & { url: string };
let server: Spawned & { addr: string };
let tokens: TokenServiceClient;
let logins: LoginServiceClient;
let raw: Record<string, (...args: unknown[]) => unknown> & grpc.Client;
let rawStandard: Record<StandardMethod, (...args: unknown[]) => unknown> & grpc.Client;
/** A live session, so session methods get past the lookup and reach the crypto. */
let handle = '';

const counts = new Map<string, number>();
const count = (label: string): void => void counts.set(label, (counts.get(label) ?? 0) + 1);

const TOKEN_METHODS = ['GetToken', 'ForceRefresh', 'WatchToken', 'ListApps'] as const;
const LOGIN_METHODS = [
  'Code2Session',
  'GetSession',
  'DecryptUserData',
  'CheckSession',
  'ResetSessionKey',
] as const;
type Method = (typeof TOKEN_METHODS)[number] | (typeof LOGIN_METHODS)[number];
const FIELDS: Record<Method, readonly string[]> = {
  GetToken: ['app_id'],
  ForceRefresh: ['app_id', 'stale_token', 'reason'],
  WatchToken: ['app_id'],
  ListApps: [],
  Code2Session: ['app_id', 'js_code'],
  GetSession: ['session_handle'],
  DecryptUserData: ['session_handle', 'encrypted_data', 'iv'],
  CheckSession: ['session_handle'],
  ResetSessionKey: ['session_handle'],
};
/** The services the server hosts through libraries, with their call types. */
const STANDARD = {
  HealthCheck: { path: '/grpc.health.v1.Health/Check', kind: 'unary' },
  HealthList: { path: '/grpc.health.v1.Health/List', kind: 'unary' },
  HealthWatch: { path: '/grpc.health.v1.Health/Watch', kind: 'server' },
  ReflectionV1: {
    path: '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
    kind: 'bidi',
  },
  ReflectionV1alpha: {
    path: '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
    kind: 'bidi',
  },
} as const;
type StandardMethod = keyof typeof STANDARD;
const STANDARD_METHODS = Object.keys(STANDARD) as StandardMethod[];
/** Raw calls at the library services; a third of the main property's by default. */
const STANDARD_RUNS = Math.ceil(NUM_RUNS / 3);
const pathOf = (m: Method): string =>
  `/wxtoken.v1.${(TOKEN_METHODS as readonly string[]).includes(m) ? 'TokenService' : 'LoginService'}/${m}`;

/** What an answer may be. INTERNAL / UNKNOWN mean a bug; DEADLINE_EXCEEDED means a hang. */
const FORBIDDEN = new Set([
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
  grpc.status.DEADLINE_EXCEEDED,
]);

interface Outcome {
  readonly code: grpc.status;
  readonly details: string;
  readonly ms: number;
}

const identity = (b: Buffer): Buffer => b;

beforeAll(async () => {
  sim = await startSimWithApp(APP, SECRET);
  server = await startServe(
    `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
apps:
  - { appId: ${APP}, mode: classic, secretEnv: FUZZ_SECRET, exposeSessionKey: true }
`,
    { FUZZ_SECRET: SECRET },
  );
  const proto = loadProto();
  const insecure = grpc.credentials.createInsecure();
  tokens = new proto.wxtoken.v1.TokenService(server.addr, insecure);
  logins = new proto.wxtoken.v1.LoginService(server.addr, insecure);
  const Raw = grpc.makeGenericClientConstructor(
    Object.fromEntries(
      [...TOKEN_METHODS, ...LOGIN_METHODS].map((m) => [
        m,
        {
          path: pathOf(m),
          requestStream: false,
          responseStream: m === 'WatchToken',
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      ]),
    ),
    'RawFuzz',
  );
  raw = new Raw(server.addr, insecure) as unknown as typeof raw;
  const RawStandard = grpc.makeGenericClientConstructor(
    Object.fromEntries(
      STANDARD_METHODS.map((m) => [
        m,
        {
          path: STANDARD[m].path,
          requestStream: STANDARD[m].kind === 'bidi',
          responseStream: STANDARD[m].kind !== 'unary',
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      ]),
    ),
    'RawStandardFuzz',
  );
  rawStandard = new RawStandard(server.addr, insecure) as unknown as typeof rawStandard;
  await getToken(tokens, APP);
  const { code } = (await fetch(`${sim.url}/__sim/apps/${APP}/codes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  }).then((r) => r.json())) as { code: string };
  handle = await new Promise<string>((resolve, reject) =>
    logins.Code2Session({ app_id: APP, js_code: code }, (err, res) =>
      err ? reject(err) : resolve(res!.session_handle),
    ),
  );
});

afterAll(async () => {
  tokens?.close();
  logins?.close();
  raw?.close();
  rawStandard?.close();
  await server?.stop();
  await sim?.stop();
});

/** Sends one call (typed or raw) and settles with its status, however it ends. */
function send(method: Method, request: Record<string, string> | Buffer): Promise<Outcome> {
  const started = Date.now();
  const options: grpc.CallOptions = { deadline: started + DEADLINE_MS };
  const isRaw = Buffer.isBuffer(request);
  const client = isRaw ? raw : method in tokens ? tokens : logins;
  const fn = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!;
  return new Promise((resolve) => {
    const done = (code: grpc.status, details: string): void =>
      resolve({ code, details, ms: Date.now() - started });
    if (method === 'WatchToken') {
      // A stream: its first message (the current token) is the answer; then hang up.
      const stream = fn.call(
        client,
        request,
        new grpc.Metadata(),
        options,
      ) as grpc.ClientReadableStream<unknown>;
      let answered = false;
      stream.on('data', () => {
        if (answered) return;
        answered = true;
        done(grpc.status.OK, '');
        stream.cancel();
      });
      stream.on('error', (err: grpc.ServiceError) => {
        if (!answered) done(err.code, err.details);
        answered = true;
      });
      stream.on('status', (s: grpc.StatusObject) => {
        if (!answered) done(s.code, s.details);
        answered = true;
      });
      return;
    }
    fn.call(client, request, new grpc.Metadata(), options, (err: grpc.ServiceError | null) =>
      err ? done(err.code, err.details) : done(grpc.status.OK, ''),
    );
  });
}

interface StandardOutcome extends Outcome {
  /** Response messages received before the status. */
  readonly replies: number;
}

/**
 * One raw call at a library service. Unary and server streaming send `messages[0]` (a watch
 * answers with its first message, then is cancelled); bidi sends every message, half-closes,
 * and settles with the final status.
 */
function sendStandard(
  method: StandardMethod,
  messages: readonly Buffer[],
): Promise<StandardOutcome> {
  const started = Date.now();
  const options: grpc.CallOptions = { deadline: started + DEADLINE_MS };
  const { kind } = STANDARD[method];
  const fn = rawStandard[method];
  return new Promise((resolve) => {
    let replies = 0;
    let settled = false;
    const done = (code: grpc.status, details: string): void => {
      if (settled) return;
      settled = true;
      resolve({ code, details, replies, ms: Date.now() - started });
    };
    if (kind === 'unary') {
      fn.call(
        rawStandard,
        messages[0],
        new grpc.Metadata(),
        options,
        (err: grpc.ServiceError | null) =>
          err ? done(err.code, err.details) : done(grpc.status.OK, ''),
      );
      return;
    }
    const stream = (
      kind === 'server'
        ? fn.call(rawStandard, messages[0], new grpc.Metadata(), options)
        : fn.call(rawStandard, new grpc.Metadata(), options)
    ) as grpc.ClientDuplexStream<Buffer, Buffer>;
    stream.on('data', () => {
      replies++;
      if (kind !== 'server') return;
      done(grpc.status.OK, '');
      stream.cancel();
    });
    stream.on('error', (err: grpc.ServiceError) => done(err.code, err.details));
    stream.on('status', (s: grpc.StatusObject) => done(s.code, s.details));
    if (kind === 'bidi') {
      for (const m of messages) stream.write(m);
      stream.end();
    }
  });
}

// ---- arbitraries -------------------------------------------------------------------------

const char = (min: number, max: number) =>
  fc.integer({ min, max }).map((c) => String.fromCharCode(c));

/** Strings a hostile or broken client might send in any string field. */
const hostileString = (): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 80 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
    { weight: 2, arbitrary: fc.string({ unit: char(0, 31), maxLength: 40 }) }, // control chars
    { weight: 1, arbitrary: fc.string({ unit: char(0xd800, 0xdfff), maxLength: 8 }) }, // lone surrogates
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        '',
        ' ',
        '\0',
        APP,
        `${APP}\0`,
        ` ${APP}`,
        APP.toUpperCase(),
        'A'.repeat(32),
        'A'.repeat(65),
        '../../etc/passwd',
        '*',
        '%00',
        '\u202e',
        '🙂'.repeat(40),
        'AAAAAAAAAAAAAAAAAAAAAA==',
        '====',
      ),
    },
    // Oversized: past every field cap, some past the server's message limit.
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom('a', 'é', '🙂', '\0', 'A'), fc.integer({ min: 200, max: 120_000 }))
        .map(([c, n]) => c.repeat(n)),
    },
  );

/** A field value: sometimes a valid one (to reach deeper code), mostly hostile. */
const fieldValue = (field: string): fc.Arbitrary<string> => {
  const valid =
    field === 'app_id'
      ? [APP]
      : field === 'session_handle'
        ? [handle]
        : ['AAAAAAAAAAAAAAAAAAAAAA=='];
  return fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(...valid) },
    { weight: 3, arbitrary: hostileString() },
  );
};

const typedCase = fc.constantFrom<Method>(...TOKEN_METHODS, ...LOGIN_METHODS).chain((method) =>
  fc.record(Object.fromEntries(FIELDS[method].map((f) => [f, fieldValue(f)]))).map((req) => ({
    kind: 'typed' as const,
    method,
    request: req as Record<string, string>,
  })),
);

/** Raw messages: random bytes, and bytes shaped like protobuf with lying lengths and wire types. */
const varint = (n: number): number[] => {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
};
const rawBytes = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 256 }) },
  {
    weight: 3,
    // field 1..5, any wire type, a length that may lie, then some payload
    arbitrary: fc
      .tuple(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 7 }),
        fc.oneof(
          fc.integer({ min: 0, max: 64 }),
          fc.constantFrom(2 ** 31 - 1, 2 ** 32 + 5, 2 ** 53 - 1),
        ),
        fc.uint8Array({ maxLength: 64 }),
      )
      .map(([field, wire, len, payload]) =>
        Uint8Array.from([...varint((field << 3) | wire), ...varint(len), ...payload]),
      ),
  },
  {
    weight: 1,
    // a 10+ byte varint (overlong) as the tag
    arbitrary: fc
      .integer({ min: 10, max: 20 })
      .map((n) => Uint8Array.from([...Array(n).fill(0xff), 0x01])),
  },
  {
    weight: 1,
    // oversized: past the server's 64 KiB message limit
    arbitrary: fc
      .integer({ min: 65 * 1024, max: 200 * 1024 })
      .map((n) => new Uint8Array(n).fill(0x0a)),
  },
);
const rawCase = fc
  .tuple(fc.constantFrom<Method>(...TOKEN_METHODS, ...LOGIN_METHODS), rawBytes)
  .map(([method, bytes]) => ({ kind: 'raw' as const, method, request: Buffer.from(bytes) }));

/** Well-formed messages, so a bidi call also gets malformed bytes after a valid request. */
const LIST_SERVICES = Buffer.from([0x3a, 0x01, 0x2a]); // ServerReflectionRequest{list_services: "*"}
const standardMessage = fc.oneof(
  { weight: 4, arbitrary: rawBytes.map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.constantFrom(Buffer.alloc(0), LIST_SERVICES) },
);
const standardCase = fc.tuple(
  fc.constantFrom(...STANDARD_METHODS),
  fc.array(standardMessage, { minLength: 1, maxLength: 3 }),
);

/**
 * Field 15 with wire type 7, which does not exist: no protobuf parser accepts it. (A string
 * field whose length overruns the message is not enough: protobufjs reads what is there.)
 */
const MALFORMED = Buffer.from([0x7f]);

/** A valid grpc.health.v1 Check through a real client, after all the abuse. */
function healthCheck(): Promise<string> {
  const Health = grpc.makeGenericClientConstructor(
    healthService as unknown as grpc.ServiceDefinition,
    'Health',
  );
  const client = new Health(
    server.addr,
    grpc.credentials.createInsecure(),
  ) as unknown as grpc.Client & {
    Check(
      req: { service: string },
      options: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: { status: string }) => void,
    ): void;
  };
  return new Promise<string>((resolve, reject) =>
    client.Check({ service: '' }, { deadline: Date.now() + DEADLINE_MS }, (err, res) => {
      if (err) reject(err);
      else resolve(res!.status);
    }),
  ).finally(() => client.close());
}

// ---- the property --------------------------------------------------------------------------

describe('fuzz: hostile input at every RPC (fast-check)', () => {
  it(
    `${NUM_RUNS} random calls: every answer is OK or a proper status, in time; the process keeps serving`,
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof({ weight: 2, arbitrary: typedCase }, { weight: 1, arbitrary: rawCase }),
          async (c) => {
            const out = await send(c.method, c.request);
            count(`${c.kind} ${grpc.status[out.code]}`);
            if (FORBIDDEN.has(out.code) || out.ms > DEADLINE_MS + 1_000) {
              throw new Error(
                `${c.kind} ${c.method}: ${grpc.status[out.code]} "${out.details}" after ${out.ms} ms`,
              );
            }
          },
        ),
        {
          numRuns: NUM_RUNS,
          interruptAfterTimeLimit: NUM_RUNS > 300 ? 500_000 : 40_000,
          markInterruptAsFailure: true,
        },
      );

      // Still the same process, still serving.
      expect(server.proc.exitCode).toBeNull();
      expect(server.proc.signalCode).toBeNull();
      const fresh = tokenClient(server.addr);
      expect((await getToken(fresh, APP)).access_token).not.toBe('');
      fresh.close();

      const log = server.output();
      expect(log).not.toMatch(/rpc failed unexpectedly|uncaught|unhandled|"level":60/i);
      expect(log.match(/"msg":"wxtoken serving"/g)).toHaveLength(1);

      const summary = [...counts.entries()].sort(([a], [b]) => a.localeCompare(b));
      console.log(
        `fuzz: ${NUM_RUNS} runs by status: ${summary.map(([k, n]) => `${k}=${n}`).join(', ')}`,
      );
    },
    Math.max(60_000, NUM_RUNS * 200),
  );
});

describe('fuzz: raw bytes at the library services (health, reflection)', () => {
  it.each(STANDARD_METHODS)(
    '%s answers malformed protobuf with INVALID_ARGUMENT naming the method (invariant 9)',
    async (method) => {
      const out = await sendStandard(method, [MALFORMED]);
      expect(grpc.status[out.code]).toBe('INVALID_ARGUMENT');
      expect(out.details).toBe(
        `request: is not a valid protobuf message for ${STANDARD[method].path}`,
      );
    },
  );

  it.each(['ReflectionV1', 'ReflectionV1alpha'] as const)(
    '%s answers a valid request, then ends the stream with INVALID_ARGUMENT on a malformed one',
    async (method) => {
      const out = await sendStandard(method, [LIST_SERVICES, MALFORMED, LIST_SERVICES]);
      expect(out.replies).toBe(1);
      expect(grpc.status[out.code]).toBe('INVALID_ARGUMENT');
    },
  );

  it(
    `${STANDARD_RUNS} random raw calls: every answer is OK or a proper status; health still answers`,
    async () => {
      await fc.assert(
        fc.asyncProperty(standardCase, async ([method, messages]) => {
          const out = await sendStandard(method, messages);
          count(`standard ${grpc.status[out.code]}`);
          if (FORBIDDEN.has(out.code) || out.ms > DEADLINE_MS + 1_000) {
            throw new Error(
              `${method}: ${grpc.status[out.code]} "${out.details}" after ${out.ms} ms`,
            );
          }
        }),
        {
          numRuns: STANDARD_RUNS,
          interruptAfterTimeLimit: NUM_RUNS > 300 ? 200_000 : 20_000,
          markInterruptAsFailure: true,
        },
      );

      expect(server.proc.exitCode).toBeNull();
      expect(server.proc.signalCode).toBeNull();
      expect(await healthCheck()).toBe('SERVING');
      const fresh = tokenClient(server.addr);
      expect((await getToken(fresh, APP)).access_token).not.toBe('');
      fresh.close();
      expect(server.output()).not.toMatch(/uncaught|unhandled|"level":60/i);

      const summary = [...counts.entries()].filter(([k]) => k.startsWith('standard '));
      console.log(
        `fuzz: ${STANDARD_RUNS} library-service runs: ${summary.map(([k, n]) => `${k}=${n}`).join(', ')}`,
      );
    },
    Math.max(30_000, STANDARD_RUNS * 200),
  );
});
