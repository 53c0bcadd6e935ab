/**
 * Memo slots on immutable objects, instead of WeakMaps keyed by them.
 *
 * GetToken answers the same record thousands of times a second, so its reply message and the
 * message's bytes are computed once per record. They used to live in WeakMaps keyed by the
 * record and by the message: with 100,000 authorizers those were two tables of 100,000
 * ephemerons, which V8 walks inside the atomic pause of every full collection (up to 37 ms of
 * "mark.ephemeron.marking" in one pause, --trace-gc-nvp, scale-authorizers benchmark). A
 * non-enumerable symbol property costs nothing at collection time and dies with its object;
 * it stays out of JSON, Object.keys and deep equality.
 */
const MESSAGE = Symbol('wxtoken.replyMessage');
const BYTES = Symbol('wxtoken.replyBytes');

interface BytesSlot {
  serialize?: (value: unknown) => Buffer;
  bytes?: Buffer;
}

/** `make(record)` once per record object, frozen with a slot for its encoded bytes. */
export function frozenReply<R extends object, M extends object>(
  record: R,
  make: (record: R) => M,
): M {
  const memo = (record as { [MESSAGE]?: M })[MESSAGE];
  if (memo !== undefined) return memo;
  const message = make(record);
  Object.defineProperty(message, BYTES, { value: {} satisfies BytesSlot });
  Object.freeze(message);
  Object.defineProperty(record, MESSAGE, { value: message });
  return message;
}

/**
 * The bytes of a frozenReply() message under `serialize`, computed once; undefined for any
 * other value. Keyed by serializer too: a message type is only ever encoded by its own, but a
 * second serializer must never be handed bytes the first one made.
 */
export function encodedOnce(
  value: unknown,
  serialize: (value: unknown) => Buffer,
): Buffer | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const slot = (value as { [BYTES]?: BytesSlot })[BYTES];
  if (slot === undefined) return undefined;
  if (slot.serialize !== serialize) {
    slot.bytes = serialize(value);
    slot.serialize = serialize;
  }
  return slot.bytes;
}
