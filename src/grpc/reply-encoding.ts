import protobuf from 'protobufjs/minimal.js';
import type { Ticket } from './generated/wxtoken/v1/Ticket.js';
import type { Timestamp } from './generated/google/protobuf/Timestamp.js';
import type { Token } from './generated/wxtoken/v1/Token.js';
import type { TicketType__Output } from './generated/wxtoken/v1/TicketType.js';

/**
 * Direct encoders for the replies sent thousands of times a second (GetToken, WatchToken,
 * GetTicket), written with protobufjs' own Writer.
 *
 * The generic serializer from proto-loader first converts the message (`fromObject`: every
 * int64 string parsed into a Long) and then encodes it: ~2.3 µs a token. Caching the bytes per
 * token record avoided that for one hot app, but with 100,000 authorizers almost every call
 * was the first for its record: the call paid for the conversion and the cache, and every
 * cached reply (~1 KB) was promoted into the old generation, which grew ~100 MB during a
 * benchmark's GetToken rounds and kept V8 marking (scale-authorizers benchmark). Encoding each
 * reply directly costs ~0.9 µs, the same for one app and for 100,000, and keeps nothing.
 *
 * The field numbers are those of proto/wxtoken/v1/token.proto; a test decodes every encoder's
 * bytes with the generic deserializer and compares them with what the generic serializer makes.
 */
export interface ReplyEncoder {
  /** The protobuf message this encoder writes (checked against the method at registration). */
  readonly messageName: string;
  readonly encode: (message: unknown) => Buffer;
}

type Int64 = string | number | { toString(): string } | null | undefined;

const { Writer } = protobuf;
type ProtoWriter = protobuf.Writer;

/** Field tag: number << 3 | wire type (0 varint, 2 length-delimited). */
const tag = (field: number, wireType: 0 | 2): number => (field << 3) | wireType;

function int64(value: Int64): number {
  const n = typeof value === 'number' ? value : Number(value ?? 0);
  // Seconds and generations fit easily; anything else is a bug upstream, not a reply to send.
  if (!Number.isSafeInteger(n)) throw new RangeError(`int64 field out of range: ${String(value)}`);
  return n;
}

function string(w: ProtoWriter, field: number, value: string | undefined): void {
  if (value) w.uint32(tag(field, 2)).string(value);
}

function varint64(w: ProtoWriter, field: number, value: Int64): void {
  const n = int64(value);
  if (n !== 0) w.uint32(tag(field, 0)).int64(n);
}

function timestamp(w: ProtoWriter, field: number, t: Timestamp | null | undefined): void {
  if (!t) return;
  w.uint32(tag(field, 2)).fork();
  varint64(w, 1, t.seconds as Int64);
  if (t.nanos) w.uint32(tag(2, 0)).int32(t.nanos);
  w.ldelim();
}

function finish(w: ProtoWriter): Buffer {
  const bytes = w.finish();
  // protobufjs hands back a Buffer on Node; grpc-js wants one.
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** A reply encoded ahead (EncodedTokens), handed through grpc-js as its message. */
class PreEncoded {
  constructor(readonly bytes: Buffer) {}
}

/**
 * `bytes` (a Token message already encoded) in the shape a handler returns; TOKEN_ENCODER sends
 * them as they are. The caller hands over the bytes: they must not change afterwards.
 */
export function preEncoded(bytes: Buffer): Token {
  return new PreEncoded(bytes) as unknown as Token;
}

/** wxtoken.v1.Token */
export const TOKEN_ENCODER: ReplyEncoder = {
  messageName: 'Token',
  encode: (message) => {
    if (message instanceof PreEncoded) return message.bytes;
    const m = message as Token;
    const w = Writer.create();
    string(w, 1, m.app_id);
    string(w, 2, m.access_token);
    timestamp(w, 3, m.expires_at);
    timestamp(w, 4, m.fetched_at);
    varint64(w, 5, m.generation as Int64);
    return finish(w);
  },
};

/** wxtoken.v1.Ticket */
export const TICKET_ENCODER: ReplyEncoder = {
  messageName: 'Ticket',
  encode: (message) => {
    const m = message as Ticket;
    const w = Writer.create();
    string(w, 1, m.app_id);
    const type = ticketTypeNumber(m.type);
    if (type !== 0) w.uint32(tag(2, 0)).int32(type);
    string(w, 3, m.ticket);
    timestamp(w, 4, m.expires_at);
    timestamp(w, 5, m.fetched_at);
    varint64(w, 6, m.generation as Int64);
    return finish(w);
  },
};

/** The enum's numbers in token.proto; a new ticket type fails to compile until it is here. */
const TICKET_TYPE_NUMBERS: Readonly<Record<TicketType__Output, number>> = {
  TICKET_TYPE_UNSPECIFIED: 0,
  TICKET_TYPE_JSAPI: 1,
  TICKET_TYPE_WX_CARD: 2,
};

function ticketTypeNumber(type: Ticket['type']): number {
  if (typeof type === 'number') return type;
  const n = (TICKET_TYPE_NUMBERS as Record<string, number | undefined>)[
    type ?? 'TICKET_TYPE_UNSPECIFIED'
  ];
  if (n === undefined) throw new RangeError(`unknown ticket type ${String(type)}`);
  return n;
}
