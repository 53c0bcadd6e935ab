import { AppDirectory } from '../../src/apps/app-directory.js';
import { describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config/config.js';
import { LoginService } from '../../src/login/login-service.js';
import { MemorySessionStore } from '../../src/login/memory-session-store.js';
import { Secret } from '../../src/shared/secret.js';
import { MemoryTokenStore } from '../../src/token/memory-token-store.js';
import { LoginCodeError } from '../../src/wechat/upstream-errors.js';
import { FakeClock } from '../support/fake-clock.js';
import { ScriptedWeChat, wechatError } from '../support/scripted-wechat.js';

/**
 * Issue 12 §3: the token-backed exchanges of LoginService (GetPhoneNumber, GetPaidUnionId) on a
 * scripted WeChat: the central token, one recovery of a dead one, and a single-use code
 * exchanged once (the same idempotency as Code2Session).
 */
const APP: AppConfig = {
  appId: 'wxexchange000001',
  mode: 'classic',
  secret: new Secret('s'),
  secretSource: 'inline',
  tickets: [],
};
const PHONE = { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' };

function harness() {
  const clock = new FakeClock();
  const wechat = new ScriptedWeChat(clock);
  let token = 'token-1';
  wechat.valid.add(token);
  const recovered: string[] = [];
  const service = new LoginService({
    clock,
    apps: new AppDirectory([APP]),
    login: { exposeSessionKey: false, sessionTtlSeconds: 3600 },
    wechat,
    sessions: new MemorySessionStore(clock),
    locks: new MemoryTokenStore(clock),
    accessToken: async () => token,
    // Compare-and-refresh as the token service does it: a new token only if `rejected` is current.
    recoverToken: async (_appId, rejected) => {
      recovered.push(rejected);
      if (rejected === token && !wechat.valid.has(token)) {
        token = `token-${recovered.length + 1}`;
        wechat.valid.add(token);
      }
      return token;
    },
  });
  return { clock, wechat, service, recovered, token: () => token };
}

describe('GetPhoneNumber (a single-use code, idempotent like Code2Session)', () => {
  it('50 concurrent calls of one caller with one code: one upstream call, one answer', async () => {
    const h = harness();
    h.wechat.phoneCodes.set('code-1', PHONE);
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => h.service.getPhoneNumber(APP.appId, 'code-1', 'shop-a')),
    );
    expect(h.wechat.phoneCalls).toBe(1);
    for (const a of answers) expect(a).toEqual(PHONE);
    // A retry after the answer is replayed from the record, not asked again.
    expect(await h.service.getPhoneNumber(APP.appId, 'code-1', 'shop-a')).toEqual(PHONE);
    expect(h.wechat.phoneCalls).toBe(1);
  });

  it('another caller presenting an exchanged code is told it is used (40163), nothing upstream', async () => {
    const h = harness();
    h.wechat.phoneCodes.set('code-2', PHONE);
    await h.service.getPhoneNumber(APP.appId, 'code-2', 'shop-a');
    const err = await h.service.getPhoneNumber(APP.appId, 'code-2', 'shop-b').catch((e) => e);
    expect(err).toBeInstanceOf(LoginCodeError);
    expect(err).toMatchObject({ problem: 'code_used', field: 'code' });
    expect(h.wechat.phoneCalls).toBe(1);
  });

  it('a code WeChat refuses (40029) is refused again from the record, naming the field code', async () => {
    const h = harness();
    for (let i = 0; i < 2; i++) {
      const err = await h.service.getPhoneNumber(APP.appId, 'bad', 'shop-a').catch((e) => e);
      expect(err).toMatchObject({ problem: 'invalid_code', field: 'code' });
      expect((err as Error).message).toMatch(/^code: /);
    }
    expect(h.wechat.phoneCalls).toBe(1);
  });

  it('a login code and a phone code with the same text never share a record', async () => {
    const h = harness();
    h.wechat.phoneCodes.set('same-text', PHONE);
    expect(await h.service.getPhoneNumber(APP.appId, 'same-text', 'shop-a')).toEqual(PHONE);
    // Code2Session with that text goes upstream (ScriptedWeChat does not script it: it throws).
    await expect(h.service.code2Session(APP.appId, 'same-text', 'shop-a')).rejects.toThrow(
      /does not script code2Session/,
    );
  });

  it('a dead central token is recovered once by compare-and-refresh with that token, then the call succeeds; the code stays usable', async () => {
    const h = harness();
    h.wechat.phoneCodes.set('code-3', PHONE);
    h.wechat.invalidateAll(); // the token died at WeChat
    expect(await h.service.getPhoneNumber(APP.appId, 'code-3', 'shop-a')).toEqual(PHONE);
    expect(h.recovered).toEqual(['token-1']);
    expect(h.wechat.phoneCalls).toBe(2); // the refused call, then the one with the new token
  });
});

describe('GetPaidUnionId', () => {
  it('answers by transaction id and by mch_id + out_trade_no', async () => {
    const h = harness();
    h.wechat.payments.push({ openid: 'o1', transactionId: 't1', unionid: 'u1' });
    h.wechat.payments.push({ openid: 'o2', mchId: 'm', outTradeNo: 'n', unionid: 'u2' });
    expect(
      await h.service.getPaidUnionId(APP.appId, { openid: 'o1', transactionId: 't1' }),
    ).toEqual({ unionid: 'u1' });
    expect(
      await h.service.getPaidUnionId(APP.appId, { openid: 'o2', mchId: 'm', outTradeNo: 'n' }),
    ).toEqual({ unionid: 'u2' });
  });

  it('89300 (no such trade) is an answer, not retried; -1 is retried', async () => {
    const h = harness();
    await expect(
      h.service.getPaidUnionId(APP.appId, { openid: 'o', transactionId: 'none' }),
    ).rejects.toMatchObject({ errcode: 89300 });
    expect(h.wechat.paidUnionIdCalls).toBe(1);
    h.wechat.payments.push({ openid: 'o', transactionId: 't', unionid: 'u' });
    h.wechat.paidUnionIdFailures.push(wechatError(-1, 'system error', 'getpaidunionid'));
    const answer = h.service.getPaidUnionId(APP.appId, { openid: 'o', transactionId: 't' });
    await h.clock.advance(1_000);
    await expect(answer).resolves.toEqual({ unionid: 'u' });
    expect(h.wechat.paidUnionIdCalls).toBe(3);
  });

  it('a dead token is recovered once per call: when the new one is refused too, the error surfaces', async () => {
    const h = harness();
    h.wechat.payments.push({ openid: 'o', transactionId: 't', unionid: 'u' });
    h.wechat.invalidateAll();
    expect(await h.service.getPaidUnionId(APP.appId, { openid: 'o', transactionId: 't' })).toEqual({
      unionid: 'u',
    });
    expect(h.recovered).toEqual(['token-1']);
    // Every token dies the moment it is used: one recovery, two upstream calls, then 40001.
    const real = h.wechat.getPaidUnionId.bind(h.wechat);
    h.wechat.getPaidUnionId = async (token, query) => {
      h.wechat.invalidateAll();
      return real(token, query);
    };
    h.wechat.paidUnionIdCalls = 0;
    await expect(
      h.service.getPaidUnionId(APP.appId, { openid: 'o', transactionId: 't' }),
    ).rejects.toMatchObject({ errcode: 40001 });
    expect(h.wechat.paidUnionIdCalls).toBe(2);
    expect(h.recovered).toHaveLength(2);
  });
});
