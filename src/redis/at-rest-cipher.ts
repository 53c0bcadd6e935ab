import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** Prefix of a sealed value; anything else is legacy plaintext, returned as is by `open`. */
const PREFIX = 'enc:v1:';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Encrypts values before they reach Redis and decrypts them after (issue 6). */
export interface ValueCipher {
  seal(plaintext: string): string;
  open(value: string): string;
}

/**
 * A sealed value cannot be opened: its key id is not configured, or it was tampered with or
 * sealed under another key. The message names the key id, never key material or plaintext.
 */
export class AtRestDecryptError extends Error {
  override readonly name = 'AtRestDecryptError';
  constructor(
    readonly keyId: string,
    readonly reason: 'unknown_key' | 'bad_value',
  ) {
    super(
      reason === 'unknown_key'
        ? `cannot decrypt a value stored in Redis: key id ${JSON.stringify(keyId)} is not configured in redis.encryption.keys`
        : `cannot decrypt a value stored in Redis under key id ${JSON.stringify(keyId)}: malformed, tampered with, or the key changed`,
    );
  }
}

/** Encryption off: values are stored as they are. */
export class NoCipher implements ValueCipher {
  seal(plaintext: string): string {
    return plaintext;
  }

  open(value: string): string {
    return value;
  }
}

/**
 * AES-256-GCM with a random 12-byte IV per value. A sealed value is
 * `enc:v1:<key id>:<iv b64>:<tag b64>:<ciphertext b64>`: it names its key, so keys can rotate
 * (seal under `currentKeyId`, open under any configured key). A value without the `enc:`
 * prefix was written before encryption was turned on and is returned as is; the next rotation
 * rewrites it sealed.
 */
export class AtRestCipher implements ValueCipher {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #currentKeyId: string;

  constructor(keys: Map<string, Buffer>, currentKeyId: string) {
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
  }

  seal(plaintext: string): string {
    const key = this.#keys.get(this.#currentKeyId)!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return `${PREFIX}${this.#currentKeyId}:${iv.toString('base64')}:${tag.toString('base64')}:${ct.toString('base64')}`;
  }

  open(value: string): string {
    if (!value.startsWith('enc:')) return value;
    const parts = value.split(':');
    const keyId = parts[2] ?? '';
    if (parts.length !== 6 || `${parts[0]}:${parts[1]}:` !== PREFIX) {
      throw new AtRestDecryptError(keyId, 'bad_value');
    }
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
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
    } catch {
      throw new AtRestDecryptError(keyId, 'bad_value');
    }
  }
}
