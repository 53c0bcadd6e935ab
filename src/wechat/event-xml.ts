import { MAX_ENCRYPT_CHARS } from './message-crypto.js';

/**
 * A strict reader of WeChat's flat event XML (design.md "Third-party platform: Events"): the
 * outer POST body `<xml><AppId>..</AppId><Encrypt>..</Encrypt></xml>` and the decrypted event
 * (`AppId`, `InfoType`, `ComponentVerifyTicket`, `AuthorizerAppid`, `AuthorizationCode`,
 * `CreateTime`, ...). Only `<xml>` holding leaf elements is accepted, each CDATA or plain text;
 * no attributes, nesting, comments, processing instructions or DTD, and no entities but the five
 * predefined ones, so there is nothing to expand and the work is linear in the input.
 */

export interface EventXmlLimits {
  /** Longest document, in characters. */
  readonly maxChars: number;
  readonly maxFields: number;
  /** Longest value of one field, in characters (the outer Encrypt is the long one). */
  readonly maxFieldChars: number;
}

export const DEFAULT_EVENT_XML_LIMITS: EventXmlLimits = Object.freeze({
  maxChars: MAX_ENCRYPT_CHARS + 16 * 1024,
  maxFields: 32,
  maxFieldChars: MAX_ENCRYPT_CHARS,
});

export type EventXmlErrorReason =
  | 'too_large'
  | 'malformed'
  | 'forbidden_markup'
  | 'too_many_fields'
  | 'field_too_large'
  | 'duplicate_field';

/** The document was refused; the message names the offset (and the tag), never a value. */
export class EventXmlError extends Error {
  override readonly name = 'EventXmlError';

  constructor(
    readonly reason: EventXmlErrorReason,
    readonly offset: number,
    problem: string,
  ) {
    super(`event XML refused at offset ${offset}: ${problem}`);
  }
}

const NAME_RE = /[A-Za-z_][A-Za-z0-9_]{0,63}/y;
const ENTITY_RE = /&(?:(lt|gt|amp|quot|apos);)?/g;
const ENTITIES: Readonly<Record<string, string>> = {
  lt: '<',
  gt: '>',
  amp: '&',
  quot: '"',
  apos: "'",
};
const CDATA_OPEN = '<![CDATA[';

/** Field name → value, in a prototype-less object (a `__proto__` tag is just a field). */
export function parseEventXml(
  xml: string,
  limits: EventXmlLimits = DEFAULT_EVENT_XML_LIMITS,
): Record<string, string> {
  if (typeof xml !== 'string' || xml.length > limits.maxChars) {
    throw new EventXmlError('too_large', 0, `document longer than ${limits.maxChars} characters`);
  }
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  let count = 0;
  let i = expect(xml, skipSpace(xml, 0), '<xml>');
  for (;;) {
    i = skipSpace(xml, i);
    if (xml.startsWith('</xml>', i)) {
      if (skipSpace(xml, i + 6) !== xml.length) {
        throw new EventXmlError('malformed', i + 6, 'content after </xml>');
      }
      return fields;
    }
    // 1. The opening tag: a bare name, nothing else.
    const name = readOpenTag(xml, i);
    if (Object.hasOwn(fields, name)) {
      throw new EventXmlError('duplicate_field', i, `<${name}> appears twice`);
    }
    if (++count > limits.maxFields) {
      throw new EventXmlError('too_many_fields', i, `more than ${limits.maxFields} fields`);
    }
    // 2. The value: one CDATA section (whitespace around it ignored) or plain text.
    const valueStart = i + name.length + 2;
    const { value, end } = readValue(xml, valueStart);
    if (value.length > limits.maxFieldChars) {
      throw new EventXmlError('field_too_large', valueStart, `<${name}> is too long`);
    }
    // 3. The matching closing tag.
    i = expect(xml, end, `</${name}>`);
    fields[name] = value;
  }
}

function readOpenTag(xml: string, at: number): string {
  if (xml.startsWith('<!', at) || xml.startsWith('<?', at)) {
    throw new EventXmlError('forbidden_markup', at, 'comments, DTDs and instructions are refused');
  }
  if (xml[at] !== '<') {
    throw new EventXmlError('malformed', at, 'text outside an element');
  }
  NAME_RE.lastIndex = at + 1;
  const match = NAME_RE.exec(xml);
  if (match === null || xml[at + 1 + match[0].length] !== '>') {
    throw new EventXmlError('malformed', at, 'expected an element without attributes');
  }
  return match[0];
}

function readValue(xml: string, at: number): { value: string; end: number } {
  const first = skipSpace(xml, at);
  if (xml.startsWith(CDATA_OPEN, first)) {
    const close = xml.indexOf(']]>', first + CDATA_OPEN.length);
    if (close < 0) throw new EventXmlError('malformed', first, 'unterminated CDATA');
    return { value: xml.slice(first + CDATA_OPEN.length, close), end: skipSpace(xml, close + 3) };
  }
  const end = xml.indexOf('<', at);
  if (end < 0) throw new EventXmlError('malformed', at, 'unterminated element');
  if (xml[end + 1] !== '/') {
    throw new EventXmlError('malformed', end, 'nested elements are refused');
  }
  return { value: decodeEntities(xml.slice(at, end), at), end };
}

function decodeEntities(text: string, offset: number): string {
  return text.replace(ENTITY_RE, (whole: string, name: string | undefined, index: number) => {
    if (name === undefined) {
      throw new EventXmlError('forbidden_markup', offset + index, 'only the 5 XML entities');
    }
    return ENTITIES[name] ?? whole;
  });
}

function expect(xml: string, at: number, literal: string): number {
  if (!xml.startsWith(literal, at)) {
    throw new EventXmlError('malformed', at, `expected ${literal}`);
  }
  return at + literal.length;
}

function skipSpace(xml: string, at: number): number {
  let i = at;
  while (
    i < xml.length &&
    (xml[i] === ' ' || xml[i] === '\n' || xml[i] === '\r' || xml[i] === '\t')
  ) {
    i++;
  }
  return i;
}
