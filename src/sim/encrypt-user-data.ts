import { createCipheriv, randomBytes } from 'node:crypto';
import type { SimEncryptedData } from './types.js';

/**
 * Open data as wx.getUserInfo / the old getPhoneNumber hand it to the device (wechat-api.md §8):
 * AES-128-CBC with PKCS#7 padding, key = base64-decode(session_key), a random 16-byte IV, and a
 * plaintext of the data plus `watermark: {appid, timestamp}` (unix seconds) naming the app.
 */
export function encryptUserData(
  sessionKey: string,
  data: Readonly<Record<string, unknown>>,
  watermark: { appid: string; timestamp: number },
): SimEncryptedData {
  const key = Buffer.from(sessionKey, 'base64');
  const iv = randomBytes(16);
  // Node's default for CBC is PKCS#7 padding.
  const cipher = createCipheriv('aes-128-cbc', key, iv);
  const plaintext = JSON.stringify({ ...data, watermark });
  const encrypted = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { encryptedData: encrypted.toString('base64'), iv: iv.toString('base64') };
}
