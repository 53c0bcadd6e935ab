import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AtRestCipher, AtRestDecryptError, NoCipher } from '../../src/redis/at-rest-cipher.js';

const K1 = randomBytes(32);
const K2 = randomBytes(32);
const PLAIN = 'ACCESS_TOKEN_0123456789_secret';
/** Where a value lives (prefix + app record + field): the AAD it is sealed with. */
const CTX = 'wxtoken:{app:wxA}:token#token';

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
    const a = cipher.seal(PLAIN, CTX);
    const b = cipher.seal(PLAIN, CTX);
    expect(a).toMatch(/^enc:v2:k1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain(PLAIN);
    expect(cipher.open(a, CTX)).toBe(PLAIN);
    expect(cipher.open(b, CTX)).toBe(PLAIN);
    expect(cipher.open(cipher.seal('', CTX), CTX)).toBe('');
  });

  it('issue 11: refuses a plaintext value (anyone who can write to Redis could plant it)', () => {
    const cipher = new AtRestCipher(new Map([['k1', K1]]), 'k1');
    for (const plain of [PLAIN, '']) {
      const err = caught(() => cipher.open(plain, CTX));
      expect((err as AtRestDecryptError).reason).toBe('plaintext');
    }
  });

  it('issue 11: a sealed value moved to another app, prefix or field fails authentication', () => {
    const cipher = new AtRestCipher(new Map([['k1', K1]]), 'k1');
    const sealed = cipher.seal(PLAIN, CTX);
    for (const elsewhere of [
      'wxtoken:{app:wxB}:token#token',
      'other:{app:wxA}:token#token',
      'wxtoken:{app:wxA}:token#session_key',
    ]) {
      const err = caught(() => cipher.open(sealed, elsewhere));
      expect((err as AtRestDecryptError).reason).toBe('bad_value');
      expect((err as Error).message).not.toContain(PLAIN);
    }
  });

  it('issue 11 migration: enc:v1 values (sealed without AAD) open only with acceptUnbound', () => {
    // An enc:v1 value as the previous release wrote it: AES-256-GCM, no AAD.
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', K1, iv);
    const ct = Buffer.concat([c.update(PLAIN, 'utf8'), c.final()]);
    const v1 = `enc:v1:k1:${iv.toString('base64')}:${c.getAuthTag().toString('base64')}:${ct.toString('base64')}`;
    const strict = new AtRestCipher(new Map([['k1', K1]]), 'k1');
    expect((caught(() => strict.open(v1, CTX)) as AtRestDecryptError).reason).toBe('unbound');
    const upgrading = new AtRestCipher(new Map([['k1', K1]]), 'k1', true);
    expect(upgrading.open(v1, CTX)).toBe(PLAIN);
    // ...and it still writes bound values only.
    expect(upgrading.seal(PLAIN, CTX)).toMatch(/^enc:v2:k1:/);
  });

  it('opens values of an older key after rotation and seals under the current one', () => {
    const old = new AtRestCipher(new Map([['k1', K1]]), 'k1');
    const sealed = old.seal(PLAIN, CTX);
    const rotated = new AtRestCipher(
      new Map([
        ['k1', K1],
        ['k2', K2],
      ]),
      'k2',
    );
    expect(rotated.open(sealed, CTX)).toBe(PLAIN);
    expect(rotated.seal(PLAIN, CTX)).toMatch(/^enc:v2:k2:/);
  });

  it('refuses a tampered value with a typed error naming only the key id', () => {
    const cipher = new AtRestCipher(new Map([['k1', K1]]), 'k1');
    const sealed = cipher.seal(PLAIN, CTX);
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
      'enc:v2:k1:short',
    ]) {
      const err = caught(() => cipher.open(bad, CTX));
      expect(err).toBeInstanceOf(AtRestDecryptError);
      expect((err as AtRestDecryptError).keyId).toBe('k1');
      expect((err as Error).message).toContain('"k1"');
      expect((err as Error).message).not.toContain(PLAIN);
      expect((err as Error).message).not.toContain(K1.toString('base64'));
    }
  });

  it('refuses a value sealed under a key that is not configured', () => {
    const sealed = new AtRestCipher(new Map([['gone', K1]]), 'gone').seal(PLAIN, CTX);
    const err = caught(() => new AtRestCipher(new Map([['k2', K2]]), 'k2').open(sealed, CTX));
    expect(err).toBeInstanceOf(AtRestDecryptError);
    expect((err as AtRestDecryptError).reason).toBe('unknown_key');
    expect((err as Error).message).toContain('"gone"');
  });

  it('refuses a value opened with a different key under the same id', () => {
    const sealed = new AtRestCipher(new Map([['k1', K1]]), 'k1').seal(PLAIN, CTX);
    const err = caught(() => new AtRestCipher(new Map([['k1', K2]]), 'k1').open(sealed, CTX));
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
    expect(cipher.seal(PLAIN, CTX)).toBe(PLAIN);
    expect(cipher.open(PLAIN, CTX)).toBe(PLAIN);
  });
});
