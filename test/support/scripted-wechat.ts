import type { TicketType } from '../../src/shared/tickets.js';
import type {
  AppCredentials,
  Code2SessionResult,
  FetchedTicket,
  FetchedToken,
  PaidUnionIdQuery,
  PhoneNumberInfo,
  ResetSessionKeyResult,
  WeChatClient,
} from '../../src/wechat/wechat-client.js';
import { WeChatError, type WeChatEndpoint } from '../../src/wechat/wechat-error.js';
import type { FakeClock } from './fake-clock.js';

/**
 * An in-process WeChat for unit tests of the core logic with a fake clock: it mints tokens,
 * tracks which ones it accepts, counts calls, and fails on demand. (Integration and e2e
 * tests use the real simulator over HTTP.)
 */
export class ScriptedWeChat implements WeChatClient {
  tokenCalls = 0;
  stableCalls = 0;
  stableForceCalls = 0;
  checkCalls = 0;
  expiresInSeconds = 7200;
  /** Errors thrown by the next token calls, in order. */
  readonly failures: WeChatError[] = [];
  /** Resolve a pending call only when the test says so (to hold a fetch in flight). */
  gate: Promise<void> | undefined;
  /** Holds validity checks in flight; each is answered as WeChat saw the token when it was sent. */
  checkGate: Promise<void> | undefined;
  readonly valid = new Set<string>();

  /** getticket calls per type, whatever their outcome. */
  readonly ticketCalls: Record<TicketType, number> = { jsapi: 0, wx_card: 0 };
  /** The most getticket calls in flight at once (any type): 1 means never two at once. */
  maxTicketsInFlight = 0;
  ticketExpiresInSeconds = 7200;
  /** Errors thrown by the next getticket calls, in order (after the token check). */
  readonly ticketFailures: WeChatError[] = [];
  /** Holds getticket calls in flight until the test resolves it. */
  ticketGate: Promise<void> | undefined;
  /** The token each getticket call was made with, in order. */
  readonly ticketTokens: string[] = [];
  /** getticket calls made with a token this fake did not accept (a dead token). */
  deadTokenTicketCalls = 0;
  /** Every ticket issued, per type, newest last. */
  readonly tickets: Record<TicketType, string[]> = { jsapi: [], wx_card: [] };

  phoneCalls = 0;
  /** Codes getPhoneNumber accepts, each once; unknown or used ones throw 40029. */
  readonly phoneCodes = new Map<string, PhoneNumberInfo>();
  readonly phoneFailures: WeChatError[] = [];

  paidUnionIdCalls = 0;
  /** Payments getPaidUnionId finds (matched on openid and the query's trade fields); else 89300. */
  readonly payments: (PaidUnionIdQuery & { unionid: string })[] = [];
  readonly paidUnionIdFailures: WeChatError[] = [];

  #ticketsInFlight = 0;
  #seq = 0;
  #stable: string | undefined;

  constructor(private readonly clock: FakeClock) {}

  async getToken(_app: AppCredentials): Promise<FetchedToken> {
    this.tokenCalls++;
    return this.#issue('token');
  }

  async getStableToken(_app: AppCredentials, forceRefresh: boolean): Promise<FetchedToken> {
    this.stableCalls++;
    if (forceRefresh) this.stableForceCalls++;
    const sentAt = this.clock.now();
    await this.gate;
    const failure = this.failures.shift();
    if (failure) throw failure;
    if (!this.#stable || forceRefresh) {
      this.#stable = `stable-${++this.#seq}`;
      this.valid.add(this.#stable);
    }
    return { accessToken: this.#stable, expiresInSeconds: this.expiresInSeconds, sentAt };
  }

  async checkToken(accessToken: string): Promise<boolean> {
    this.checkCalls++;
    const valid = this.valid.has(accessToken);
    await this.checkGate;
    return valid;
  }

  // The login calls are not scripted (yet): a test that reaches one fails loudly.
  async code2Session(_app: AppCredentials, _jsCode: string): Promise<Code2SessionResult> {
    throw new Error('ScriptedWeChat does not script code2Session');
  }

  async checkSessionKey(_token: string, _openid: string, _signature: string): Promise<boolean> {
    throw new Error('ScriptedWeChat does not script checkSessionKey');
  }

  async resetSessionKey(
    _token: string,
    _openid: string,
    _signature: string,
  ): Promise<ResetSessionKeyResult> {
    throw new Error('ScriptedWeChat does not script resetSessionKey');
  }

  /**
   * Like WeChat: a token this fake did not issue, or one invalidated since, throws 40001
   * (token_invalid) before anything else; then `ticketFailures`, then a new ticket.
   */
  async getTicket(accessToken: string, type: TicketType): Promise<FetchedTicket> {
    this.ticketCalls[type]++;
    this.ticketTokens.push(accessToken);
    const sentAt = this.clock.now();
    const valid = this.valid.has(accessToken);
    if (!valid) this.deadTokenTicketCalls++;
    this.maxTicketsInFlight = Math.max(this.maxTicketsInFlight, ++this.#ticketsInFlight);
    try {
      await this.ticketGate;
      if (!valid) throw wechatError(40001, 'scripted: token not valid', 'getticket');
      const failure = this.ticketFailures.shift();
      if (failure) throw failure;
      const ticket = `ticket-${type}-${++this.#seq}`;
      this.tickets[type].push(ticket);
      return { ticket, expiresInSeconds: this.ticketExpiresInSeconds, sentAt };
    } finally {
      this.#ticketsInFlight--;
    }
  }

  /** Token check as getTicket, then `phoneFailures`, then the code (single-use) or 40029. */
  async getPhoneNumber(accessToken: string, code: string): Promise<PhoneNumberInfo> {
    this.phoneCalls++;
    if (!this.valid.has(accessToken)) {
      throw wechatError(40001, 'scripted: token not valid', 'getuserphonenumber');
    }
    const failure = this.phoneFailures.shift();
    if (failure) throw failure;
    const info = this.phoneCodes.get(code);
    if (!info) throw wechatError(40029, 'invalid code', 'getuserphonenumber');
    this.phoneCodes.delete(code);
    return { ...info };
  }

  /** Token check as getTicket, then `paidUnionIdFailures`, then a matching payment or 89300. */
  async getPaidUnionId(accessToken: string, query: PaidUnionIdQuery): Promise<{ unionid: string }> {
    this.paidUnionIdCalls++;
    if (!this.valid.has(accessToken)) {
      throw wechatError(40001, 'scripted: token not valid', 'getpaidunionid');
    }
    const failure = this.paidUnionIdFailures.shift();
    if (failure) throw failure;
    const payment = this.payments.find((p) =>
      p.openid !== query.openid
        ? false
        : 'transactionId' in query
          ? 'transactionId' in p && p.transactionId === query.transactionId
          : 'mchId' in p && p.mchId === query.mchId && p.outTradeNo === query.outTradeNo,
    );
    if (!payment) throw wechatError(89300, 'invalid trade', 'getpaidunionid');
    return { unionid: payment.unionid };
  }

  /** What another system fetching the same app would do: everything issued before dies. */
  invalidateAll(): void {
    this.valid.clear();
  }

  async #issue(endpoint: 'token'): Promise<FetchedToken> {
    const sentAt = this.clock.now();
    await this.gate;
    const failure = this.failures.shift();
    if (failure) throw failure;
    const accessToken = `tok-${++this.#seq}`;
    this.valid.add(accessToken);
    void endpoint;
    return { accessToken, expiresInSeconds: this.expiresInSeconds, sentAt };
  }
}

export const wechatError = (
  errcode: number,
  errmsg = 'scripted',
  endpoint: WeChatEndpoint = 'token',
): WeChatError => new WeChatError(endpoint, errcode, errmsg);
