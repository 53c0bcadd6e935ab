import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_ENCRYPT_CHARS,
  MessageCrypto,
  MessageCryptoError,
  REPLAY_WINDOW_MS,
  type MessageCryptoErrorReason,
} from '../../src/wechat/message-crypto.js';
import {
  EventXmlError,
  parseEventXml,
  type EventXmlErrorReason,
} from '../../src/wechat/event-xml.js';

/**
 * design.md "Third-party platform: Events": msg_signature = SHA-1 hex of the sorted strings
 * (token, timestamp, nonce, Encrypt); AES-256-CBC, key = base64-decode(EncodingAESKey + "="),
 * IV = key[0..16), PKCS#7 to 32-byte blocks; plaintext = 16 random bytes ‖ 4-byte big-endian
 * length ‖ XML ‖ component appid, which must match; bad signature, replay older than 5 minutes
 * or wrong appid refused.
 */

/**
 * Vector A: wechatpy/wechatpy tests/test_crypto.py (WeChatCrypto, the same WXBizMsgCrypt scheme
 * with the corp id in the appid slot): test_decrypt_message (signature, timestamp, nonce, Encrypt)
 * and test_encrypt_message (random string "1234567890123456" → expected Encrypt and
 * MsgSignature).
 */
const A = {
  token: '123456',
  encodingAesKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR',
  appId: 'wx49f0ab532d5d035a',
  timestamp: '1411525903',
  nonce: '461056294',
  msgSignature: '74d92dfeb87ba7c714f89d98870ae5eb62dff26d',
  encrypt:
    'RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXz' +
    'F6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gY' +
    'Nx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2S' +
    'jHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En74' +
    '9zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=',
  reply:
    '<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n' +
    '<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n' +
    '<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n' +
    '<CreateTime>1411525903</CreateTime>\n</xml>',
  replyEncrypt:
    '9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8Gq' +
    'xlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qv' +
    'SUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQy' +
    'PR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3',
  replySignature: '407518b7649e86ef23978113f92d27afa9296533',
};

/**
 * Vector B: WeChat's own WXBizMsgCrypt sample (Sample.py by jonyqin, Tencent, 2014, shipped with
 * the 消息加解密 download; copied verbatim e.g. in charlesXu86/Chatbot_CN
 * Chatbot_Web/impl/weixin/Sample.py and fotock/WXbizMsgCrypt-Node README.md): the 测试解密接口 part.
 */
const B = {
  token: 'spamtest',
  encodingAesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  appId: 'wx2c2769f8efd9abc2',
  timestamp: '1409735669',
  nonce: '1320562132',
  msgSignature: '5d197aaffba7e9b25a30732f161a50dee96bd5fa',
  encrypt:
    'hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHF' +
    'VAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVti' +
    'cbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpA' +
    'e+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCum' +
    'EPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=',
};

/** A component of our own for the crafted cases. */
const C = {
  componentAppId: 'wx0123456789abcdef',
  messageToken: 'component-token',
  encodingAesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
const C_KEY = Buffer.from(`${C.encodingAesKey}=`, 'base64');
const TICKET_XML =
  '<xml><AppId><![CDATA[wx0123456789abcdef]]></AppId><CreateTime>1764842400</CreateTime>' +
  '<InfoType><![CDATA[component_verify_ticket]]></InfoType>' +
  '<ComponentVerifyTicket><![CDATA[ticket@@@SECRET-TICKET-VALUE]]></ComponentVerifyTicket></xml>';
const NOW_MS = 1_764_842_400_000;
const NOW_S = String(NOW_MS / 1000);

const crypto = (): MessageCrypto => new MessageCrypto(C);

function requireTool(name: string): void {
  const probe = spawnSync(name, ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    throw new Error(`${name} is needed for the independent vector: apt-get install -y ${name}`);
  }
}

/** AES-256-CBC with no padding, by Debian's openssl binary (not node:crypto). */
function openssl(mode: 'encrypt' | 'decrypt', key: Buffer, input: Buffer): Buffer {
  requireTool('openssl');
  const args = ['enc', '-aes-256-cbc', '-nopad', '-K', key.toString('hex')];
  args.push('-iv', key.subarray(0, 16).toString('hex'));
  if (mode === 'decrypt') args.push('-d');
  const run = spawnSync('openssl', args, { input });
  if (run.status !== 0) throw new Error(`openssl failed: ${run.stderr.toString()}`);
  return run.stdout;
}

/** SHA-1 hex by coreutils' sha1sum. */
function sha1sum(text: string): string {
  requireTool('sha1sum');
  const run = spawnSync('sha1sum', [], { input: Buffer.from(text, 'utf8'), encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`sha1sum failed: ${run.stderr}`);
  return run.stdout.split(' ')[0] ?? '';
}

/** random ‖ L ‖ xml ‖ appid, then PKCS#7 to 32 bytes, assembled byte by byte. */
function handBuiltPlaintext(random16: Buffer, xml: Buffer, appId: Buffer): Buffer {
  const header = Buffer.from([...random16, 0, 0, (xml.length >> 8) & 0xff, xml.length & 0xff]);
  const unpadded = Buffer.concat([header, xml, appId]);
  const pad = 32 - (unpadded.length % 32);
  return Buffer.concat([unpadded, Buffer.alloc(pad, pad)]);
}

/** Catches the MessageCryptoError, checks its reason and that it leaks nothing secret. */
function expectRefusal(fn: () => unknown, reason: MessageCryptoErrorReason): MessageCryptoError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(MessageCryptoError);
  const err = caught as MessageCryptoError;
  expect(err.reason).toBe(reason);
  const text = `${err.message} ${String(err.stack)} ${JSON.stringify(err)}`;
  for (const secret of [
    C.encodingAesKey,
    C_KEY.toString('hex'),
    C_KEY.toString('base64'),
    C.messageToken,
    'SECRET-TICKET-VALUE',
    'ComponentVerifyTicket',
  ]) {
    expect(text).not.toContain(secret);
  }
  return err;
}

function encryptWithOpenssl(plain: Buffer): string {
  return openssl('encrypt', C_KEY, plain).toString('base64');
}

describe('MessageCrypto: independent vectors (Third-party platform: Events)', () => {
  it('decrypts and verifies wechatpy test_decrypt_message (vector A)', () => {
    const a = new MessageCrypto({ componentAppId: A.appId, messageToken: A.token, ...A });
    expect(a.signature(A.timestamp, A.nonce, A.encrypt)).toBe(A.msgSignature);
    const xml = a.verifyAndDecrypt(A, Number(A.timestamp) * 1000);
    expect(xml).toContain('<Content><![CDATA[test]]></Content>');
    expect(xml).toContain('<FromUserName><![CDATA[messense]]></FromUserName>');
    expect(xml.startsWith('<xml>') && xml.endsWith('</xml>')).toBe(true);
  });

  it('encrypts exactly as wechatpy test_encrypt_message with its fixed random (vector A)', () => {
    const a = new MessageCrypto({ componentAppId: A.appId, messageToken: A.token, ...A });
    const sealed = a.seal(A.reply, A.timestamp, A.nonce, Buffer.from('1234567890123456'));
    expect(sealed.encrypt).toBe(A.replyEncrypt);
    expect(sealed.msgSignature).toBe(A.replySignature);
  });

  it("decrypts and verifies WeChat's own Sample.py message (vector B)", () => {
    const b = new MessageCrypto({ componentAppId: B.appId, messageToken: B.token, ...B });
    const xml = b.verifyAndDecrypt(B, Number(B.timestamp) * 1000);
    expect(xml).toContain('<Content><![CDATA[abcdteT]]></Content>');
    expect(xml).toContain('<MsgId>6054768590064713728</MsgId>');
  });

  it('decrypts a ciphertext made by openssl enc -nopad from a hand-padded plaintext', () => {
    const random16 = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const plain = handBuiltPlaintext(
      random16,
      Buffer.from(TICKET_XML),
      Buffer.from(C.componentAppId),
    );
    const encrypt = encryptWithOpenssl(plain);
    const msgSignature = sha1sum([C.messageToken, NOW_S, 'nonce1', encrypt].sort().join(''));
    expect(crypto().signature(NOW_S, 'nonce1', encrypt)).toBe(msgSignature);
    expect(
      crypto().verifyAndDecrypt(
        { msgSignature, timestamp: NOW_S, nonce: 'nonce1', encrypt },
        NOW_MS,
      ),
    ).toBe(TICKET_XML);
    // ...and the inverse: our encrypt, decrypted by openssl, is that same hand-built plaintext.
    const ours = Buffer.from(crypto().encrypt(TICKET_XML, random16), 'base64');
    expect(openssl('decrypt', C_KEY, ours).equals(plain)).toBe(true);
  });

  it('pads a whole 32-byte block when the plaintext is already aligned (padding 32, via openssl)', () => {
    // 16 + 4 + L + 18 (appid) = 64 when L = 26.
    const xml = Buffer.from('<xml><A>0123456789</A></xml>'.slice(0, 26));
    const plain = handBuiltPlaintext(Buffer.alloc(16, 7), xml, Buffer.from(C.componentAppId));
    expect(plain.length).toBe(96);
    expect(plain.subarray(64).equals(Buffer.alloc(32, 32))).toBe(true);
    expect(crypto().decrypt(encryptWithOpenssl(plain))).toBe(xml.toString());
  });
});

describe('MessageCrypto: round trip', () => {
  it.each([
    ['ASCII event', TICKET_XML],
    ['UTF-8 text', '<xml><Content><![CDATA[我是中文abcd123]]></Content></xml>'],
    ['empty', ''],
    ['31 to 33 bytes', 'x'.repeat(31)],
  ])('seal then verifyAndDecrypt returns the XML (%s)', (_name, xml) => {
    const sealed = crypto().seal(xml, NOW_S, 'n', undefined);
    expect(crypto().verifyAndDecrypt(sealed, NOW_MS)).toBe(xml);
  });

  it('uses fresh random bytes each time', () => {
    expect(crypto().encrypt(TICKET_XML)).not.toBe(crypto().encrypt(TICKET_XML));
  });
});

describe('MessageCrypto: refusals (Third-party platform: Events — refused, nothing stored)', () => {
  const sealed = crypto().seal(TICKET_XML, NOW_S, 'nonce', Buffer.alloc(16, 1));

  it('bad signature: one hex digit changed, wrong length, or signed with another token', () => {
    const flipped = sealed.msgSignature.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    expectRefusal(
      () => crypto().verifyAndDecrypt({ ...sealed, msgSignature: flipped }, NOW_MS),
      'bad_signature',
    );
    expectRefusal(
      () => crypto().verifyAndDecrypt({ ...sealed, msgSignature: 'abc' }, NOW_MS),
      'bad_signature',
    );
    const other = new MessageCrypto({ ...C, messageToken: 'another' }).seal(
      TICKET_XML,
      NOW_S,
      'nonce',
    );
    expectRefusal(() => crypto().verifyAndDecrypt(other, NOW_MS), 'bad_signature');
  });

  it('bad signature: the nonce or timestamp changed after signing', () => {
    expectRefusal(
      () => crypto().verifyAndDecrypt({ ...sealed, nonce: 'other' }, NOW_MS),
      'bad_signature',
    );
    expectRefusal(
      () => crypto().verifyAndDecrypt({ ...sealed, timestamp: String(Number(NOW_S) + 1) }, NOW_MS),
      'bad_signature',
    );
  });

  it.each([
    ['5 min 1 s old', -REPLAY_WINDOW_MS - 1000],
    ['5 min 1 s ahead', REPLAY_WINDOW_MS + 1000],
  ])('stale: timestamp %s is refused', (_name, offsetMs) => {
    const ts = String((NOW_MS + offsetMs) / 1000);
    const msg = crypto().seal(TICKET_XML, ts, 'n');
    expectRefusal(() => crypto().verifyAndDecrypt(msg, NOW_MS), 'stale');
  });

  it.each([
    ['exactly 5 min old', -REPLAY_WINDOW_MS],
    ['exactly 5 min ahead', REPLAY_WINDOW_MS],
  ])('within the window: timestamp %s is accepted', (_name, offsetMs) => {
    const msg = crypto().seal(TICKET_XML, String((NOW_MS + offsetMs) / 1000), 'n');
    expect(crypto().verifyAndDecrypt(msg, NOW_MS)).toBe(TICKET_XML);
  });

  it('bad timestamp: not a number of seconds (even when correctly signed)', () => {
    expectRefusal(
      () => crypto().verifyAndDecrypt(crypto().seal(TICKET_XML, '1e9', 'n'), NOW_MS),
      'bad_timestamp',
    );
  });

  it('too large: an Encrypt over the maximum is refused before it is decoded or hashed', () => {
    const huge = 'A'.repeat(MAX_ENCRYPT_CHARS + 4);
    expectRefusal(() => crypto().decrypt(huge), 'too_large');
    expectRefusal(
      () => crypto().verifyAndDecrypt({ ...sealed, encrypt: huge }, NOW_MS),
      'too_large',
    );
    expectRefusal(() => crypto().encrypt('x'.repeat(MAX_ENCRYPT_CHARS)), 'too_large');
  });

  it.each([
    ['a character outside base64', `${sealed.encrypt.slice(0, -4)}A*A=`],
    ['URL-safe base64', `${sealed.encrypt.slice(0, -4)}ab-_`],
    ['a length not a multiple of 4', sealed.encrypt.slice(0, -1)],
    ['padding in the middle', `AA==${sealed.encrypt}`],
    ['empty', ''],
    ['whitespace', ` ${sealed.encrypt.slice(1)}`],
  ])('bad base64: %s', (_name, encrypt) => {
    expectRefusal(() => crypto().decrypt(encrypt), 'bad_base64');
  });

  it('bad length: not whole 32-byte blocks', () => {
    const oneAesBlock = Buffer.from(sealed.encrypt, 'base64').subarray(0, 48).toString('base64');
    expectRefusal(() => crypto().decrypt(oneAesBlock), 'bad_length');
  });

  it('bad padding: the last plaintext byte flipped through the previous ciphertext block', () => {
    const bytes = Buffer.from(sealed.encrypt, 'base64');
    bytes[bytes.length - 17] = (bytes[bytes.length - 17] ?? 0) ^ 0x40; // pad byte → > 32
    expectRefusal(() => crypto().decrypt(bytes.toString('base64')), 'bad_padding');
  });

  it('bad padding: a count in range whose bytes disagree, and a zero count (openssl-made)', () => {
    const plain = handBuiltPlaintext(
      Buffer.alloc(16),
      Buffer.from(TICKET_XML),
      Buffer.from(C.componentAppId),
    );
    const inconsistent = Buffer.from(plain);
    inconsistent[inconsistent.length - 1] = 32; // claims 32 bytes of padding that are not all 32
    if (plain[plain.length - 1] === 32) inconsistent[inconsistent.length - 2] = 31;
    expectRefusal(() => crypto().decrypt(encryptWithOpenssl(inconsistent)), 'bad_padding');
    const zero = Buffer.from(plain);
    zero[zero.length - 1] = 0;
    expectRefusal(() => crypto().decrypt(encryptWithOpenssl(zero)), 'bad_padding');
  });

  it('bad length: the first ciphertext byte flipped makes L larger than what is left', () => {
    // CBC: flipping byte 0 of block 0 garbles block 0 (the random) and flips byte 16 of the
    // plaintext, the top byte of L.
    const bytes = Buffer.from(sealed.encrypt, 'base64');
    bytes[0] = (bytes[0] ?? 0) ^ 0x80;
    expectRefusal(() => crypto().decrypt(bytes.toString('base64')), 'bad_length');
  });

  it('bad length: L one byte past the end, and a plaintext shorter than its header (openssl-made)', () => {
    const plain = handBuiltPlaintext(
      Buffer.alloc(16),
      Buffer.from(TICKET_XML),
      Buffer.from(C.componentAppId),
    );
    const padCount = plain[plain.length - 1] ?? 0;
    const longL = Buffer.from(plain);
    longL.writeUInt32BE(TICKET_XML.length + C.componentAppId.length + 1, 16);
    expectRefusal(() => crypto().decrypt(encryptWithOpenssl(longL)), 'bad_length');
    expect(padCount).toBeGreaterThan(0);
    const short = Buffer.concat([Buffer.alloc(19), Buffer.alloc(13, 13)]); // 19 bytes + padding 13
    expectRefusal(() => crypto().decrypt(encryptWithOpenssl(short)), 'bad_length');
  });

  it('wrong appid: a message for another component, and the appid with a byte missing', () => {
    const other = new MessageCrypto({ ...C, componentAppId: 'wxffffffffffffffff' });
    expectRefusal(() => crypto().decrypt(other.encrypt(TICKET_XML)), 'wrong_appid');
    const truncated = handBuiltPlaintext(
      Buffer.alloc(16),
      Buffer.from(TICKET_XML),
      Buffer.from(C.componentAppId.slice(0, -1)),
    );
    expectRefusal(() => crypto().decrypt(encryptWithOpenssl(truncated)), 'wrong_appid');
  });

  it('wrong appid: through verifyAndDecrypt with a correct signature', () => {
    const other = new MessageCrypto({ ...C, componentAppId: 'wxffffffffffffffff' });
    const msg = other.seal(TICKET_XML, NOW_S, 'n');
    expectRefusal(() => crypto().verifyAndDecrypt(msg, NOW_MS), 'wrong_appid');
  });

  it('bad encoding: XML bytes that are not UTF-8', () => {
    const plain = handBuiltPlaintext(
      Buffer.alloc(16),
      Buffer.from([0x3c, 0xff, 0xfe, 0x3e]),
      Buffer.from(C.componentAppId),
    );
    expectRefusal(() => crypto().decrypt(encryptWithOpenssl(plain)), 'bad_encoding');
  });
});

describe('MessageCrypto: order of checks and arbitrary input (Third-party platform: Events)', () => {
  it('checks the signature before anything is decoded: garbage with a bad signature is bad_signature', () => {
    const msg = { msgSignature: '0'.repeat(40), timestamp: 'x', nonce: 'n', encrypt: '***' };
    expectRefusal(() => crypto().verifyAndDecrypt(msg, NOW_MS), 'bad_signature');
  });

  it('checks the signature before the replay window: a stale forgery is bad_signature', () => {
    const msg = { ...crypto().seal(TICKET_XML, '1', 'n'), msgSignature: 'f'.repeat(40) };
    expectRefusal(() => crypto().verifyAndDecrypt(msg, NOW_MS), 'bad_signature');
  });

  it('round-trips any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), (xml) => {
        expect(crypto().decrypt(crypto().encrypt(xml))).toBe(xml);
      }),
      { numRuns: 200 },
    );
  });

  it('throws nothing but MessageCryptoError on arbitrary bytes or strings', () => {
    const onlyOurErrors = (encrypt: string): void => {
      try {
        crypto().decrypt(encrypt);
      } catch (err) {
        expect(err).toBeInstanceOf(MessageCryptoError);
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        onlyOurErrors(Buffer.from(bytes).toString('base64'));
      }),
      { numRuns: 300 },
    );
    fc.assert(fc.property(fc.string({ maxLength: 200 }), onlyOurErrors), { numRuns: 300 });
  });
});

describe('MessageCrypto: configuration (Third-party platform: Config)', () => {
  it.each([
    [
      'EncodingAESKey of 42 characters',
      { encodingAesKey: C.encodingAesKey.slice(0, 42) },
      'encodingAesKey',
    ],
    [
      'EncodingAESKey of 44 characters',
      { encodingAesKey: `${C.encodingAesKey}=` },
      'encodingAesKey',
    ],
    ['EncodingAESKey of 44 letters', { encodingAesKey: `${C.encodingAesKey}A` }, 'encodingAesKey'],
    [
      'EncodingAESKey outside the alphabet',
      { encodingAesKey: `${C.encodingAesKey.slice(0, 42)}-` },
      'encodingAesKey',
    ],
    ['empty token', { messageToken: '' }, 'messageToken'],
    ['empty component appid', { componentAppId: '' }, 'componentAppId'],
  ] as const)('refuses %s, naming the field', (_name, override, field) => {
    const err = expectRefusal(() => new MessageCrypto({ ...C, ...override }), 'bad_config');
    expect(err.field).toBe(field);
    expect(err.message).toContain(field);
  });

  it('refuses a random prefix that is not 16 bytes', () => {
    expectRefusal(() => crypto().encrypt(TICKET_XML, Buffer.alloc(15)), 'bad_config');
  });

  it('keeps the key and token out of the instance as seen by JSON and inspection', () => {
    const text = JSON.stringify(crypto());
    expect(text).not.toContain(C.messageToken);
    expect(text).not.toContain(C.encodingAesKey);
  });
});

/** The shape of the POST body WeChat sends to the 授权事件接收URL (wechat-api.md §13). */
function outerBody(encrypt: string): string {
  return `<xml>\n  <AppId><![CDATA[${C.componentAppId}]]></AppId>\n  <Encrypt><![CDATA[${encrypt}]]></Encrypt>\n</xml>\n`;
}

function expectXmlRefusal(xml: string, reason: EventXmlErrorReason): void {
  let caught: unknown;
  try {
    parseEventXml(xml);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(EventXmlError);
  expect((caught as EventXmlError).reason).toBe(reason);
  expect((caught as EventXmlError).message).not.toContain('SECRET');
}

describe('parseEventXml (Third-party platform: Events)', () => {
  it('reads the outer body, then the decrypted component_verify_ticket event', () => {
    const sealed = crypto().seal(TICKET_XML, NOW_S, 'n');
    const outer = parseEventXml(outerBody(sealed.encrypt));
    expect({ ...outer }).toEqual({ AppId: C.componentAppId, Encrypt: sealed.encrypt });
    const inner = parseEventXml(
      crypto().verifyAndDecrypt({ ...sealed, encrypt: outer.Encrypt ?? '' }, NOW_MS),
    );
    expect({ ...inner }).toEqual({
      AppId: C.componentAppId,
      CreateTime: '1764842400',
      InfoType: 'component_verify_ticket',
      ComponentVerifyTicket: 'ticket@@@SECRET-TICKET-VALUE',
    });
  });

  it('reads an authorized event with plain text, entities and whitespace around CDATA', () => {
    const xml =
      '<xml><AppId>wx0123456789abcdef</AppId><CreateTime>1413192760</CreateTime>' +
      '<InfoType>  <![CDATA[authorized]]>\n</InfoType><AuthorizerAppid>wxabc</AuthorizerAppid>' +
      '<AuthorizationCode><![CDATA[code<&>]]></AuthorizationCode>' +
      '<AuthorizationCodeExpiredTime>1413196360</AuthorizationCodeExpiredTime>' +
      '<PreAuthCode>a&lt;b&gt;c&amp;d&quot;e&apos;</PreAuthCode><Empty></Empty></xml>';
    expect({ ...parseEventXml(xml) }).toEqual({
      AppId: 'wx0123456789abcdef',
      CreateTime: '1413192760',
      InfoType: 'authorized',
      AuthorizerAppid: 'wxabc',
      AuthorizationCode: 'code<&>',
      AuthorizationCodeExpiredTime: '1413196360',
      PreAuthCode: 'a<b>c&d"e\'',
      Empty: '',
    });
  });

  it('keeps a __proto__ tag as a plain field', () => {
    const fields = parseEventXml('<xml><__proto__>x</__proto__></xml>');
    expect(Object.getPrototypeOf(fields)).toBeNull();
    expect(fields['__proto__']).toBe('x');
  });

  it.each([
    ['a DTD', '<!DOCTYPE xml [<!ENTITY e "x">]><xml><A>&e;</A></xml>', 'malformed'],
    ['a DTD inside', '<xml><!DOCTYPE x><A>1</A></xml>', 'forbidden_markup'],
    ['a comment', '<xml><!-- c --><A>1</A></xml>', 'forbidden_markup'],
    ['an instruction', '<xml><?php x ?><A>1</A></xml>', 'forbidden_markup'],
    ['a custom entity', '<xml><A>&e;</A></xml>', 'forbidden_markup'],
    ['a character reference', '<xml><A>&#60;</A></xml>', 'forbidden_markup'],
    ['a bare ampersand', '<xml><A>a & b</A></xml>', 'forbidden_markup'],
    ['nesting', '<xml><Video><MediaId>1</MediaId></Video></xml>', 'malformed'],
    ['an attribute', '<xml><A x="1">1</A></xml>', 'malformed'],
    ['a mismatched close', '<xml><A>1</B></xml>', 'malformed'],
    ['an unterminated CDATA', '<xml><A><![CDATA[1</A></xml>', 'malformed'],
    ['two CDATA sections', '<xml><A><![CDATA[1]]><![CDATA[2]]></A></xml>', 'malformed'],
    ['another root', '<root><A>1</A></root>', 'malformed'],
    ['content after the root', '<xml><A>1</A></xml><xml></xml>', 'malformed'],
    ['text in the root', '<xml>oops<A>1</A></xml>', 'malformed'],
    ['no closing root', '<xml><A>1</A>', 'malformed'],
    [
      'a duplicate field',
      '<xml><InfoType>a</InfoType><InfoType>b</InfoType></xml>',
      'duplicate_field',
    ],
    [
      '33 fields',
      `<xml>${Array.from({ length: 33 }, (_, n) => `<F${n}>1</F${n}>`).join('')}</xml>`,
      'too_many_fields',
    ],
    [
      'a field over 64 KiB',
      `<xml><Encrypt>${'A'.repeat(MAX_ENCRYPT_CHARS + 1)}</Encrypt></xml>`,
      'field_too_large',
    ],
    ['a document over the maximum', `<xml><A>${' '.repeat(200_000)}</A></xml>`, 'too_large'],
  ] as const)('refuses %s', (_name, xml, reason) => {
    expectXmlRefusal(xml, reason);
  });

  it('never echoes a value in its message', () => {
    expectXmlRefusal('<xml><A>SECRET</A><A>SECRET</A></xml>', 'duplicate_field');
    expectXmlRefusal('<xml><A>SECRET &x; SECRET</A></xml>', 'forbidden_markup');
  });
});
