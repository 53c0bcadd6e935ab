import type { CredentialRecord } from './token.js';

/**
 * A credential record held for a long time (the cache's and the embedded store's one per app) as
 * one flat string, `expiresAt:fetchedAt:generation:value`, its app id being the map's key.
 *
 * Why: a record object holds its two times as boxed doubles (ms since epoch are beyond V8's
 * small integers), so each app's record was four heap objects (the record, its value, two
 * numbers) for every full collection to find and mark; at 100,000 authorizers 400,000 of the
 * leader's ~900,000 objects, held twice over (cache and store). A flat string is one object,
 * which marking does not look inside. A reader gets a fresh record object (short-lived young
 * garbage): nothing holds a record for long but these maps.
 *
 * The numbers go first, written by `String(n)` (which `Number` reads back exactly, whatever the
 * double), so the value, which may hold any character, is everything after the third colon.
 */
export type PackedRecord = string & { readonly __packed: unique symbol };

/**
 * The record packed last and its string: the embedded store and the cache pack the same record
 * one after the other (a write, then its notification), and share one string this way.
 */
let last: { record: CredentialRecord; packed: PackedRecord } | undefined;

export function packRecord(record: CredentialRecord): PackedRecord {
  if (last?.record === record) return last.packed;
  // Array.join makes one flat string; a template or `+` makes a cons string of parts to mark.
  const packed = [record.expiresAt, record.fetchedAt, record.generation, record.value].join(
    ':',
  ) as PackedRecord;
  last = { record, packed };
  return packed;
}

export function unpackRecord(appId: string, packed: PackedRecord): CredentialRecord {
  const a = packed.indexOf(':');
  const b = packed.indexOf(':', a + 1);
  const c = packed.indexOf(':', b + 1);
  return {
    appId,
    value: packed.slice(c + 1),
    expiresAt: Number(packed.slice(0, a)),
    fetchedAt: Number(packed.slice(a + 1, b)),
    generation: Number(packed.slice(b + 1, c)),
  };
}

/**
 * The record's expiresAt, read without making the record or a string (the sweepers' test, and a
 * scrape's, which reads every app's): digits are read in place; anything else a time can be
 * written as (a fraction, an exponent, a sign) goes through `Number`.
 */
export function packedExpiresAt(packed: PackedRecord): number {
  let n = 0;
  for (let i = 0; i < packed.length; i++) {
    const c = packed.charCodeAt(i);
    if (c === COLON && i > 0) return n;
    const digit = c - ZERO;
    if (digit < 0 || digit > 9 || n > MAX_EXACT_PREFIX) break;
    n = n * 10 + digit;
  }
  return Number(packed.slice(0, packed.indexOf(':')));
}

const COLON = 0x3a;
const ZERO = 0x30;
/** Below this, n * 10 + 9 is still an exact integer. */
const MAX_EXACT_PREFIX = (Number.MAX_SAFE_INTEGER - 9) / 10;

/** The record's value, read without making the record. */
export function packedValue(packed: PackedRecord): string {
  return packed.slice(packed.indexOf(':', packed.indexOf(':', packed.indexOf(':') + 1) + 1) + 1);
}
