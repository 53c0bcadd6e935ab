import { randomBytes, randomInt } from 'node:crypto';

/**
 * A fresh access_token in WeChat's shape: `<2 digits>_<[A-Za-z0-9_-]...>`, `length` characters
 * in all (wechat-api.md §0). Random from crypto, so a token can never be guessed from another.
 */
export function mintTokenValue(length: number): string {
  const prefix = `${randomInt(10, 100)}_`;
  const bodyLength = length - prefix.length;
  // base64url is exactly the alphabet WeChat uses; 3 bytes give 4 characters.
  const body = randomBytes(Math.ceil((bodyLength * 3) / 4))
    .toString('base64url')
    .slice(0, bodyLength);
  return prefix + body;
}
