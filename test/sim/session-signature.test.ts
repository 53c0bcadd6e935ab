import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sessionSignature } from '../../src/sim/session-signature.js';

// The official example (wechat-api.md §5): the session_key string is the HMAC key as it is.
const KEY = 'o0q0otL8aEzpcZL/FT9WsQ==';
const OFFICIAL = '654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b';

describe('sessionSignature (wechat-api.md §5)', () => {
  it('matches the official vector over {"foo":"bar"}: the key is used raw, as ASCII', () => {
    expect(sessionSignature(KEY, '{"foo":"bar"}')).toBe(OFFICIAL);
  });

  it('differs from an HMAC keyed with the base64-decoded key', () => {
    const decoded = createHmac('sha256', Buffer.from(KEY, 'base64'))
      .update('{"foo":"bar"}')
      .digest('hex');
    expect(decoded).not.toBe(OFFICIAL);
  });

  it('signs the empty message by default, as checksession does, in lowercase hex', () => {
    const empty = createHmac('sha256', KEY).update('').digest('hex');
    expect(sessionSignature(KEY)).toBe(empty);
    expect(sessionSignature(KEY)).toMatch(/^[0-9a-f]{64}$/);
    expect(sessionSignature(KEY)).not.toBe(OFFICIAL);
  });
});
