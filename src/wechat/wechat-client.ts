import type { Secret } from '../shared/secret.js';
import type { TicketType } from '../shared/tickets.js';

/** What a token endpoint returned, with the time the request was SENT (design.md: expires_at base). */
export interface FetchedToken {
  accessToken: string;
  expiresInSeconds: number;
  /** Clock time (ms) at which the request was sent; expires_at = sentAt + expiresIn. */
  sentAt: number;
}

export interface AppCredentials {
  appId: string;
  secret: Secret;
}

/** A user's login, from /sns/jscode2session. */
export interface Code2SessionResult {
  openid: string;
  /** Only when the mini program is bound to an Open Platform account. */
  unionid?: string;
  /** base64 of the 16-byte AES key of the user's open data; also the HMAC key of `signature`. */
  sessionKey: Secret;
}

/** A user's new session_key, from /wxa/resetusersessionkey. */
export interface ResetSessionKeyResult {
  openid: string;
  sessionKey: Secret;
}

/** What getticket returned, with the time the request was SENT (expires_at base, as tokens). */
export interface FetchedTicket {
  ticket: string;
  expiresInSeconds: number;
  /** clock ms when the request was SENT */
  sentAt: number;
}

/** A user's phone number, from /wxa/business/getuserphonenumber (watermark checked, dropped). */
export interface PhoneNumberInfo {
  /** The bound number; a foreign one carries its area code. */
  phoneNumber: string;
  /** Without the area code. */
  purePhoneNumber: string;
  countryCode: string;
}

/** How /wxa/getpaidunionid names the payment: by transaction_id, or by merchant and order. */
export type PaidUnionIdQuery =
  { openid: string; transactionId: string } | { openid: string; mchId: string; outTradeNo: string };

/**
 * The WeChat calls wxtoken makes. Every failure is thrown as a WeChatError.
 * Implementations must never put the secret or a token in an error or a log line.
 */
export interface WeChatClient {
  /** GET /cgi-bin/token (classic): every call mints a new token. */
  getToken(app: AppCredentials): Promise<FetchedToken>;
  /** POST /cgi-bin/stable_token: same token until WeChat's last-300 s window unless forceRefresh. */
  getStableToken(app: AppCredentials, forceRefresh: boolean): Promise<FetchedToken>;
  /**
   * Cheap validity check (GET /cgi-bin/get_api_domain_ip). Resolves true when WeChat accepts
   * the token, false on 40001/40014/42001; throws WeChatError for anything else.
   */
  checkToken(accessToken: string): Promise<boolean>;
  /**
   * GET /sns/jscode2session: exchanges a wx.login code (single-use, valid 5 min) for the
   * user's openid and session_key. The code and the session_key never appear in an error.
   */
  code2Session(app: AppCredentials, jsCode: string): Promise<Code2SessionResult>;
  /**
   * GET /wxa/checksession. `signature` = sessionSignature(session_key) (login/wechat-crypto).
   * Resolves true when the key is the user's current one, false on 87009; throws WeChatError
   * for anything else (40001/40014/42001 as token_invalid: the access_token was rejected).
   */
  checkSessionKey(accessToken: string, openid: string, signature: string): Promise<boolean>;
  /**
   * GET /wxa/resetusersessionkey: replaces the user's session_key (the old one dies at once;
   * the new one keeps the old expiry). `signature` is made with the CURRENT key.
   */
  resetSessionKey(
    accessToken: string,
    openid: string,
    signature: string,
  ): Promise<ResetSessionKeyResult>;
  /**
   * GET /cgi-bin/ticket/getticket: every call mints a new ticket (the previous one lives out
   * its own expiry). The ticket gets a token's bounds (<= 2048 printable characters, a
   * positive expires_in). 40001/40014/42001 throw as token_invalid: renew the token and retry.
   */
  getTicket(accessToken: string, type: TicketType): Promise<FetchedTicket>;
  /**
   * POST /wxa/business/getuserphonenumber `{code}`: the number behind a getPhoneNumber code
   * (single-use, 5 min). A bad, used or expired code throws errcode 40029 (loginErrorKind
   * 'invalid_code'); token errors as getTicket. Neither the code nor the number is ever in an
   * error.
   */
  getPhoneNumber(accessToken: string, code: string): Promise<PhoneNumberInfo>;
  /**
   * GET /wxa/getpaidunionid: the unionid of a user who paid within the last 5 minutes.
   * WeChat's errors throw with their errcode (89300 invalid trade, 40003 invalid openid, 89002
   * no Open Platform account: all kind 'unknown'); token errors as getTicket.
   */
  getPaidUnionId(accessToken: string, query: PaidUnionIdQuery): Promise<{ unionid: string }>;
}
