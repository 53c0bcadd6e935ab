import { toProtoTicket, toProtoToken } from '../src/grpc/convert.js';
import { loadProto } from '../src/grpc/proto.js';
import { TICKET_ENCODER, TOKEN_ENCODER } from '../src/grpc/reply-encoding.js';
import type { BenchContext, BenchRow, Scenario } from './report.js';
import { median } from './stats.js';

/**
 * The replies GetToken, WatchToken and GetTicket send are written by direct encoders
 * (src/grpc/reply-encoding.ts) instead of proto-loader's serializer. Both encode the same
 * 100,000 distinct records (one per authorizer of the scale scenario: no reply is ever encoded
 * twice, as with random ids over 100,000 apps), alternating rounds; µs per reply, medians, and
 * the ratio direct / proto-loader.
 */
const RECORDS = 100_000;

export const replyEncodingScenario: Scenario = {
  name: 'reply-encoding',
  title: `GetToken and GetTicket replies: direct encoders against proto-loader's serializer (${RECORDS.toLocaleString('en-US')} distinct records)`,
  run: (ctx) => Promise.resolve(measure(ctx)),
};

function measure(ctx: BenchContext): BenchRow[] {
  const service = loadProto().wxtoken.v1.TokenService.service;
  const now = Date.now();
  const records = Array.from({ length: RECORDS }, (_, i) => ({
    appId: `wxauth${String(i).padStart(12, '0')}`,
    // The simulator's tokens are 136 characters, like WeChat's.
    value: `86_${'x'.repeat(128)}${String(i).padStart(5, '0')}`,
    expiresAt: now + 7_200_000 + i,
    fetchedAt: now + i,
    generation: i + 1,
  }));
  const kinds = [
    {
      reply: 'Token',
      message: toProtoToken,
      generic: service.GetToken.responseSerialize,
      direct: TOKEN_ENCODER.encode,
    },
    {
      reply: 'Ticket',
      message: (r: (typeof records)[number]) => toProtoTicket(r, 'jsapi'),
      generic: service.GetTicket.responseSerialize,
      direct: TICKET_ENCODER.encode,
    },
  ];
  const rounds = ctx.quick ? 3 : 9;
  const rows: BenchRow[] = [];
  for (const k of kinds) {
    const got = { generic: [] as number[], direct: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      for (const way of r % 2
        ? (['direct', 'generic'] as const)
        : (['generic', 'direct'] as const)) {
        const encode = k[way] as (m: unknown) => Buffer;
        let bytes = 0;
        const t0 = process.hrtime.bigint();
        for (const record of records) bytes += encode(k.message(record)).length;
        const us = Number(process.hrtime.bigint() - t0) / 1e3 / RECORDS;
        if (bytes === 0) throw new Error('nothing encoded');
        got[way].push(us);
      }
    }
    const generic = median(got.generic);
    const direct = median(got.direct);
    ctx.log(`${k.reply}: proto-loader ${generic.toFixed(3)} µs, direct ${direct.toFixed(3)} µs`);
    rows.push(
      {
        scenario: 'reply-encoding',
        metric: `${k.reply} reply, message built and encoded (median of ${rounds} rounds)`,
        value: `proto-loader ${generic.toFixed(2)} µs; direct ${direct.toFixed(2)} µs`,
      },
      {
        scenario: 'reply-encoding',
        metric: `${k.reply} reply time ratio direct / proto-loader`,
        value: (direct / generic).toFixed(3),
        target: '< 1 (context: why the encoders exist)',
        met: direct < generic,
      },
    );
  }
  return rows;
}
