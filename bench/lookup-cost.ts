import { toProtoToken } from '../src/grpc/convert.js';
import { EncodedTokens } from '../src/grpc/encoded-tokens.js';
import { TOKEN_ENCODER } from '../src/grpc/reply-encoding.js';
import { LiveReader } from '../src/service/live-reader.js';
import { AppStatusBook } from '../src/refresher/app-status-book.js';
import { AppDirectory } from '../src/apps/app-directory.js';
import { systemClock } from '../src/shared/clock.js';
import type { TokenRecord } from '../src/token/token.js';
import { TokenCache } from '../src/token/token-cache.js';
import { median } from './stats.js';

/** ns per call, on 1 record and on `count` read at random. */
export interface PathCost {
  readonly one: number;
  readonly many: number;
}

/**
 * What the number of records costs GetToken's own steps, apart from the process around them
 * (its heap, its garbage collector, grpc-js), in this process, on 1 record and on `count` read
 * at random, in alternating rounds; medians. Two paths: `encoded`, what GetToken runs for a
 * servable token (EncodedTokens: one index line and one slot, a copy of the reply), and
 * `records`, the path it falls back to (the cache's record, servable check, reply encoded). The
 * app id of each call is a fresh string, as a decoded request's is.
 */
export function lookupCost(
  count: number,
  rounds: number,
  calls: number,
): { encoded: PathCost; records: PathCost } {
  const one = fill(1);
  const many = fill(count);
  const got = { encoded: { one: [], many: [] }, records: { one: [], many: [] } } as Record<
    'encoded' | 'records',
    { one: number[]; many: number[] }
  >;
  for (let r = 0; r < rounds; r++) {
    for (const path of ['encoded', 'records'] as const) {
      got[path].one.push(round(one, calls, path));
      got[path].many.push(round(many, calls, path));
    }
  }
  const medians = (p: { one: number[]; many: number[] }): PathCost => ({
    one: median(p.one),
    many: median(p.many),
  });
  return { encoded: medians(got.encoded), records: medians(got.records) };
}

interface Filled {
  readonly reader: LiveReader;
  readonly encoded: EncodedTokens;
  readonly count: number;
}

const idOf = (i: number): string => `wxlookup${String(i).padStart(8, '0')}`;

function fill(count: number): Filled {
  const cache = new TokenCache(systemClock);
  const now = Date.now();
  for (let i = 0; i < count; i++) {
    const record: TokenRecord = {
      appId: idOf(i),
      value: `${'t'.repeat(128)}${String(i).padStart(8, '0')}`,
      fetchedAt: now,
      expiresAt: now + 7_200_000,
      generation: 1,
    };
    cache.offer(record);
  }
  const reader = new LiveReader({
    clock: systemClock,
    cache,
    status: new AppStatusBook(new AppDirectory([])),
    isRefreshing: () => false,
    onRefreshFailed: () => () => undefined,
    maxWaitMs: 1_000,
    noun: 'token',
  });
  // The cache holds still here: the mirror needs its tokens, not its updates.
  const encoded = new EncodedTokens({
    now: () => systemClock.now(),
    mirror: (mirror) => {
      for (const token of cache.tokens()) mirror.applied(token);
      return () => undefined;
    },
  });
  return { reader, encoded, count };
}

/** ns per call over `calls` calls with random ids. */
function round(
  { reader, encoded, count }: Filled,
  calls: number,
  path: 'encoded' | 'records',
): number {
  // The request's bytes: the id is decoded from them into a new string for every call.
  const scratch = Buffer.from(idOf(0), 'latin1');
  const digits = scratch.length;
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  for (let c = 0; c < calls; c++) {
    let n = Math.floor(Math.random() * count);
    for (let d = digits - 1; d >= digits - 8; d--) {
      scratch[d] = 48 + (n % 10);
      n = Math.floor(n / 10);
    }
    const appId = scratch.toString('latin1');
    if (path === 'encoded') {
      const reply = encoded.get(appId);
      if (reply === undefined) throw new Error('lookup-cost: a reply is missing');
      bytes += TOKEN_ENCODER.encode(reply).length;
    } else {
      const live = reader.peek(appId);
      if (live === undefined) throw new Error('lookup-cost: a record is missing');
      bytes += TOKEN_ENCODER.encode(toProtoToken(live)).length;
    }
  }
  const ns = Number(process.hrtime.bigint() - t0) / calls;
  if (bytes === 0) throw new Error('lookup-cost: nothing encoded');
  return ns;
}
