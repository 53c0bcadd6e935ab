import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ANONYMOUS, Authorizer } from '../../src/auth/authorizer.js';
import { createCallGuard } from '../../src/auth/call-guard.js';
import { CallerRateLimiter } from '../../src/auth/caller-rate-limiter.js';
import { tolerantDeserializers, unary } from '../../src/grpc/call-boundary.js';
import { toProtoTicket, toProtoToken } from '../../src/grpc/convert.js';
import { loadProto } from '../../src/grpc/proto.js';
import { TICKET_ENCODER, TOKEN_ENCODER } from '../../src/grpc/reply-encoding.js';
import { CallMetricsBuffer } from '../../src/metrics/call-metrics-buffer.js';
import { WxtokenMetrics } from '../../src/metrics/wxtoken-metrics.js';
import { AppNotFoundError } from '../../src/shared/errors.js';
import { FakeClock } from '../support/fake-clock.js';

const metrics = (): WxtokenMetrics =>
  new WxtokenMetrics({
    tickets: () => [],
    apps: () => [],
    isLeader: () => false,
    storeUp: () => true,
    ready: () => true,
  });

/** The exposition lines of one metric family, without HELP/TYPE. */
async function lines(m: WxtokenMetrics, prefix: string): Promise<string[]> {
  return (await m.registry.metrics()).split('\n').filter((l) => l.startsWith(prefix));
}

describe('gRPC call metrics (buffered on the hot path, complete at every scrape)', () => {
  it.each([
    ['a few calls', 3],
    ['exactly one buffer', 512],
    ['more than a buffer (flushed on the way)', 1300],
  ])('%s: %d GetToken calls are all counted and observed', async (_, calls) => {
    const m = metrics();
    for (let i = 0; i < calls; i++) m.onCallEnd('GetToken', 'OK', 0.2);
    expect(await lines(m, 'wxtoken_grpc_requests_total')).toEqual([
      `wxtoken_grpc_requests_total{method="GetToken",code="OK"} ${calls}`,
    ]);
    const histogram = await lines(m, 'wxtoken_grpc_request_duration_seconds');
    expect(histogram).toContain(
      `wxtoken_grpc_request_duration_seconds_bucket{le="0.00025",method="GetToken"} ${calls}`,
    );
    expect(histogram).toContain(
      `wxtoken_grpc_request_duration_seconds_bucket{le="0.0001",method="GetToken"} 0`,
    );
    expect(histogram).toContain(
      `wxtoken_grpc_request_duration_seconds_count{method="GetToken"} ${calls}`,
    );
    const sum = histogram.find((l) => l.includes('_sum{'))!;
    expect(Number(sum.split(' ')[1])).toBeCloseTo(calls * 0.0002, 9);
  });

  it('interleaved methods and codes keep their own series; a second scrape adds only new calls', async () => {
    const m = metrics();
    const calls: [string, string][] = [
      ['GetToken', 'OK'],
      ['GetToken', 'NOT_FOUND'],
      ['GetToken', 'OK'],
      ['ForceRefresh', 'OK'],
      ['GetToken', 'OK'],
    ];
    for (const [method, code] of calls) m.onCallEnd(method, code, 1);
    expect(await lines(m, 'wxtoken_grpc_requests_total')).toEqual([
      'wxtoken_grpc_requests_total{method="GetToken",code="OK"} 3',
      'wxtoken_grpc_requests_total{method="GetToken",code="NOT_FOUND"} 1',
      'wxtoken_grpc_requests_total{method="ForceRefresh",code="OK"} 1',
    ]);
    m.onCallEnd('ForceRefresh', 'OK', 1);
    expect(await lines(m, 'wxtoken_grpc_requests_total{method="ForceRefresh"')).toEqual([
      'wxtoken_grpc_requests_total{method="ForceRefresh",code="OK"} 2',
    ]);
  });

  it('CallMetricsBuffer hands runs of one method and code to the sink as one count', () => {
    const counted: string[] = [];
    const observed: number[] = [];
    const buffer = new CallMetricsBuffer(
      {
        count: (method, code, n) => counted.push(`${method}/${code}×${n}`),
        observe: (_method, seconds) => observed.push(seconds),
      },
      4,
    );
    for (const code of ['OK', 'OK', 'OK', 'INTERNAL', 'OK']) buffer.add('GetToken', code, 1);
    expect(counted).toEqual(['GetToken/OK×3', 'GetToken/INTERNAL×1']); // full at 4: flushed
    buffer.flush();
    buffer.flush(); // nothing left: no double counting
    expect(counted).toEqual(['GetToken/OK×3', 'GetToken/INTERNAL×1', 'GetToken/OK×1']);
    expect(observed).toHaveLength(5);
  });
});

describe('unary boundary: synchronous and asynchronous handlers end the same way', () => {
  type Reply = { ok: boolean };
  const call = { request: { app_id: 'wxunit0000000001' } } as unknown as grpc.ServerUnaryCall<
    { app_id: string },
    Reply
  >;
  const run = async (
    handler: () => Reply | Promise<Reply>,
  ): Promise<{ err: Partial<grpc.StatusObject> | null; reply?: Reply; ended: string[] }> => {
    const ended: string[] = [];
    const wrapped = unary(
      'GetToken',
      {
        log: pino({ level: 'silent' }),
        observer: { onCallEnd: (method, code) => ended.push(`${method} ${grpc.status[code]}`) },
        quietMethods: new Set(['GetToken']),
      },
      handler,
    );
    return new Promise((resolve) =>
      wrapped(call, (err, reply) =>
        resolve({
          err: err as Partial<grpc.StatusObject> | null,
          reply: reply ?? undefined,
          ended,
        }),
      ),
    );
  };

  it.each([
    ['a synchronous reply', () => ({ ok: true })],
    ['a promised reply', () => Promise.resolve({ ok: true })],
  ])('%s → OK, observed once', async (_, handler) => {
    expect(await run(handler)).toEqual({ err: null, reply: { ok: true }, ended: ['GetToken OK'] });
  });

  it.each([
    [
      'a synchronous throw',
      (): Reply => {
        throw new AppNotFoundError('wxunit0000000001');
      },
    ],
    ['a rejection', () => Promise.reject(new AppNotFoundError('wxunit0000000001'))],
  ])('%s → its status (NOT_FOUND), observed once', async (_, handler) => {
    const { err, ended } = await run(handler);
    expect(err?.code).toBe(grpc.status.NOT_FOUND);
    expect(ended).toEqual(['GetToken NOT_FOUND']);
  });

  it('a synchronous reply is sent before unary() returns (no microtask on the hot path)', () => {
    let sent = false;
    unary('GetToken', { log: pino({ level: 'silent' }) }, () => ({ ok: true }))(call, () => {
      sent = true;
    });
    expect(sent).toBe(true);
  });
});

describe('call guard: the TLS peer is read only when the authorizer would use it', () => {
  const KEY = 'hot-path-unit-key';
  const sha = createHash('sha256').update(KEY).digest('hex');
  const guardFor = (auth: Authorizer) =>
    createCallGuard(auth, new CallerRateLimiter(new FakeClock(), {}));
  const guarded = (authorization?: string) => {
    const metadata = new grpc.Metadata();
    if (authorization) metadata.set('authorization', authorization);
    let reads = 0;
    const call = {
      metadata,
      getAuthContext: () => {
        reads++;
        return { sslPeerCertificate: { subject: { CN: 'svc-cert' } } };
      },
    };
    return { call, reads: () => reads };
  };
  const callers = new Authorizer([
    { name: 'keyed', keySha256: sha, apps: ['*'], scopes: ['token:read'] },
    { name: 'certified', certCommonName: 'svc-cert', apps: ['*'], scopes: ['token:read'] },
  ]);

  it.each([
    ['auth off', new Authorizer([]), undefined, 'anonymous', 0],
    ['a bearer key', callers, `Bearer ${KEY}`, 'keyed', 0],
    ['no bearer key: the certificate decides', callers, undefined, 'certified', 1],
    ['another scheme: the certificate decides', callers, 'Basic abc', 'certified', 1],
  ])('%s → %s, peer read %d times', (_, auth, authorization, name, reads) => {
    const { call, reads: readCount } = guarded(authorization);
    expect(guardFor(auth)('GetToken', call, { app_id: 'wxunit0000000001' }).name).toBe(name);
    expect(readCount()).toBe(reads);
  });

  it('auth off is the ANONYMOUS caller', () => {
    const { call } = guarded();
    expect(guardFor(new Authorizer([]))('GetToken', call, {})).toBe(ANONYMOUS);
  });
});

describe('replies: GetToken, WatchToken and GetTicket are written by direct encoders', () => {
  const service = loadProto().wxtoken.v1.TokenService.service;
  const fast = tolerantDeserializers(service, {
    GetToken: TOKEN_ENCODER,
    WatchToken: TOKEN_ENCODER,
    GetTicket: TICKET_ENCODER,
  });
  // A seeded generator: a failure names a record that can be made again.
  let seed = 15;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const text = (max: number): string =>
    Array.from({ length: Math.floor(random() * max) }, () =>
      random() < 0.9
        ? String.fromCharCode(33 + Math.floor(random() * 94))
        : ['é', '中', '😀', '\u0000'][Math.floor(random() * 4)]!,
    ).join('');
  const ms = (): number =>
    [0, 1_000, 2_000_000_000_000, Math.floor(random() * 4e12), Math.floor(random() * 4e12) + 0.5][
      Math.floor(random() * 5)
    ]!;
  const records = Array.from({ length: 400 }, () => ({
    appId: text(40),
    value: text(600),
    expiresAt: ms(),
    fetchedAt: ms(),
    generation: [0, 1, 2 ** 31, 2 ** 53 - 1, Math.floor(random() * 1e9)][Math.floor(random() * 5)]!,
  }));

  it.each(['GetToken', 'WatchToken'] as const)(
    '%s: 400 random tokens decode to exactly what the generic serializer writes',
    (method) => {
      const generic = service[method];
      for (const record of records) {
        const message = toProtoToken(record);
        const bytes = fast[method].responseSerialize(message);
        expect(generic.responseDeserialize(bytes), JSON.stringify(record)).toEqual(
          generic.responseDeserialize(generic.responseSerialize(message)),
        );
      }
    },
  );

  it('GetTicket: random tickets of every type decode to what the generic serializer writes', () => {
    const generic = service.GetTicket;
    for (const [i, record] of records.entries()) {
      const message = toProtoTicket(record, i % 2 ? 'jsapi' : 'wx_card');
      const bytes = fast.GetTicket.responseSerialize(message);
      expect(generic.responseDeserialize(bytes), JSON.stringify(record)).toEqual(
        generic.responseDeserialize(generic.responseSerialize(message)),
      );
    }
  });

  it('a token needs no per-record state: a fresh message per call, the record left as it was', () => {
    const record = { ...records[0]!, generation: 8 };
    const before = JSON.stringify(record);
    expect(toProtoToken(record)).not.toBe(toProtoToken(record));
    expect(toProtoToken(record)).toEqual(toProtoToken(record));
    expect(Object.getOwnPropertySymbols(record)).toEqual([]);
    expect(JSON.stringify(record)).toBe(before);
  });

  it('an int64 past 2^53 is refused, not rounded into another generation', () => {
    const message = { ...toProtoToken(records[0]!), generation: '9007199254740993' };
    expect(() => fast.GetToken.responseSerialize(message)).toThrow(/int64 field out of range/);
  });

  it('an encoder wired to a method with another reply is refused at startup, naming both', () => {
    expect(() => tolerantDeserializers(service, { ForceRefresh: TOKEN_ENCODER })).toThrow(
      '/wxtoken.v1.TokenService/ForceRefresh replies with ForceRefreshResponse, not Token',
    );
  });
});
