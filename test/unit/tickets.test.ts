import { describe, expect, it } from 'vitest';
import {
  AppNotFoundError,
  InvalidArgumentError,
  TicketNotConfiguredError,
} from '../../src/shared/errors.js';
import { jsapiSignature } from '../../src/service/jsapi-signature.js';
import { PLAIN_APP, TICKET_APP, ticketHarness } from '../support/ticket-harness.js';

const HOUR = 3_600_000;

describe('jsapi signature (wechat-api.md §11)', () => {
  it('matches the official test vector', () => {
    expect(
      jsapiSignature(
        'sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg',
        'Wm3WZYTPz0wzccnW',
        1414587457,
        'http://mp.weixin.qq.com',
      ),
    ).toBe('f4d90daf4b3bca3078ab155816175ba34c443a7b');
  });

  it('SignJsapi signs the url without its fragment, with the current ticket, a fresh 16-char nonce and the clock second', async () => {
    const h = ticketHarness();
    const stop = h.lead();
    await h.clock.advance(0);
    const ticket = h.ticketCore.service.peek(TICKET_APP, 'jsapi')!;
    const url = 'https://shop.example.com/pay?id=7&x=a%20b#/cart?step=2';
    const a = await h.ticketCore.service.signJsapi(TICKET_APP, url);
    const b = await h.ticketCore.service.signJsapi(TICKET_APP, url);
    expect(a.nonceStr).toMatch(/^[A-Za-z0-9]{16}$/);
    expect(b.nonceStr).not.toBe(a.nonceStr);
    expect(a.timestamp).toBe(Math.floor(h.clock.now() / 1000));
    const page = 'https://shop.example.com/pay?id=7&x=a%20b';
    expect(a.signature).toBe(jsapiSignature(ticket.value, a.nonceStr, a.timestamp, page));
    await stop();
  });

  it.each([
    ['empty', '', 'required'],
    ['ftp', 'ftp://example.com/', 'http or https'],
    ['relative', '/relative/path', 'absolute'],
    ['5,000 characters', `https://example.com/${'a'.repeat(5000)}`, 'longer than'],
  ])('SignJsapi refuses a url that is %s (invariant 9)', async (_label, url, problem) => {
    const h = ticketHarness();
    const err = await h.ticketCore.service.signJsapi(TICKET_APP, url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).field).toBe('url');
    expect((err as Error).message).toContain(problem);
    expect(h.ticketCalls()).toBe(0);
  });
});

describe('tickets on the credential engine (invariants 1-4 per credential)', () => {
  it('a ticket is fetched once with the live token and then served from memory', async () => {
    const h = ticketHarness();
    const stop = h.lead();
    await h.clock.advance(0);
    const token = h.tokenCore.service.peek(TICKET_APP)!;
    for (let i = 0; i < 1000; i++) await h.ticketCore.service.getTicket(TICKET_APP, 'jsapi');
    // One getticket per type, each with the app's live token.
    expect(h.ticketCalls()).toBe(2);
    expect(h.wechat.ticketTokens).toEqual([token.value, token.value]);
    expect(h.wechat.deadTokenTicketCalls).toBe(0);
    const jsapi = await h.ticketCore.service.getTicket(TICKET_APP, 'jsapi');
    const card = await h.ticketCore.service.getTicket(TICKET_APP, 'wx_card');
    expect(jsapi.value).toMatch(/^ticket-jsapi-/);
    expect(card.value).toMatch(/^ticket-wx_card-/);
    expect(jsapi.generation).toBe(1);
    await stop();
  });

  it('over 30 lifetimes: one getticket per lifetime and type, never two in flight, never with a dead token, never a dead ticket served', async () => {
    const h = ticketHarness();
    const stop = h.lead();
    await h.clock.advance(0);
    for (let step = 0; step < 30 * 72; step++) {
      await h.clock.advance(100_000);
      for (const type of ['jsapi', 'wx_card'] as const) {
        const t = h.ticketCore.service.peek(TICKET_APP, type);
        expect(t, `no live ${type} ticket at step ${step}`).toBeDefined();
        expect(t!.expiresAt).toBeGreaterThan(h.clock.now());
      }
    }
    // 30 lifetimes of 7200 s, refreshed ~300 s early, for two types.
    expect(h.ticketCalls()).toBeGreaterThanOrEqual(2 * 31);
    expect(h.ticketCalls()).toBeLessThanOrEqual(2 * 33);
    expect(h.wechat.maxTicketsInFlight).toBe(1);
    expect(h.wechat.deadTokenTicketCalls).toBe(0);
    const ticketEvents = h.events.filter((e) => e.kind !== 'access_token');
    expect(ticketEvents.every((e) => e.result === 'fetched')).toBe(true);
    await stop();
  });

  it('waits for the first token instead of fetching a ticket without one', async () => {
    const h = ticketHarness();
    h.wechat.gate = new Promise((resolve) => setTimeout(resolve, 20));
    const stop = h.lead();
    const ticket = h.ticketCore.service.getTicket(TICKET_APP, 'jsapi');
    await h.clock.advance(0);
    await expect(ticket).resolves.toMatchObject({ appId: TICKET_APP });
    expect(h.wechat.deadTokenTicketCalls).toBe(0);
    expect(h.wechat.ticketTokens[0]).toBe(h.tokenCore.service.peek(TICKET_APP)!.value);
    await stop();
  });

  it('40001 on getticket: the token is recovered by compare-and-refresh with the token used, and getticket is repeated once with the new one', async () => {
    const h = ticketHarness();
    const stop = h.lead();
    await h.clock.advance(0);
    const before = h.tokenCore.service.peek(TICKET_APP)!;
    h.wechat.tokenCalls = 0;
    h.wechat.checkCalls = 0;
    h.wechat.ticketCalls.jsapi = 0;
    h.wechat.ticketCalls.wx_card = 0;
    h.wechat.deadTokenTicketCalls = 0;
    // The token dies at WeChat (reset in the admin console, fetched by another system).
    h.wechat.invalidateAll();
    const result = await h.jsapi.refresher.refresh(h.apps[0]!, 'schedule');
    const after = h.tokenCore.service.peek(TICKET_APP)!;
    expect(after.value).not.toBe(before.value);
    expect(h.wechat.checkCalls).toBe(1); // the compare-and-refresh check of the rejected token
    expect(h.wechat.tokenCalls).toBe(1);
    expect(h.ticketCalls()).toBe(2);
    expect(h.wechat.ticketTokens.slice(-2)).toEqual([before.value, after.value]);
    expect(result.outcome).toBe('fetched');
    await stop();
  });

  it('a token WeChat still accepts yet getticket refuses: the error is kept, nothing fetched', async () => {
    const h = ticketHarness();
    const stop = h.lead();
    await h.clock.advance(0);
    const token = h.tokenCore.service.peek(TICKET_APP)!;
    h.wechat.tokenCalls = 0;
    // getticket says 40001 for a token the validity check accepts.
    const real = h.wechat.getTicket.bind(h.wechat);
    h.wechat.getTicket = async (t, type) => {
      h.wechat.valid.delete(t);
      try {
        return await real(t, type);
      } finally {
        h.wechat.valid.add(t);
      }
    };
    await expect(h.jsapi.refresher.refresh(h.apps[0]!, 'schedule')).rejects.toMatchObject({
      errcode: 40001,
    });
    expect(h.wechat.tokenCalls).toBe(0);
    expect(h.tokenCore.service.peek(TICKET_APP)).toEqual(token);
    await stop();
  });

  it('GetTicket: unknown app is NOT_FOUND, an app without that type FAILED_PRECONDITION naming apps[].tickets', async () => {
    const h = ticketHarness();
    expect(() => h.ticketCore.service.peek('wxnope', 'jsapi')).toThrow(AppNotFoundError);
    const err = await h.ticketCore.service.getTicket(PLAIN_APP, 'jsapi').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TicketNotConfiguredError);
    expect((err as Error).message).toContain('apps[].tickets');
    expect(h.ticketCalls()).toBe(0);
  });

  it('ListApps per credential: each ticket reports its own generation, expiry and fetches', async () => {
    const h = ticketHarness();
    const stop = h.lead();
    await h.clock.advance(2 * HOUR + 60_000);
    const rows = h.ticketCore.service.listTickets();
    expect(rows.map((r) => `${r.appId}/${r.type}`)).toEqual([
      `${TICKET_APP}/jsapi`,
      `${TICKET_APP}/wx_card`,
    ]);
    for (const r of rows) {
      expect(r.state).toBe('healthy');
      expect(r.token?.generation).toBe(2);
      expect(r.fetchesToday).toBe(2);
      expect(r.token!.expiresAt).toBeGreaterThan(h.clock.now());
    }
    await stop();
  });
});
