import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decryptUserData,
  hmacSha256Hex,
  sessionSignature,
  UserDataDecryptError,
  WatermarkMismatchError,
  type UserDataInput,
} from '../../src/login/wechat-crypto.js';

/**
 * Official vectors (wechat-api.md §5, §8):
 * - HMAC: mini-game doc "用户登录态签名" (developers.weixin.qq.com/minigame/dev/tutorial/
 *   open-ability/http-signature.html): hmac_sha256('{"foo":"bar"}', 'o0q0otL8aEzpcZL/FT9WsQ==').
 * - AES: mini-program doc "用户数据的签名验证和加解密" (developers.weixin.qq.com/miniprogram/dev/
 *   framework/open-ability/signature.html), its demo data, as in wechatpy/wechatpy
 *   tests/test_crypto.py test_wxa_decrypt_message (appid, session_key, iv, encrypted_data).
 */

const HMAC_KEY = 'o0q0otL8aEzpcZL/FT9WsQ==';
const HMAC_DIGEST = '654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b';

/** Another well-formed session_key (the same doc's wx.getUserInfo example). */
const RAW_SESSION_KEY = 'HyVFkGl5F5OQWJZZaNzBBg==';

const APP_ID = 'wx4f4bc4dec97d474b';
const SESSION_KEY = 'tiihtNczf5v6AKRyjwEUhQ==';
const IV = 'r7BXXKkLb8qrSNn05n0qiA==';
const ENCRYPTED_DATA =
  'CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC' +
  '+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2' +
  '/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz' +
  '/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E' +
  '/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns' +
  '/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG' +
  '20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==';
/** Still well-formed (whole blocks), but its last block is gone: the padding is wrong. */
const CUT_BY_ONE_BLOCK = Buffer.from(ENCRYPTED_DATA, 'base64').subarray(0, -16).toString('base64');
const OFFICIAL: UserDataInput = {
  encryptedData: ENCRYPTED_DATA,
  iv: IV,
  sessionKey: SESSION_KEY,
  appId: APP_ID,
};

/** Encrypts a plaintext the way WeChat does, for cases the official vector cannot show. */
function encrypt(plaintext: string, sessionKey: string, iv: Buffer): string {
  const cipher = createCipheriv('aes-128-cbc', Buffer.from(sessionKey, 'base64'), iv);
  return Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64');
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('hmacSha256Hex / sessionSignature (login-state signature, §5)', () => {
  it('matches the official example with the session_key string as the key', () => {
    expect(hmacSha256Hex(HMAC_KEY, '{"foo":"bar"}')).toBe(HMAC_DIGEST);
  });

  it('is NOT keyed with the base64-decoded session_key', () => {
    const decodedKeyDigest = createHmac('sha256', Buffer.from(HMAC_KEY, 'base64'))
      .update('{"foo":"bar"}')
      .digest('hex');
    expect(decodedKeyDigest).not.toBe(HMAC_DIGEST);
    expect(hmacSha256Hex(HMAC_KEY, '{"foo":"bar"}')).not.toBe(decodedKeyDigest);
  });

  it('signs the empty message for checksession/resetusersessionkey (GET: no body)', () => {
    expect(sessionSignature(HMAC_KEY)).toBe(hmacSha256Hex(HMAC_KEY, ''));
    expect(sessionSignature(HMAC_KEY)).toBe(
      createHmac('sha256', HMAC_KEY).update('').digest('hex'),
    );
    expect(sessionSignature(HMAC_KEY)).toMatch(/^[0-9a-f]{64}$/);
    expect(sessionSignature(SESSION_KEY)).not.toBe(sessionSignature(HMAC_KEY));
  });
});

describe('decryptUserData (AES-128-CBC open data, §8)', () => {
  it('decrypts the official example', () => {
    const data = decryptUserData(OFFICIAL);
    expect(data).toMatchObject({
      openId: 'oGZUI0egBJY1zhBYw2KhdUfwVJJE',
      nickName: 'Band',
      unionId: 'ocMvos6NjeKLIBqg5Mr9QjxrP1FA',
      watermark: { appid: APP_ID, timestamp: 1477314187 },
    });
  });

  it('rejects another appid with WatermarkMismatchError, without the plaintext', () => {
    const err = thrown(() => decryptUserData({ ...OFFICIAL, appId: 'wx0000000000000000' }));
    expect(err).toBeInstanceOf(WatermarkMismatchError);
    const wm = err as WatermarkMismatchError;
    expect(wm.name).toBe('WatermarkMismatchError');
    expect(wm.expectedAppId).toBe('wx0000000000000000');
    expect(wm.actualAppId).toBe(APP_ID);
    expect(wm.message).toBe(
      `open data is watermarked for appid ${APP_ID}, expected wx0000000000000000`,
    );
    for (const plain of ['oGZUI0egBJY1zhBYw2KhdUfwVJJE', 'Band', 'ocMvos6', 'Guangzhou']) {
      expect(wm.message).not.toContain(plain);
    }
  });

  it.each([
    ['no watermark', { openId: 'o1' }, undefined],
    ['a watermark that is not an object', { watermark: 'wx1' }, undefined],
    ['a watermark appid that is not a string', { watermark: { appid: 7 } }, undefined],
    ['a watermark appid that does not look like one', { watermark: { appid: 'a b' } }, 'a b'],
  ])('rejects %s (self-encrypted)', (_name, payload, actual) => {
    const iv = randomBytes(16);
    const input = {
      encryptedData: encrypt(JSON.stringify(payload), SESSION_KEY, iv),
      iv: iv.toString('base64'),
      sessionKey: SESSION_KEY,
      appId: APP_ID,
    };
    const err = thrown(() => decryptUserData(input)) as WatermarkMismatchError;
    expect(err).toBeInstanceOf(WatermarkMismatchError);
    expect(err.actualAppId).toBe(actual);
    expect(err.message).not.toContain('o1');
    expect(err.message).not.toContain('a b');
  });

  it('round-trips a self-encrypted payload with non-ASCII text', () => {
    const iv = randomBytes(16);
    const payload = { nickName: '微信用户', watermark: { appid: APP_ID, timestamp: 1 } };
    const input = {
      encryptedData: encrypt(JSON.stringify(payload), SESSION_KEY, iv),
      iv: iv.toString('base64'),
      sessionKey: SESSION_KEY,
      appId: APP_ID,
    };
    expect(decryptUserData(input)).toEqual(payload);
  });

  it.each([
    ['another session_key (stale: the user logged in again)', { sessionKey: RAW_SESSION_KEY }],
    ['another iv', { iv: 'AAAAAAAAAAAAAAAAAAAAAA==' }],
    ['a ciphertext cut by one block', { encryptedData: CUT_BY_ONE_BLOCK }],
  ])('%s → bad_key_or_data', (_name, change) => {
    const input = { ...OFFICIAL, ...change };
    const err = thrown(() => decryptUserData(input)) as UserDataDecryptError;
    expect(err).toBeInstanceOf(UserDataDecryptError);
    expect(err.name).toBe('UserDataDecryptError');
    expect(err.reason).toBe('bad_key_or_data');
    expect(err.field).toBeUndefined();
    expect(err.message).toMatch(/session_key.*stale.*logged in again/);
    expect(err.message).not.toContain(input.sessionKey);
  });

  it('plaintext that is not a JSON object → bad_key_or_data, parser error not kept', () => {
    const iv = randomBytes(16);
    for (const plaintext of ['not json: oGZUI0egBJY1', '[1,2]', 'null']) {
      const err = thrown(() =>
        decryptUserData({
          encryptedData: encrypt(plaintext, SESSION_KEY, iv),
          iv: iv.toString('base64'),
          sessionKey: SESSION_KEY,
          appId: APP_ID,
        }),
      ) as UserDataDecryptError;
      expect(err.reason).toBe('bad_key_or_data');
      expect(err.cause).toBeUndefined();
      expect(err.message).not.toContain('oGZUI0egBJY1');
    }
  });

  it.each<[string, Partial<UserDataInput>, 'encrypted_data' | 'iv' | 'session_key', RegExp]>([
    ['encryptedData not base64', { encryptedData: 'not base64!' }, 'encrypted_data', /base64/],
    [
      "encryptedData with a '+' decoded to a space",
      { encryptedData: ENCRYPTED_DATA.replace('+', ' ') },
      'encrypted_data',
      /contains a space/,
    ],
    ['encryptedData empty', { encryptedData: '' }, 'encrypted_data', /multiple of 16 bytes, got 0/],
    ['encryptedData not whole blocks', { encryptedData: 'AAAA' }, 'encrypted_data', /got 3/],
    ['encryptedData without padding', { encryptedData: 'AAAAAA' }, 'encrypted_data', /base64/],
    ['iv not base64', { iv: 'r7BXXKkLb8qrSNn05n0qiA=' }, 'iv', /base64/],
    ['iv of 12 bytes', { iv: 'AAAAAAAAAAAAAAAA' }, 'iv', /iv must decode to 16 bytes, got 12/],
    ['iv empty', { iv: '' }, 'iv', /got 0/],
    ['session_key of 32 bytes', { sessionKey: 'A'.repeat(44) }, 'session_key', /16 bytes/],
    ['session_key not base64', { sessionKey: 'tiihtNczf5v6AKRy-wEUhQ==' }, 'session_key', /base64/],
  ])('%s → bad_input naming the field', (_name, change, field, message) => {
    const err = thrown(() => decryptUserData({ ...OFFICIAL, ...change })) as UserDataDecryptError;
    expect(err).toBeInstanceOf(UserDataDecryptError);
    expect(err.reason).toBe('bad_input');
    expect(err.field).toBe(field);
    expect(err.message).toMatch(new RegExp(`^${field} `));
    expect(err.message).toMatch(message);
  });
});
