import { createDecipheriv, createHmac } from 'node:crypto';

/**
 * The cryptography of WeChat mini-program login (wechat-api.md §5, §8), as pure functions.
 * Two different uses of the session_key, easy to mix up:
 * - as an HMAC key (login-state signature) it is the base64 STRING itself, its ASCII bytes;
 * - as the AES key of open data it is base64-DECODED (16 bytes).
 */

/** Lowercase hex HMAC-SHA256 of `message` under `key`, both taken as UTF-8 bytes. */
export function hmacSha256Hex(key: string, message: string): string {
  return createHmac('sha256', Buffer.from(key, 'utf8')).update(message, 'utf8').digest('hex');
}

/**
 * The `signature` of /wxa/checksession and /wxa/resetusersessionkey (sig_method
 * hmac_sha256): HMAC-SHA256 of the empty message (a GET has no body) with the session_key
 * string as the key, NOT its base64 decoding.
 */
export function sessionSignature(sessionKey: string): string {
  return hmacSha256Hex(sessionKey, '');
}

/** Which input was malformed: the names of the gRPC/HTTP fields that carry them. */
export type UserDataField = 'encrypted_data' | 'iv' | 'session_key';

/**
 * Open data that cannot be decrypted. `bad_input`: a field is not base64 of the right length
 * (`field` says which): a caller bug. `bad_key_or_data`: well-formed, but the padding or the
 * plaintext is wrong, almost always because the session_key is no longer the one the data
 * was encrypted with. Messages never contain the data, the iv or the key.
 */
export class UserDataDecryptError extends Error {
  override readonly name = 'UserDataDecryptError';

  constructor(
    readonly reason: 'bad_input' | 'bad_key_or_data',
    message: string,
    readonly field?: UserDataField,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The data decrypted, but its watermark names another appid (or none): do not trust it.
 * The message names the appids only, never other plaintext; an actual appid that does not
 * look like one is left out of the message (it stays in `actualAppId`).
 */
export class WatermarkMismatchError extends Error {
  override readonly name = 'WatermarkMismatchError';

  constructor(
    readonly expectedAppId: string,
    /** undefined when the plaintext carries no watermark.appid string. */
    readonly actualAppId: string | undefined,
  ) {
    let found = 'has no watermark appid';
    if (actualAppId !== undefined) {
      found = /^[A-Za-z0-9_-]{1,64}$/.test(actualAppId)
        ? `is watermarked for appid ${actualAppId}`
        : 'is watermarked for another appid';
    }
    super(`open data ${found}, expected ${expectedAppId}`);
  }
}

export interface UserDataInput {
  /** base64 of the AES-128-CBC ciphertext, as the client API returns it. */
  encryptedData: string;
  /** base64 of the 16-byte IV returned next to it. */
  iv: string;
  /** The user's session_key (base64 of 16 bytes) at the time the data was produced. */
  sessionKey: string;
  /** Our appid: the plaintext's watermark.appid must equal it. */
  appId: string;
}

/** Standard base64 with its padding, as WeChat sends it. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const STALE_KEY =
  'cannot decrypt the user data with this session_key: it is probably stale ' +
  '(the user logged in again since the data was produced) or the data is corrupt';

/**
 * Decrypts wx.getUserInfo-style open data (wechat-api.md §8): 1. decode the three base64
 * inputs; 2. AES-128-CBC with PKCS#7; 3. UTF-8 JSON object; 4. watermark.appid check.
 * Throws UserDataDecryptError or WatermarkMismatchError.
 */
export function decryptUserData(input: UserDataInput): Record<string, unknown> {
  const data = decode(input.encryptedData, 'encrypted_data');
  if (data.length === 0 || data.length % 16 !== 0) {
    throw new UserDataDecryptError(
      'bad_input',
      `encrypted_data must decode to a non-empty multiple of 16 bytes, got ${data.length}`,
      'encrypted_data',
    );
  }
  const iv = decode(input.iv, 'iv', 16);
  const key = decode(input.sessionKey, 'session_key', 16);

  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-128-cbc', key, iv);
    plain = Buffer.concat([decipher.update(data), decipher.final()]);
  } catch (err) {
    // OpenSSL's "bad decrypt": the padding is wrong. Its message carries no data.
    throw new UserDataDecryptError('bad_key_or_data', STALE_KEY, undefined, { cause: err });
  }

  const json = parseObject(plain);
  const watermark = json.watermark;
  const actual =
    watermark !== null && typeof watermark === 'object' && !Array.isArray(watermark)
      ? (watermark as Record<string, unknown>).appid
      : undefined;
  if (actual !== input.appId) {
    throw new WatermarkMismatchError(input.appId, typeof actual === 'string' ? actual : undefined);
  }
  return json;
}

/** Strict base64 (Buffer.from skips bad characters silently), of `bytes` length if given. */
function decode(value: string, field: UserDataField, bytes?: number): Buffer {
  if (!BASE64.test(value)) {
    // A classic: a '+' turned into a space by form or query decoding on the way.
    const hint = value.includes(' ') ? " (it contains a space: was a '+' URL-decoded?)" : '';
    throw new UserDataDecryptError('bad_input', `${field} is not valid base64${hint}`, field);
  }
  const buf = Buffer.from(value, 'base64');
  if (bytes !== undefined && buf.length !== bytes) {
    throw new UserDataDecryptError(
      'bad_input',
      `${field} must decode to ${bytes} bytes, got ${buf.length}`,
      field,
    );
  }
  return buf;
}

/**
 * The plaintext as a JSON object. A wrong key passes the padding check about once in 256
 * tries and yields garbage, caught here. The parser's own error is not kept as the cause:
 * V8 quotes the input in it, and the input is the user's personal data.
 */
function parseObject(plain: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain));
  } catch {
    throw new UserDataDecryptError('bad_key_or_data', STALE_KEY);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UserDataDecryptError('bad_key_or_data', STALE_KEY);
  }
  return value as Record<string, unknown>;
}
