import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

/**
 * WeChat Open Platform message encryption (the WXBizMsgCrypt scheme; design.md "Third-party
 * platform: Events", wechat-api.md §13), on node:crypto only:
 * - msg_signature = SHA-1 hex of the sorted strings [token, timestamp, nonce, Encrypt], joined;
 * - key = base64-decode(EncodingAESKey + "=") (32 bytes), AES-256-CBC, IV = key[0..16);
 * - PKCS#7 padding to 32-byte blocks (1..32 bytes, not AES's 16), so node's auto padding is off
 *   and the padding is checked here;
 * - plaintext = 16 random bytes ‖ 4-byte big-endian length L ‖ L bytes of XML ‖ component appid.
 * Errors carry a reason code; their messages never contain the key, the token or plaintext.
 */

/** Longest `Encrypt` accepted, in base64 characters, checked before anything is decoded. */
export const MAX_ENCRYPT_CHARS = 64 * 1024;
/** How far a message's timestamp may be from now, either way, before it is refused as stale. */
export const REPLAY_WINDOW_MS = 5 * 60 * 1000;

const BLOCK_BYTES = 32;
const RANDOM_BYTES = 16;
const HEADER_BYTES = RANDOM_BYTES + 4;
const AES_KEY_RE = /^[A-Za-z0-9+/]{43}$/;
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;
const SIGNATURE_RE = /^[0-9a-f]{40}$/;
const TIMESTAMP_RE = /^[0-9]{1,12}$/;

export type MessageCryptoErrorReason =
  | 'bad_config'
  | 'bad_signature'
  | 'bad_timestamp'
  | 'stale'
  | 'too_large'
  | 'bad_base64'
  | 'bad_padding'
  | 'bad_length'
  | 'bad_encoding'
  | 'wrong_appid';

/** Why a message (or the configuration) was refused; `field` names the bad config field. */
export class MessageCryptoError extends Error {
  override readonly name = 'MessageCryptoError';

  constructor(
    readonly reason: MessageCryptoErrorReason,
    message: string,
    readonly field?: 'componentAppId' | 'messageToken' | 'encodingAesKey' | 'random16',
  ) {
    super(message);
  }
}

export interface MessageCryptoConfig {
  readonly componentAppId: string;
  /** The message verification Token (消息校验Token) from the Open Platform console. */
  readonly messageToken: string;
  /** The 43-character EncodingAESKey (消息加解密Key) from the Open Platform console. */
  readonly encodingAesKey: string;
}

/** The query parameters and body field of one encrypted POST. */
export interface EncryptedMessage {
  readonly msgSignature: string;
  readonly timestamp: string;
  readonly nonce: string;
  readonly encrypt: string;
}

export class MessageCrypto {
  readonly componentAppId: string;
  readonly #token: string;
  readonly #key: Buffer;
  readonly #appId: Buffer;

  constructor(config: MessageCryptoConfig) {
    const { componentAppId, messageToken, encodingAesKey } = config;
    if (typeof componentAppId !== 'string' || componentAppId.length === 0) {
      throw configError('componentAppId', 'must be a non-empty string');
    }
    if (typeof messageToken !== 'string' || messageToken.length === 0) {
      throw configError('messageToken', 'must be a non-empty string');
    }
    if (typeof encodingAesKey !== 'string' || !AES_KEY_RE.test(encodingAesKey)) {
      throw configError('encodingAesKey', 'must be exactly 43 characters of the base64 alphabet');
    }
    // 43 characters carry 258 bits; the 2 spare bits of the last one are ignored, as WeChat's
    // own samples do, so every key the console issues is accepted.
    const key = Buffer.from(`${encodingAesKey}=`, 'base64');
    if (key.length !== 32) {
      throw configError('encodingAesKey', 'must decode to 32 bytes');
    }
    this.componentAppId = componentAppId;
    this.#token = messageToken;
    this.#key = key;
    this.#appId = Buffer.from(componentAppId, 'utf8');
  }

  /** msg_signature: SHA-1 hex of [token, timestamp, nonce, encrypt] sorted and concatenated. */
  signature(timestamp: string, nonce: string, encrypt: string): string {
    const parts = [this.#token, timestamp, nonce, encrypt].sort();
    return createHash('sha1').update(parts.join(''), 'utf8').digest('hex');
  }

  /**
   * Checks, in order: size, signature (constant time; hex in either case), replay window
   * (±5 minutes of nowMs, either way), then decrypts. Returns the inner XML. A replay inside the
   * window passes: deduplicating by nonce is the caller's business.
   */
  verifyAndDecrypt(message: EncryptedMessage, nowMs: number): string {
    const { msgSignature, timestamp, nonce, encrypt } = message;
    checkSize(encrypt);
    const expected = Buffer.from(this.signature(timestamp, nonce, encrypt), 'utf8');
    const given = Buffer.from(String(msgSignature).toLowerCase(), 'utf8');
    if (!SIGNATURE_RE.test(given.toString()) || !timingSafeEqual(given, expected)) {
      throw new MessageCryptoError('bad_signature', 'msg_signature does not match');
    }
    if (!TIMESTAMP_RE.test(timestamp)) {
      throw new MessageCryptoError('bad_timestamp', 'timestamp is not a number of seconds');
    }
    if (Math.abs(Number(timestamp) * 1000 - nowMs) > REPLAY_WINDOW_MS) {
      throw new MessageCryptoError('stale', 'timestamp is outside the 5-minute replay window');
    }
    return this.decrypt(encrypt);
  }

  /**
   * Decrypts an `Encrypt` value and returns the inner XML; the trailing appid must be ours.
   * CBC is malleable and the reasons below differ, so an endpoint calls verifyAndDecrypt (the
   * signature first) and answers every refusal alike: no padding oracle without the token.
   */
  decrypt(encryptBase64: string): string {
    // 1. Bound and decode strictly (Buffer.from skips bad characters silently).
    checkSize(encryptBase64);
    if (encryptBase64.length % 4 !== 0 || !BASE64_RE.test(encryptBase64)) {
      throw new MessageCryptoError('bad_base64', 'Encrypt is not base64');
    }
    const cipherText = Buffer.from(encryptBase64, 'base64');
    if (cipherText.length === 0 || cipherText.length % BLOCK_BYTES !== 0) {
      throw new MessageCryptoError('bad_length', 'Encrypt is not whole 32-byte blocks');
    }
    // 2. AES-256-CBC without node's 16-byte padding.
    const decipher = createDecipheriv('aes-256-cbc', this.#key, this.#key.subarray(0, 16));
    decipher.setAutoPadding(false);
    const padded = Buffer.concat([decipher.update(cipherText), decipher.final()]);
    // 3. PKCS#7 to 32-byte blocks.
    const plain = unpad(padded);
    // 4. random(16) ‖ L ‖ XML ‖ appid.
    if (plain.length < HEADER_BYTES) {
      throw new MessageCryptoError('bad_length', 'plaintext is shorter than its header');
    }
    const xmlLength = plain.readUInt32BE(RANDOM_BYTES);
    if (xmlLength > plain.length - HEADER_BYTES) {
      throw new MessageCryptoError('bad_length', 'message length exceeds the plaintext');
    }
    const xmlEnd = HEADER_BYTES + xmlLength;
    if (!plain.subarray(xmlEnd).equals(this.#appId)) {
      throw new MessageCryptoError('wrong_appid', 'message is not for this component appid');
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(plain.subarray(HEADER_BYTES, xmlEnd));
    } catch {
      throw new MessageCryptoError('bad_encoding', 'message XML is not UTF-8');
    }
  }

  /** The inverse of decrypt (simulator, tests). `random16` defaults to 16 random bytes. */
  encrypt(xml: string, random16: Buffer = randomBytes(RANDOM_BYTES)): string {
    if (random16.length !== RANDOM_BYTES) {
      throw new MessageCryptoError('bad_config', 'random16 must be 16 bytes', 'random16');
    }
    const body = Buffer.from(xml, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    const plain = Buffer.concat([random16, length, body, this.#appId]);
    const padLength = BLOCK_BYTES - (plain.length % BLOCK_BYTES);
    const cipher = createCipheriv('aes-256-cbc', this.#key, this.#key.subarray(0, 16));
    cipher.setAutoPadding(false);
    const encrypted = Buffer.concat([
      cipher.update(Buffer.concat([plain, Buffer.alloc(padLength, padLength)])),
      cipher.final(),
    ]).toString('base64');
    checkSize(encrypted);
    return encrypted;
  }

  /** Encrypts and signs: what WeChat (or the simulator) sends for one event. */
  seal(xml: string, timestamp: string, nonce: string, random16?: Buffer): EncryptedMessage {
    const encrypt = this.encrypt(xml, random16);
    return { msgSignature: this.signature(timestamp, nonce, encrypt), timestamp, nonce, encrypt };
  }
}

function configError(field: 'componentAppId' | 'messageToken' | 'encodingAesKey', problem: string) {
  return new MessageCryptoError('bad_config', `${field}: ${problem}`, field);
}

function checkSize(encrypt: string): void {
  if (typeof encrypt !== 'string') {
    throw new MessageCryptoError('bad_base64', 'Encrypt is not a string');
  }
  if (encrypt.length > MAX_ENCRYPT_CHARS) {
    throw new MessageCryptoError(
      'too_large',
      `Encrypt is longer than ${MAX_ENCRYPT_CHARS} characters`,
    );
  }
}

/** Strips PKCS#7 padding to 32-byte blocks: 1..32 bytes, each equal to the count. */
function unpad(padded: Buffer): Buffer {
  const count = padded[padded.length - 1] ?? 0;
  if (count < 1 || count > BLOCK_BYTES) {
    throw new MessageCryptoError('bad_padding', 'padding is not PKCS#7 to 32-byte blocks');
  }
  for (let i = padded.length - count; i < padded.length; i++) {
    if (padded[i] !== count) {
      throw new MessageCryptoError('bad_padding', 'padding is not PKCS#7 to 32-byte blocks');
    }
  }
  return padded.subarray(0, padded.length - count);
}
