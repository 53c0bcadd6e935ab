import { BlockList, isIP } from 'node:net';
import { FaultQueue } from './fault-queue.js';
import type { TicketType } from '../shared/tickets.js';
import { LoginState } from './login-state.js';
import { MessageLog } from './message-log.js';
import { PaidTrades } from './paid-trades.js';
import { PhoneCodes } from './phone-codes.js';
import { mintTokenValue } from './mint-token-value.js';
import { QuotaCounter, beijingDay, minuteOf } from './quota-counter.js';
import { ClassicTokens, type IssueOutcome } from './classic-tokens.js';
import { TicketShelf } from './ticket-shelf.js';
import { TokenChannel, type IssuedToken } from './token-channel.js';
import type { ResolvedSimAppSettings, SimCounters } from './types.js';

/** getStableAccessToken's fixed quotas (wechat-api.md §2); far above what a test reaches. */
const STABLE_MINUTE_QUOTA = 10_000;
const STABLE_DAILY_QUOTA = 500_000;

export type { IssueOutcome } from './classic-tokens.js';

/**
 * One appid as WeChat sees it: its settings, its two token channels, its mini-program users
 * (`login`), tickets, phone codes, payments and messages, quotas, counters and injected faults. Pure and clock-free: every method takes
 * `now`, so the whole lifetime of a token can be tested by passing numbers. Request parsing and
 * errcode precedence live in SimBackend and SimLogin; this class starts where the appid is known.
 */
export class SimApp {
  readonly classic: TokenChannel;
  readonly stable = new TokenChannel('stable');
  readonly login = new LoginState();
  readonly tickets: Readonly<Record<TicketType, TicketShelf>> = {
    jsapi: new TicketShelf(),
    wx_card: new TicketShelf(),
  };
  readonly phoneCodes = new PhoneCodes();
  readonly payments = new PaidTrades();
  readonly messages = new MessageLog();
  readonly faults = new FaultQueue();
  readonly counters: SimCounters = {
    tokenCalls: 0,
    tokenIssued: 0,
    stableCalls: 0,
    stableIssued: 0,
    stableForceIssued: 0,
    checkCalls: 0,
    code2sessionCalls: 0,
    code2sessionOk: 0,
    checkSessionCalls: 0,
    resetSessionKeyCalls: 0,
    ticketCalls: 0,
    callbackIpCalls: 0,
    customSendCalls: 0,
    wxaCodeCalls: 0,
    phoneNumberCalls: 0,
    phoneNumberOk: 0,
    paidUnionidCalls: 0,
    paidUnionidOk: 0,
    errors: {},
    faults: {},
  };
  readonly #mint: (length: number) => string;
  readonly #classicTokens: ClassicTokens;
  readonly #stableMinute = new QuotaCounter(minuteOf);
  readonly #stableDaily = new QuotaCounter(beijingDay);
  readonly #forceDaily = new QuotaCounter(beijingDay);
  #lastForceAt: number | undefined;
  #settings!: ResolvedSimAppSettings;
  #whitelist: BlockList | undefined;

  /** `adopt`: the token state of a light app (a third-party authorizer) this app takes over. */
  constructor(
    settings: ResolvedSimAppSettings,
    mint: (length: number) => string = mintTokenValue,
    adopt: ClassicTokens = new ClassicTokens(),
  ) {
    this.#mint = mint;
    this.#classicTokens = adopt;
    this.classic = adopt.channel;
    this.counters.tokenIssued = adopt.issued;
    this.update(settings);
  }

  get settings(): ResolvedSimAppSettings {
    return this.#settings;
  }

  /** New settings apply from the next call; tokens, users, quotas used and counters are kept. */
  update(settings: ResolvedSimAppSettings): void {
    this.#settings = settings;
    this.#whitelist = settings.ipWhitelist && toBlockList(settings.ipWhitelist);
  }

  /** The checks both token endpoints make once the appid is known: 40125, then 40164 (§1, §9). */
  authenticate(secret: string, remoteIp: string): IssueOutcome | undefined {
    if (secret !== this.#settings.secret) return { ok: false, errcode: 40125 };
    if (this.#whitelist) {
      const ip = unmapIpv4(remoteIp);
      const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
      if (!isIP(ip) || !this.#whitelist.check(ip, family)) {
        const where = family === 'ipv4' ? `${ip} ipv6 ::ffff:${ip}` : ip;
        return { ok: false, errcode: 40164, errmsg: `invalid ip ${where}, not in whitelist` };
      }
    }
    return undefined;
  }

  /**
   * /cgi-bin/token after authentication: every success mints a new token (§1). Only mints count
   * against the daily quota; whether WeChat also counts failed calls is UNCONFIRMED.
   */
  issueClassic(now: number): IssueOutcome {
    const outcome = this.#classicTokens.issue(now, this.#settings, this.#mint);
    if (outcome.ok) this.counters.tokenIssued++;
    return outcome;
  }

  /** /cgi-bin/stable_token after authentication (§2). */
  issueStable(now: number, forceRefresh: boolean): IssueOutcome {
    const s = this.#settings;
    if (!this.#stableMinute.tryTake(now, STABLE_MINUTE_QUOTA)) return { ok: false, errcode: 45011 };
    if (!this.#stableDaily.tryTake(now, STABLE_DAILY_QUOTA)) return { ok: false, errcode: 45009 };
    // UNCONFIRMED (§2): the docs say only that a force call within the minimum interval "will not
    // refresh". We assume it then behaves as a normal call: the current token, unchanged, and it
    // does not use up one of the day's force refreshes.
    const forceDue =
      forceRefresh &&
      (this.#lastForceAt === undefined ||
        now - this.#lastForceAt >= s.stableForceMinIntervalSeconds * 1000);
    if (forceDue) {
      // UNCONFIRMED (§2): what the call past the daily limit returns; we answer 45009.
      if (!this.#forceDaily.tryTake(now, s.stableForceDailyLimit)) {
        return { ok: false, errcode: 45009 };
      }
      this.#lastForceAt = now;
      this.counters.stableForceIssued++;
      return this.#mintStable(now, s.overlapSeconds);
    }
    const current = this.stable.current;
    if (current && current.expiresAt - now > s.stableWindowSeconds * 1000) {
      return { ok: true, token: current, expiresInSeconds: this.#remainingSeconds(current, now) };
    }
    // Rotating early: the outgoing token lives out its remaining (<= window) life.
    return this.#mintStable(now, s.stableWindowSeconds);
  }

  #mintStable(now: number, overlapSeconds: number): IssueOutcome {
    const token = this.#rotate(this.stable, now, overlapSeconds);
    this.counters.stableIssued++;
    return { ok: true, token, expiresInSeconds: this.#settings.expiresInSeconds };
  }

  #rotate(channel: TokenChannel, now: number, overlapSeconds: number): IssuedToken {
    const s = this.#settings;
    const value = this.#mint(s.tokenLength);
    return channel.rotate(value, now, s.expiresInSeconds * 1000, overlapSeconds * 1000);
  }

  /**
   * Remaining life as WeChat reports it: whole seconds, rounded down so a client never believes
   * a token outlives its real expiry; rounding down keeps `expires_in >= stableWindowSeconds`
   * because the window is whole too. Apps with fractional timings (fast tests) get the exact
   * remainder instead, which rounding could push below a fractional window.
   */
  #remainingSeconds(token: IssuedToken, now: number): number {
    const s = this.#settings;
    const remainingMs = token.expiresAt - now;
    const whole = Number.isInteger(s.expiresInSeconds) && Number.isInteger(s.stableWindowSeconds);
    return whole ? Math.floor(remainingMs / 1000) : remainingMs / 1000;
  }
}

/** `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) → `1.2.3.4`. */
function unmapIpv4(ip: string): string {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return match?.[1] ?? ip;
}

function toBlockList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [ip = '', prefix] = entry.split('/');
    const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(ip, family);
    else list.addSubnet(ip, Number(prefix), family);
  }
  return list;
}
