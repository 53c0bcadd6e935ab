import { ByteTable } from '../shared/byte-table.js';
import { packRecord, unpackRecord, type PackedRecord } from './packed-record.js';
import type { CredentialRecord } from './token.js';

/**
 * Slots of 256 bytes hold an 18-character id and a token of up to ~200 bytes (WeChat's are 136
 * characters); 8,192 the longest credential a WeChat body may carry (2,048 characters, at most
 * three bytes each in UTF-8) with the longest id.
 */
const RECORD_SLOTS = [256, 8192] as const;
/** Value layout: fetchedAt (float64), generation (float64), then the value in UTF-8. */
const VALUE_AT = 16;

/**
 * One current record per app, kept off the V8 heap (ByteTable): the token cache's and the
 * embedded store's. Each app's record was a string on the heap, and each table a Map of
 * 100,000 entries with a platform's authorizers: objects and references every full collection
 * marks again, which made a leader's GetToken dearer the more apps it held (docs/third-party.md).
 * Here the expiry is the slot's deadline, the other two numbers and the value its bytes.
 *
 * An id a slot cannot key (not ASCII, or past 64 characters: configured and WeChat's ids
 * never are) is kept in an ordinary map instead, so every record is held whatever its id.
 * Every read makes a fresh record.
 */
export class RecordTable {
  readonly #table = new ByteTable(RECORD_SLOTS);
  readonly #others = new Map<string, PackedRecord>();

  get size(): number {
    return this.#table.size + this.#others.size;
  }

  get(appId: string): CredentialRecord | undefined {
    const bytes = this.#table.get(appId);
    if (bytes === undefined) {
      const packed = this.#others.get(appId);
      return packed === undefined ? undefined : unpackRecord(appId, packed);
    }
    return {
      appId,
      value: bytes.toString('utf8', VALUE_AT),
      expiresAt: this.#table.deadlineOf(appId)!,
      fetchedAt: bytes.readDoubleLE(0),
      generation: bytes.readDoubleLE(8),
    };
  }

  /** The record's expiresAt, read without making the record (a scrape reads every app's). */
  expiresAtOf(appId: string): number | undefined {
    const expiresAt = this.#table.deadlineOf(appId);
    if (expiresAt !== undefined) return expiresAt;
    const packed = this.#others.get(appId);
    return packed === undefined ? undefined : unpackRecord(appId, packed).expiresAt;
  }

  set(record: CredentialRecord): void {
    const value = Buffer.from(record.value, 'utf8');
    const bytes = Buffer.allocUnsafe(VALUE_AT + value.length);
    bytes.writeDoubleLE(record.fetchedAt, 0);
    bytes.writeDoubleLE(record.generation, 8);
    value.copy(bytes, VALUE_AT);
    if (this.#table.set(record.appId, bytes, record.expiresAt)) {
      this.#others.delete(record.appId);
    } else {
      this.#others.set(record.appId, packRecord(record));
    }
  }

  delete(appId: string): boolean {
    return this.#table.delete(appId) || this.#others.delete(appId);
  }

  /** Every app held, in no particular order. */
  ids(): string[] {
    return [...this.#table.keys(), ...this.#others.keys()];
  }
}
