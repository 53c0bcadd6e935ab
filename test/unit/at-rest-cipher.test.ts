import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AtRestCipher, AtRestDecryptError, NoCipher } from '../../src/redis/at-rest-cipher.js';

const K1 = randomBytes(32);
const K2 = randomBytes(32);
const PLAIN = 'ACCESS_TOKEN_0123456789_secret';

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

describe('AtRestCipher', () => {
  it('round-trips, with a fresh IV each time, and never shows the plaintext', () => {
    const cipher = new AtRestCipher(new Map([['k1', K1]]), 'k1');
    const a = cipher.seal(PLAIN);
    const b = cipher.seal(PLAIN);
    expect(a).toMatch(/^enc:v1:k1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain(PLAIN);
    expect(cipher.open(a)).toBe(PLAIN);
    expect(cipher.open(b)).toBe(PLAIN);
    expect(cipher.open('')).toBe('');
    expect(cipher.open(cipher.seal(''))).toBe('');
  });

  it('returns a value without the enc: prefix as is (records written before encryption)', () => {
    const cipher = new AtRestCipher(new Map([['k1', K1]]), 'k1');
    expect(cipher.open(PLAIN)).toBe(PLAIN);
  });

  it('opens values of an older key after rotation and seals under the current one', () => {
    const old = new AtRestCipher(new Map([['k1', K1]]), 'k1');
    const sealed = old.seal(PLAIN);
    const rotated = new AtRestCipher(
      new Map([
        ['k1', K1],
        ['k2', K2],
      ]),
      'k2',
    );
    expect(rotated.open(sealed)).toBe(PLAIN);
    expect(rotated.seal(PLAIN)).toMatch(/^enc:v1:k2:/);
  });

  it('refuses a tampered value with a typed error naming only the key id', () => {
    const cipher = new AtRestCipher(new Map([['k1', K1]]), 'k1');
    const sealed = cipher.seal(PLAIN);
    const parts = sealed.split(':');
    const ct = Buffer.from(parts[5]!, 'base64');
    ct[0] = ct[0]! ^ 1;
    parts[5] = ct.toString('base64');
    const tag = Buffer.from(parts[4]!, 'base64');
    tag[0] = tag[0]! ^ 1;
    for (const bad of [
      parts.join(':'),
      [...sealed.split(':').slice(0, 4), tag.toString('base64'), sealed.split(':')[5]].join(':'),
      `${sealed}:extra`,
      'enc:v1:k1:short',
    ]) {
      const err = caught(() => cipher.open(bad));
      expect(err).toBeInstanceOf(AtRestDecryptError);
      expect((err as AtRestDecryptError).keyId).toBe('k1');
      expect((err as Error).message).toContain('"k1"');
      expect((err as Error).message).not.toContain(PLAIN);
      expect((err as Error).message).not.toContain(K1.toString('base64'));
    }
  });

  it('refuses a value sealed under a key that is not configured', () => {
    const sealed = new AtRestCipher(new Map([['gone', K1]]), 'gone').seal(PLAIN);
    const err = caught(() => new AtRestCipher(new Map([['k2', K2]]), 'k2').open(sealed));
    expect(err).toBeInstanceOf(AtRestDecryptError);
    expect((err as AtRestDecryptError).reason).toBe('unknown_key');
    expect((err as Error).message).toContain('"gone"');
  });

  it('refuses a value opened with a different key under the same id', () => {
    const sealed = new AtRestCipher(new Map([['k1', K1]]), 'k1').seal(PLAIN);
    const err = caught(() => new AtRestCipher(new Map([['k1', K2]]), 'k1').open(sealed));
    expect((err as AtRestDecryptError).reason).toBe('bad_value');
  });

  it('checks key length and that the current key is configured', () => {
    expect(() => new AtRestCipher(new Map([['k1', randomBytes(16)]]), 'k1')).toThrow(/32 bytes/);
    expect(() => new AtRestCipher(new Map([['k1', K1]]), 'k2')).toThrow(/currentKeyId/);
  });
});

describe('NoCipher', () => {
  it('is the identity', () => {
    const cipher = new NoCipher();
    expect(cipher.seal(PLAIN)).toBe(PLAIN);
    expect(cipher.open(PLAIN)).toBe(PLAIN);
  });
});
