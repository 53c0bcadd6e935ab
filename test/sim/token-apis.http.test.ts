import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MAX_MESSAGES } from '../../src/sim/message-log.js';
import { crc32 } from '../../src/sim/scene-png.js';
import type { SimIssuedPhoneCode, SimMessage } from '../../src/sim/wechat-simulator.js';
import { FakeClock } from '../support/fake-clock.js';
import { APP, useSimulator } from './sim-http.js';

const clock = new FakeClock();
const h = useSimulator({ clock });
const APPS = `/__sim/apps/${APP.appId}`;
const OPENID = 'oGZUI0egBJY1zhBYw2KhdUfwVJJE';
const UNIONID = 'ocMvos6NjeKLIBqg5Mr9QjxrP1FA';

async function token(): Promise<string> {
  return (await h.get(h.tokenPath())).json()['access_token'] as string;
}

async function deadToken(): Promise<string> {
  const t = await token();
  await h.send('POST', `${APPS}/rotate`, { endOverlap: true });
  return t;
}

async function counters(): Promise<Record<string, unknown>> {
  return (await h.get(`${APPS}/counters`)).json();
}

describe('GET /cgi-bin/getcallbackip (wechat-api.md §12)', () => {
  it('lists IPs without an errcode, and refuses a dead token with 40001', async () => {
    const ok = (await h.get(`/cgi-bin/getcallbackip?access_token=${await token()}`)).json();
    expect(ok).toEqual({ ip_list: expect.arrayContaining([expect.stringMatching(/^\d+\./)]) });
    expect(ok).not.toHaveProperty('errcode');
    const dead = await h.get(`/cgi-bin/getcallbackip?access_token=${await deadToken()}`);
    expect(dead.json()['errcode']).toBe(40001);
    expect((await h.get('/cgi-bin/getcallbackip')).json()['errcode']).toBe(41001);
    expect(await counters()).toMatchObject({ callbackIpCalls: 2 });
  });
});

describe('POST /cgi-bin/message/custom/send (wechat-api.md §12)', () => {
  const send = (t: string, body?: unknown): ReturnType<typeof h.send> =>
    h.send('POST', `/cgi-bin/message/custom/send?access_token=${t}`, body);
  const text = { touser: OPENID, msgtype: 'text', text: { content: 'hello' } };

  it('acknowledges a message and keeps it for the control API', async () => {
    const t = await token();
    expect((await send(t, text)).json()).toEqual({ errcode: 0, errmsg: 'ok' });
    const { messages } = (await h.get(`${APPS}/messages`)).json<{ messages: SimMessage[] }>();
    expect(messages).toEqual([{ at: clock.now(), touser: OPENID, msgtype: 'text', body: text }]);
    expect((await h.send('DELETE', `${APPS}/messages`)).json()).toEqual({ ok: true });
    expect((await h.get(`${APPS}/messages`)).json()).toEqual({ messages: [] });
  });

  it.each([
    ['an empty body', '', 44002],
    ['a body that is not JSON', 'touser=o&msgtype=text', 47001],
    ['a JSON array', '[]', 47001],
    ['no touser', { msgtype: 'text' }, 47001],
    ['no msgtype', { touser: OPENID }, 47001],
    ['a body over 64 KiB', { ...text, text: { content: 'x'.repeat(70_000) } }, 47001],
  ])('refuses %s with %i and keeps nothing', async (_name, body, errcode) => {
    expect((await send(await token(), body)).json()['errcode']).toBe(errcode);
    expect((await h.get(`${APPS}/messages`)).json()).toEqual({ messages: [] });
  });

  it('checks the token before the body, and answers GET with 43002', async () => {
    expect((await send(await deadToken(), '')).json()['errcode']).toBe(40001);
    const get = await h.get(`/cgi-bin/message/custom/send?access_token=${await token()}`);
    expect(get.json()['errcode']).toBe(43002);
  });

  it(`keeps only the last ${MAX_MESSAGES} messages`, async () => {
    const t = await token();
    for (let i = 0; i < MAX_MESSAGES + 5; i++) await send(t, { ...text, seq: i });
    const { messages } = (await h.get(`${APPS}/messages`)).json<{ messages: SimMessage[] }>();
    expect(messages).toHaveLength(MAX_MESSAGES);
    expect(messages[0]?.body['seq']).toBe(5);
    expect(messages.at(-1)?.body['seq']).toBe(MAX_MESSAGES + 4);
    expect(await counters()).toMatchObject({ customSendCalls: MAX_MESSAGES + 5 });
  });
});

/** The chunks of a PNG, each CRC-checked; throws on anything that is not one. */
function readPng(bytes: Buffer): { width: number; height: number; pixels: Buffer } {
  expect(bytes.subarray(0, 8)).toEqual(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));
  const chunks = new Map<string, Buffer>();
  for (let at = 8; at < bytes.length;) {
    const length = bytes.readUInt32BE(at);
    const typeAndData = bytes.subarray(at + 4, at + 8 + length);
    expect(bytes.readUInt32BE(at + 8 + length)).toBe(crc32(typeAndData));
    chunks.set(typeAndData.subarray(0, 4).toString('ascii'), typeAndData.subarray(4));
    at += 12 + length;
  }
  expect([...chunks.keys()]).toEqual(['IHDR', 'IDAT', 'IEND']);
  const ihdr = chunks.get('IHDR') ?? Buffer.alloc(13);
  return {
    width: ihdr.readUInt32BE(0),
    height: ihdr.readUInt32BE(4),
    pixels: inflateSync(chunks.get('IDAT') ?? Buffer.alloc(0)),
  };
}

describe('POST /wxa/getwxacodeunlimit (wechat-api.md §12)', () => {
  async function code(t: string, body: unknown): Promise<Response> {
    return fetch(`${h.url}/wxa/getwxacodeunlimit?access_token=${t}`, {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  it('answers a valid PNG, the same bytes for the same scene and others for another', async () => {
    const t = await token();
    const res = await code(t, { scene: 'id=1425', page: 'pages/index/index' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    const png = Buffer.from(await res.arrayBuffer());
    const { width, height, pixels } = readPng(png);
    expect([width, height]).toEqual([64, 64]);
    // One filter byte and 64 grey pixels per row, some black and some white.
    expect(pixels).toHaveLength(64 * 65);
    expect(new Set(pixels.filter((_, i) => i % 65 !== 0))).toEqual(new Set([0, 255]));
    const again = Buffer.from(await (await code(t, { scene: 'id=1425' })).arrayBuffer());
    expect(again.equals(png)).toBe(true);
    const other = Buffer.from(await (await code(t, { scene: 'id=1426' })).arrayBuffer());
    expect(other.equals(png)).toBe(false);
    expect(await counters()).toMatchObject({ wxaCodeCalls: 3 });
  });

  it.each([
    ['no scene', { page: 'pages/index/index' }, 40169],
    ['a scene over 32 characters', { scene: 'x'.repeat(33) }, 40169],
    ['a body that is not JSON', 'scene=1', 40169],
  ])('answers %s with JSON errcode %i', async (_name, body, errcode) => {
    const res = await code(await token(), body);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await res.json()) as Record<string, unknown>)['errcode']).toBe(errcode);
  });

  it('answers a dead token with JSON 40001, not an image', async () => {
    const res = await code(await deadToken(), { scene: 'a' });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await res.json()) as Record<string, unknown>)['errcode']).toBe(40001);
  });
});

describe('POST /wxa/business/getuserphonenumber (wechat-api.md §8)', () => {
  async function phoneCode(phoneNumber: string): Promise<SimIssuedPhoneCode> {
    return (
      await h.send('POST', `${APPS}/phone-codes`, { phoneNumber })
    ).json<SimIssuedPhoneCode>();
  }
  const exchange = (t: string, body: unknown): ReturnType<typeof h.send> =>
    h.send('POST', `/wxa/business/getuserphonenumber?access_token=${t}`, body);

  it('exchanges a code once for phone_info with a watermark naming the app', async () => {
    const issued = await phoneCode('+86 13800138000');
    expect(issued).toEqual({
      code: expect.stringMatching(/^[A-Za-z0-9]{32}$/),
      phoneNumber: '13800138000',
      purePhoneNumber: '13800138000',
      countryCode: '86',
      expiresAt: clock.now() + 300_000,
    });
    const t = await token();
    expect((await exchange(t, { code: issued.code })).json()).toEqual({
      errcode: 0,
      errmsg: 'ok',
      phone_info: {
        phoneNumber: '13800138000',
        purePhoneNumber: '13800138000',
        countryCode: '86',
        watermark: { timestamp: Math.floor(clock.now() / 1000), appid: APP.appId },
      },
    });
    const again = (await exchange(t, { code: issued.code })).json();
    expect(again['errcode']).toBe(40029);
    expect(await counters()).toMatchObject({ phoneNumberCalls: 2, phoneNumberOk: 1 });
  });

  it('keeps the area code in phoneNumber for a foreign number, and takes a bare one as 86', async () => {
    expect(await phoneCode('+1 4155550100')).toMatchObject({
      phoneNumber: '+1 4155550100',
      purePhoneNumber: '4155550100',
      countryCode: '1',
    });
    expect(await phoneCode('13900139000')).toMatchObject({ countryCode: '86' });
  });

  it('refuses an expired code with 40029; the lifetime is settable', async () => {
    h.sim.configureApp({ ...APP, phoneCodeLifetimeSeconds: 1.5 });
    const t = await token();
    const late = await phoneCode('+86 13800138000');
    const onTime = await phoneCode('+86 13800138001');
    await clock.advance(1499);
    expect((await exchange(t, { code: onTime.code })).json()['errcode']).toBe(0);
    await clock.advance(1);
    expect((await exchange(t, { code: late.code })).json()['errcode']).toBe(40029);
  });

  it.each([
    ['an unknown code', { code: 'nope' }, 40029],
    ['no code', { openid: OPENID }, 40029],
    ['a code that is not a string', { code: 42 }, 40029],
    ['a body that is not JSON (the code as a form field)', 'code=abc', 47001],
  ])('refuses %s with %i', async (_name, body, errcode) => {
    expect((await exchange(await token(), body)).json()['errcode']).toBe(errcode);
  });

  it('checks the token first (a dead token keeps the code usable) and refuses a GET', async () => {
    const { code } = await phoneCode('+86 13800138000');
    expect((await exchange(await deadToken(), { code })).json()['errcode']).toBe(40001);
    expect((await exchange(await token(), { code })).json()['errcode']).toBe(0);
    const get = await h.get(`/wxa/business/getuserphonenumber?access_token=${await token()}`);
    expect(get.json()['errcode']).toBe(43002);
  });

  it('never logs the code or the number', async () => {
    const { code } = await phoneCode('+86 13800138000');
    await exchange(await token(), { code });
    const log = (await h.get('/__sim/calls')).text;
    expect(log).toContain('getuserphonenumber');
    expect(log).not.toContain(code);
    expect(log).not.toContain('13800138000');
  });

  it.each([
    ['no phoneNumber', {}],
    ['letters', { phoneNumber: '+86 138abc' }],
    ['a missing space after the prefix', { phoneNumber: '+8613800138000' }],
  ])('the control route refuses %s with 400', async (_name, body) => {
    expect((await h.send('POST', `${APPS}/phone-codes`, body)).status).toBe(400);
  });
});

describe('GET /wxa/getpaidunionid (wechat-api.md §7)', () => {
  const pay = (body: object): ReturnType<typeof h.send> =>
    h.send('POST', `${APPS}/payments`, { openid: OPENID, unionid: UNIONID, ...body });
  async function ask(params: Record<string, string>, t?: string): Promise<Record<string, unknown>> {
    const query = new URLSearchParams({ access_token: t ?? (await token()), ...params });
    return (await h.get(`/wxa/getpaidunionid?${query}`)).json();
  }

  it('finds a payment by transaction_id or by mch_id + out_trade_no', async () => {
    const paid = (await pay({ transactionId: '4200001', mchId: 'm1', outTradeNo: 'o1' })).json();
    expect(paid).toMatchObject({ paidAt: clock.now(), answerableUntil: clock.now() + 300_000 });
    const ok = { unionid: UNIONID, errcode: 0, errmsg: 'ok' };
    expect(await ask({ openid: OPENID, transaction_id: '4200001' })).toEqual(ok);
    expect(await ask({ openid: OPENID, mch_id: 'm1', out_trade_no: 'o1' })).toEqual(ok);
    expect(await counters()).toMatchObject({ paidUnionidCalls: 2, paidUnionidOk: 2 });
  });

  it('answers 89300 for an unknown trade and once the window has passed (settable)', async () => {
    h.sim.configureApp({ ...APP, paidUnionidWindowSeconds: 2 });
    await pay({ transactionId: '4200001' });
    expect((await ask({ openid: OPENID, transaction_id: '4200002' }))['errcode']).toBe(89300);
    expect((await ask({ openid: OPENID, mch_id: 'm1', out_trade_no: 'o1' }))['errcode']).toBe(
      89300,
    );
    await clock.advance(1999);
    expect((await ask({ openid: OPENID, transaction_id: '4200001' }))['errcode']).toBe(0);
    await clock.advance(1);
    expect((await ask({ openid: OPENID, transaction_id: '4200001' }))['errcode']).toBe(89300);
  });

  it.each([
    ['no openid', { transaction_id: '4200001' }, 40097],
    ['no trade', { openid: OPENID }, 40097],
    ['mch_id without out_trade_no', { openid: OPENID, mch_id: 'm1' }, 40097],
    ['another user’s trade', { openid: 'o-someone-else', transaction_id: '4200001' }, 40003],
  ])('answers %s with %i', async (_name, params, errcode) => {
    await pay({ transactionId: '4200001' });
    expect((await ask(params))['errcode']).toBe(errcode);
  });

  it('answers 89002 for an app bound to no Open Platform account, 40001 for a dead token', async () => {
    await pay({ transactionId: '4200001' });
    expect(
      (await ask({ openid: OPENID, transaction_id: '4200001' }, await deadToken()))['errcode'],
    ).toBe(40001);
    h.sim.configureApp({ ...APP, unionidBound: false });
    expect((await ask({ openid: OPENID, transaction_id: '4200001' }))['errcode']).toBe(89002);
  });

  it.each([
    ['no trade', {}],
    ['mchId without outTradeNo', { mchId: 'm1' }],
    ['no unionid', { transactionId: '1', unionid: undefined }],
  ])('the control route refuses a payment with %s (400)', async (_name, body) => {
    expect((await pay(body)).status).toBe(400);
  });
});

describe('faults scoped to the token-taking APIs', () => {
  it('a fault on getuserphonenumber answers there only, and leaves the code unused', async () => {
    const t = await token();
    const { code } = (
      await h.send('POST', `${APPS}/phone-codes`, {
        phoneNumber: '+86 13800138000',
      })
    ).json<SimIssuedPhoneCode>();
    await h.send('POST', `${APPS}/faults`, {
      kind: 'system_error',
      count: 1,
      endpoints: ['getuserphonenumber'],
    });
    expect((await h.get(`/cgi-bin/getcallbackip?access_token=${t}`)).json()).toHaveProperty(
      'ip_list',
    );
    const url = `/wxa/business/getuserphonenumber?access_token=${t}`;
    expect((await h.send('POST', url, { code })).json()['errcode']).toBe(-1);
    expect((await h.send('POST', url, { code })).json()['errcode']).toBe(0);
  });
});
