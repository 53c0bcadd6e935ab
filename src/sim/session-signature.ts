import { createHmac } from 'node:crypto';

/**
 * The signature checksession and resetusersessionkey expect (wechat-api.md §5): lowercase hex
 * HMAC-SHA256 keyed with the session_key string as it is (its ASCII bytes, NOT base64-decoded).
 * Both endpoints sign the empty message; `message` exists so the official vector can be checked.
 */
export function sessionSignature(sessionKey: string, message = ''): string {
  return createHmac('sha256', Buffer.from(sessionKey, 'utf8')).update(message).digest('hex');
}
