import { describe, expect, it } from 'vitest';
import { MAX_PAYMENTS, PaidTrades } from '../../src/sim/paid-trades.js';
import { MAX_PHONE_CODES, PhoneCodes, splitPhoneNumber } from '../../src/sim/phone-codes.js';
import { crc32 } from '../../src/sim/scene-png.js';
import { MAX_TICKETS_PER_TYPE, TicketShelf } from '../../src/sim/ticket-shelf.js';

/** What a caller can push into the simulator stays bounded (design.md "Simulator": load use). */
describe('bounded simulator state', () => {
  it('a ticket shelf forgets expired tickets on the next mint, and never holds more than the cap', () => {
    const shelf = new TicketShelf();
    for (let i = 0; i < 10; i++) shelf.mint(i, 5);
    expect(shelf.size).toBe(5); // minted at 5..9; those of 0..4 had expired by 9
    const live = new TicketShelf();
    for (let i = 0; i < MAX_TICKETS_PER_TYPE + 10; i++) live.mint(0, 1000);
    expect(live.size).toBe(MAX_TICKETS_PER_TYPE);
  });

  it('phone codes: expired ones are dropped when a new one is issued; the table is capped', () => {
    const codes = new PhoneCodes();
    codes.issue('13800138000', 0, 10);
    codes.issue('13800138000', 5, 10);
    codes.issue('13800138000', 10, 10);
    expect(codes.size).toBe(2);
    const many = new PhoneCodes();
    const first = many.issue('13800138000', 0, 1000);
    for (let i = 0; i < MAX_PHONE_CODES; i++) many.issue('13800138000', 0, 1000);
    expect(many.size).toBe(MAX_PHONE_CODES);
    expect(many.exchange(first.code, 0)).toBeUndefined();
  });

  it('phone codes are single-use and die at their expiry', () => {
    const codes = new PhoneCodes();
    const a = codes.issue('+86 13800138000', 0, 100);
    expect(codes.exchange(a.code, 99)).toMatchObject({ purePhoneNumber: '13800138000' });
    expect(codes.exchange(a.code, 99)).toBeUndefined();
    const b = codes.issue('+86 13800138000', 0, 100);
    expect(codes.exchange(b.code, 100)).toBeUndefined();
  });

  it('payments: expired ones are dropped on the next payment; the list is capped', () => {
    const trades = new PaidTrades();
    trades.add({ openid: 'o', unionid: 'u', transactionId: 't0' }, 0, 10);
    trades.add({ openid: 'o', unionid: 'u', transactionId: 't1' }, 10, 10);
    expect(trades.size).toBe(1);
    expect(trades.find({ transactionId: 't1' }, 19)).toMatchObject({ transactionId: 't1' });
    expect(trades.find({ transactionId: 't1' }, 20)).toBeUndefined();
    const many = new PaidTrades();
    for (let i = 0; i <= MAX_PAYMENTS; i++) {
      many.add({ openid: 'o', unionid: 'u', transactionId: `t${i}` }, 0, 1000);
    }
    expect(many.size).toBe(MAX_PAYMENTS);
    expect(many.find({ transactionId: 't0' }, 0)).toBeUndefined();
    expect(many.find({ transactionId: `t${MAX_PAYMENTS}` }, 0)).toBeDefined();
  });
});

describe('helpers', () => {
  it.each([
    [
      '+86 13800138000',
      { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' },
    ],
    [
      '+852 51234567',
      { phoneNumber: '+852 51234567', purePhoneNumber: '51234567', countryCode: '852' },
    ],
    [
      '13800138000',
      { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' },
    ],
  ])('splitPhoneNumber(%s)', (input, expected) => {
    expect(splitPhoneNumber(input)).toEqual(expected);
  });

  it('crc32 gives the IEEE check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
  });
});
