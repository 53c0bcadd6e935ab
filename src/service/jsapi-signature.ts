import { createHash, randomInt } from 'node:crypto';
import { InvalidArgumentError } from '../shared/errors.js';

/** Longest page URL SignJsapi accepts (browsers cap near 2 MB; real pages are far shorter). */
export const MAX_SIGNED_URL_CHARS = 4_096;
export const NONCE_CHARS = 16;
const NONCE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * The JS-SDK `wx.config` signature: SHA-1 hex of
 * `jsapi_ticket=T&noncestr=N&timestamp=TS&url=U`, keys in this (ASCII) order, raw values,
 * no URL-escaping.
 */
export function jsapiSignature(
  ticket: string,
  nonceStr: string,
  timestamp: number,
  url: string,
): string {
  const plain = `jsapi_ticket=${ticket}&noncestr=${nonceStr}&timestamp=${timestamp}&url=${url}`;
  return createHash('sha1').update(plain).digest('hex');
}

/**
 * The URL as the page signs it: exactly as given up to its `#fragment` (the JS-SDK signs
 * `location.href.split('#')[0]`, so no normalisation: a re-encoded URL would not verify).
 * Must be an absolute http(s) URL.
 */
export function signableUrl(url: string): string {
  if (url === '') throw new InvalidArgumentError('url', 'required: the page URL to sign');
  if (url.length > MAX_SIGNED_URL_CHARS) {
    throw new InvalidArgumentError('url', `longer than ${MAX_SIGNED_URL_CHARS} characters`);
  }
  const page = url.split('#', 1)[0]!;
  let parsed: URL;
  try {
    parsed = new URL(page);
  } catch {
    throw new InvalidArgumentError('url', 'not an absolute URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new InvalidArgumentError('url', 'must be an http or https URL');
  }
  return page;
}

/** A fresh nonce: 16 characters of [A-Za-z0-9] from the CSPRNG. */
export function newNonce(): string {
  let nonce = '';
  for (let i = 0; i < NONCE_CHARS; i++) nonce += NONCE_ALPHABET[randomInt(NONCE_ALPHABET.length)];
  return nonce;
}
