import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import util from 'node:util';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { fingerprint, Secret } from '../../src/shared/secret.js';

const VALUE = 'app-secret-0123456789abcdef';
const s = new Secret(VALUE);

/** Everything pino writes for one log line that carries the secret at a path it does not redact. */
function pinoLine(): string {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out += chunk.toString();
      done();
    },
  });
  pino({ level: 'info' }, sink).info({ app: { credentials: s }, extra: [s] }, 'fetched with %s', s);
  return out;
}

describe('Secret never shows its value (invariant 8: secrets stay in)', () => {
  it.each<[string, () => string]>([
    ['String()', () => String(s)],
    ['template literal', () => `secret=${s}`],
    ['string concatenation', () => 'secret=' + s],
    ['JSON.stringify of the secret', () => JSON.stringify(s)],
    ['JSON.stringify of an object holding it', () => JSON.stringify({ app: { secret: s } })],
    ['util.inspect', () => util.inspect(s)],
    [
      'util.inspect of a nested object, showHidden',
      () => util.inspect({ a: { s } }, { showHidden: true, depth: 10 }),
    ],
    [
      "console-style formatting util.format('%s %o %j')",
      () => util.format('%s %o %j', s, { s }, { s }),
    ],
    ["util.format('%O %s')", () => util.format('%O %s', { s }, [s])],
    ['util.format with no placeholders (console.log(s, obj))', () => util.format(s, { s })],
    ['an Error message built from it', () => new Error(`bad secret ${s}`).message],
    ['a pino log line', pinoLine],
  ])('%s', (_, render) => {
    const text = render();
    expect(text).not.toContain(VALUE);
    expect(text).toContain('[REDACTED]');
  });

  it('String() and JSON show exactly the placeholder', () => {
    expect(String(s)).toBe('[REDACTED]');
    expect(JSON.stringify({ s })).toBe('{"s":"[REDACTED]"}');
    expect(util.inspect(s)).toBe('[REDACTED]');
  });

  it('spread copies no value', () => {
    expect({ ...s }).toEqual({});
  });
});

describe('Secret.reveal and fingerprint', () => {
  it('reveal() returns the value', () => {
    expect(s.reveal()).toBe(VALUE);
  });

  it('fingerprint is 8 lowercase hex, the SHA-256 prefix, and never the value', () => {
    const fp = s.fingerprint();
    expect(fp).toMatch(/^[0-9a-f]{8}$/);
    expect(fp).toBe(createHash('sha256').update(VALUE).digest('hex').slice(0, 8));
    expect(VALUE).not.toContain(fp);
  });

  it('fingerprint is stable across instances and calls, and equals fingerprint(value)', () => {
    expect(new Secret(VALUE).fingerprint()).toBe(s.fingerprint());
    expect(s.fingerprint()).toBe(s.fingerprint());
    expect(fingerprint(VALUE)).toBe(s.fingerprint());
  });

  it.each([
    ['a', 'b'],
    ['token-1', 'token-2'],
    ['', ' '],
  ])('fingerprints of %j and %j differ', (a, b) => {
    expect(fingerprint(a)).not.toBe(fingerprint(b));
  });

  it('fingerprints an empty or non-ASCII value as 8 hex too', () => {
    expect(fingerprint('')).toMatch(/^[0-9a-f]{8}$/);
    expect(new Secret('密钥').fingerprint()).toMatch(/^[0-9a-f]{8}$/);
  });
});
