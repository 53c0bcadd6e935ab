import { toProtoToken } from '../src/grpc/convert.js';
import { TOKEN_ENCODER } from '../src/grpc/reply-encoding.js';
import { LiveReader } from '../src/service/live-reader.js';
import { AppStatusBook } from '../src/refresher/app-status-book.js';
import { AppDirectory } from '../src/apps/app-directory.js';
import { systemClock } from '../src/shared/clock.js';
import type { TokenRecord } from '../src/token/token.js';
import { TokenCache } from '../src/token/token-cache.js';
import { median } from './stats.js';

/**
 * What the number of records costs GetToken's own steps, apart from the process around them
 * (its heap, its garbage collector, grpc-js): the handler's path for a live token (read from
 * the cache, servable check, reply message, reply bytes) in this process, on a cache of 1
 * record and on one of `count` records read at random, in alternating rounds; medians. The app
 * id of each call is a fresh string, as a decoded request's is.
 */
export function lookupCost(
  count: number,
  rounds: number,
  calls: number,
): { one: number; many: number } {
  const one = fill(1);
  const many = fill(count);
  const got = { one: [] as number[], many: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    got.one.push(round(one, calls));
    got.many.push(round(many, calls));
  }
  return { one: median(got.one), many: median(got.many) };
}

interface Filled {
  readonly reader: LiveReader;
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
  return { reader, count };
}

/** ns per call over `calls` calls with random ids. */
function round({ reader, count }: Filled, calls: number): number {
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
    const live = reader.peek(scratch.toString('latin1'));
    if (live === undefined) throw new Error('lookup-cost: a record is missing');
    bytes += TOKEN_ENCODER.encode(toProtoToken(live)).length;
  }
  const ns = Number(process.hrtime.bigint() - t0) / calls;
  if (bytes === 0) throw new Error('lookup-cost: nothing encoded');
  return ns;
}
