import type { SimPayment, SimPaymentRequest } from './types.js';

/** Payments remembered per app; past this the oldest are forgotten (→ 89300). */
export const MAX_PAYMENTS = 10_000;

/** How getpaidunionid names a trade (wechat-api.md §7). */
export type TradeQuery = { transactionId: string } | { mchId: string; outTradeNo: string };

/**
 * One app's payments, for getpaidunionid (wechat-api.md §7): found by transaction_id or by
 * mch_id + out_trade_no, answerable for a window after the payment. Pure: time is passed in.
 */
export class PaidTrades {
  /** Oldest first. */
  #payments: SimPayment[] = [];

  add(request: SimPaymentRequest, now: number, windowMs: number): SimPayment {
    // Payments come in time order, so the expired ones are at the front (unless the window was
    // since lengthened: a stale one behind then waits for the cap; find checks expiry itself).
    // Dropping from the front keeps a payment O(1) however many are kept.
    while (this.#payments[0] && now >= this.#payments[0].answerableUntil) this.#payments.shift();
    const payment = { ...request, paidAt: now, answerableUntil: now + windowMs };
    this.#payments.push(payment);
    if (this.#payments.length > MAX_PAYMENTS) this.#payments.shift();
    return payment;
  }

  /** The newest payment the query names, still within its window, or undefined. */
  find(query: TradeQuery, now: number): SimPayment | undefined {
    const matches = (p: SimPayment): boolean =>
      'transactionId' in query
        ? p.transactionId === query.transactionId
        : p.mchId === query.mchId && p.outTradeNo === query.outTradeNo;
    const payment = this.#payments.findLast(matches);
    return payment && now < payment.answerableUntil ? payment : undefined;
  }

  get size(): number {
    return this.#payments.length;
  }
}
