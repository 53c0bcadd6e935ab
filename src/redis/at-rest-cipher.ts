import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** Sealed with additional authenticated data (the value's place in Redis): written today. */
const PREFIX = 'enc:v2:';
/** Sealed without AAD by releases before issue 11; read only while `acceptUnbound` is on. */
const UNBOUND_PREFIX = 'enc:v1:';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Encrypts values before they reach Redis and decrypts them after (issue 6). `context` names
 * where the value lives (key prefix, app or session, field): it is authenticated with the
 * value, so a sealed value copied to another app's record, or to another field, fails to open.
 */
export interface ValueCipher {
  seal(plaintext: string, context: string): string;
  open(value: string, context: string): string;
}
/**
 * A sealed value cannot be opened: its key id is not configured, or it was tampered with or
 * sealed under another key. The message names the key id, never key material or plaintext.
 */
export class AtRestDecryptError extends Error {
  override readonly name = 'AtRestDecryptError';
  constructor(
    readonly keyId: string,
    readonly reason: 'unknown_key' | 'bad_value' | 'plaintext' | 'unbound',
  ) {
    super(
      reason === 'unknown_key'
        ? `cannot decrypt a value stored in Redis: key id ${JSON.stringify(keyId)} is not configured in redis.encryption.keys`
        : reason === 'plaintext'
          ? 'refused a plaintext value stored in Redis: redis.encryption is on, so every value must be sealed'
          : reason === 'unbound'
            ? `refused a value sealed without its place in Redis (enc:v1, key id ${JSON.stringify(keyId)}): set redis.encryption.acceptUnboundValues while upgrading`
            : `cannot decrypt a value stored in Redis under key id ${JSON.stringify(keyId)}: malformed, tampered with, moved from another app or field, or the key changed`,
    );
  }
}

/** Encryption off: values are stored as they are. */
export class NoCipher implements ValueCipher {
  seal(plaintext: string, _context: string): string {
    return plaintext;
  }

  open(value: string, _context: string): string {
    return value;
  }
}

/**
 * AES-256-GCM with a random 12-byte IV per value. A sealed value is
 * `enc:v2:<key id>:<iv b64>:<tag b64>:<ciphertext b64>`, with the caller's context as AAD: it
 * names its key, so keys can rotate (seal under `currentKeyId`, open under any configured key).
 *
 * Refused (issue 11, Redis is not trusted blindly): a plaintext value, since whoever can write
 * to Redis could otherwise plant any token; and a value whose context differs from the one it
 * was sealed with. Migration: releases before issue 11 sealed `enc:v1:` values without AAD;
 * with `acceptUnbound` (redis.encryption.acceptUnboundValues) they are still opened, so a
 * rolling upgrade keeps serving; every write seals v2, so once tokens have rotated and old
 * sessions expired the operator turns it off. While it is on, a v1 value can still be moved
 * between apps: it is a migration window, not a mode.
 */
export class AtRestCipher implements ValueCipher {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #currentKeyId: string;
  readonly #acceptUnbound: boolean;

  constructor(keys: Map<string, Buffer>, currentKeyId: string, acceptUnbound = false) {
    for (const [id, key] of keys) {
      if (!/^[A-Za-z0-9_.-]+$/.test(id)) {
        throw new RangeError(
          `at-rest key id ${JSON.stringify(id)}: expected A-Z, a-z, 0-9, "_", "." or "-"`,
        );
      }
      if (key.length !== KEY_BYTES) {
        throw new RangeError(
          `at-rest key ${JSON.stringify(id)}: expected ${KEY_BYTES} bytes, got ${key.length}`,
        );
      }
    }
    if (!keys.has(currentKeyId)) {
      throw new RangeError(
        `at-rest currentKeyId ${JSON.stringify(currentKeyId)} is not among the keys`,
      );
    }
    this.#keys = new Map(keys);
    this.#currentKeyId = currentKeyId;
    this.#acceptUnbound = acceptUnbound;
  }

  seal(plaintext: string, context: string): string {
    const key = this.#keys.get(this.#currentKeyId)!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return `${PREFIX}${this.#currentKeyId}:${iv.toString('base64')}:${tag.toString('base64')}:${ct.toString('base64')}`;
  }

  open(value: string, context: string): string {
    if (!value.startsWith('enc:')) throw new AtRestDecryptError('', 'plaintext');
    const parts = value.split(':');
    const keyId = parts[2] ?? '';
    const version = `${parts[0]}:${parts[1]}:`;
    if (parts.length !== 6 || (version !== PREFIX && version !== UNBOUND_PREFIX)) {
      throw new AtRestDecryptError(keyId, 'bad_value');
    }
    const bound = version === PREFIX;
    if (!bound && !this.#acceptUnbound) throw new AtRestDecryptError(keyId, 'unbound');
    const key = this.#keys.get(keyId);
    if (!key) throw new AtRestDecryptError(keyId, 'unknown_key');
    const iv = Buffer.from(parts[3]!, 'base64');
    const tag = Buffer.from(parts[4]!, 'base64');
    const ct = Buffer.from(parts[5]!, 'base64');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
      throw new AtRestDecryptError(keyId, 'bad_value');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      if (bound) decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
    } catch {
      throw new AtRestDecryptError(keyId, 'bad_value');
    }
  }
}
