import type { TicketType } from '../shared/tickets.js';

/**
 * The simulator's public vocabulary. Other engineers' tests and business teams' integration
 * tests speak these shapes over the control API (`/__sim/`), so changes here are breaking.
 */

/** The WeChat endpoints the simulator serves; also the `endpoint` of a logged call. */
export type SimEndpoint =
  | 'token'
  | 'stable_token'
  | 'get_api_domain_ip'
  /** GET /sns/jscode2session (wechat-api.md §4). */
  | 'jscode2session'
  /** GET /wxa/checksession (§5). */
  | 'checksession'
  /** GET /wxa/resetusersessionkey (§6). */
  | 'resetusersessionkey'
  /** GET /cgi-bin/ticket/getticket (§11). */
  | 'getticket'
  /** GET /cgi-bin/getcallbackip (§12). */
  | 'getcallbackip'
  /** POST /cgi-bin/message/custom/send (§12). */
  | 'custom_send'
  /** POST /wxa/getwxacodeunlimit (§12): a PNG, or JSON on error. */
  | 'getwxacodeunlimit'
  /** POST /wxa/business/getuserphonenumber (§8). */
  | 'getuserphonenumber'
  /** GET /wxa/getpaidunionid (§7). */
  | 'getpaidunionid';

/** Which token channel issued a token (wechat-api.md §2: the two share nothing). */
export type SimChannel = 'classic' | 'stable';

/** One app as WeChat knows it. Durations accept fractions so tests run lifetimes in seconds. */
export interface SimAppSettings {
  appId: string;
  secret: string;
  /** Lifetime of every issued token. Default 7200. */
  expiresInSeconds?: number;
  /** Grace of the previous classic (and force-refreshed stable) token after a rotation. Default 300. */
  overlapSeconds?: number;
  /**
   * Stable normal mode rotates once at most this much life remains; must be below
   * expiresInSeconds. Default 300, or expiresInSeconds / 24 (WeChat's proportion) when tokens
   * live less than 2 h, so short test lifetimes need no extra setting.
   */
  stableWindowSeconds?: number;
  /** Minimum gap between two effective force refreshes. Default 30. */
  stableForceMinIntervalSeconds?: number;
  /** Force refreshes per Beijing day; one more draws 45009. Default 20. */
  stableForceDailyLimit?: number;
  /** Classic /cgi-bin/token mints per Beijing day; one more draws 45009. Default 2000. */
  dailyQuota?: number;
  /** Added before every answer for this app. Default 0. */
  latencyMs?: number;
  /** Total length of an issued token, `NN_` prefix included. Default 136 (what WeChat issues today). */
  tokenLength?: number;
  /** IPs or CIDR ranges allowed to fetch tokens; absent means no check (wechat-api.md §9). */
  ipWhitelist?: string[];
  /** How long a wx.login() code can be exchanged at jscode2session. Default 300 (§4). */
  codeLifetimeSeconds?: number;
  /**
   * Lifetime of a session_key from the exchange that issued it; a reset keeps the expiry.
   * WeChat documents none (§4). Default 259200 (3 days).
   */
  sessionKeyLifetimeSeconds?: number;
  /**
   * Whether the app is bound to an Open Platform account, so that jscode2session returns a
   * unionid (§4). A user's own `unionid` flag (SimCodeRequest) overrides it. Default true.
   */
  unionidBound?: boolean;
  /** expires_in of every getticket ticket, jsapi and wx_card alike (§11). Default 7200. */
  ticketLifetimeSeconds?: number;
  /** How long a phone-number code can be exchanged at getuserphonenumber (§8). Default 300. */
  phoneCodeLifetimeSeconds?: number;
  /** How long after a payment getpaidunionid answers for it (§7). Default 300. */
  paidUnionidWindowSeconds?: number;
}

/** Settings with every default applied. */
export type ResolvedSimAppSettings = Required<Omit<SimAppSettings, 'ipWhitelist'>> &
  Pick<SimAppSettings, 'ipWhitelist'>;

export type SimFaultKind =
  /** `-1 system error`. */
  | 'system_error'
  /** `45011`, the per-minute quota. */
  | 'minute_quota'
  /** `45009`, the daily quota. */
  | 'daily_quota'
  /** HTTP 200 with an HTML body, as a gateway in front of WeChat might send. */
  | 'html'
  /** HTTP 502 with an HTML body. */
  | 'http_502'
  /** No answer: the socket is held open until the client gives up (or 30 s pass). */
  | 'timeout'
  /** HTTP 200 with a truncated JSON body (a token body; on getticket a ticket body). */
  | 'malformed'
  /**
   * HTTP 200 with a well-formed token body of 100 MiB (a 100 MiB access_token; on getticket a
   * 100 MiB ticket), streamed: what a hostile or broken upstream can send. wxtoken must stop
   * reading and stay up.
   */
  | 'huge_body'
  /** huge_body without a content-length (chunked): only counting what arrives stops it. */
  | 'huge_chunked'
  /**
   * HTTP 200 with the start of the endpoint's success body, then nothing until the client gives
   * up (or 30 s): a reply that stalls mid-stream, which only a deadline on the whole call ends.
   */
  | 'stalled_body'
  /**
   * HTTP 200 with a well-formed token body whose access_token is 4,096 characters long (on
   * getticket: a success body whose ticket is).
   */
  | 'long_token';

/** A fault consumed by the app's next `count` calls to one of `endpoints`. */
export interface SimFault {
  kind: SimFaultKind;
  count: number;
  /** Default: token and stable_token. */
  endpoints?: SimEndpoint[];
}

/** Per-app counters (`GET /__sim/apps/:appId/counters`). */
export interface SimCounters {
  /** Requests to /cgi-bin/token naming this app, whatever their outcome. */
  tokenCalls: number;
  /** Classic tokens minted, including those minted by the control API's rotate. */
  tokenIssued: number;
  stableCalls: number;
  /** Stable tokens minted, forced or not. */
  stableIssued: number;
  stableForceIssued: number;
  /** get_api_domain_ip requests carrying one of this app's tokens. */
  checkCalls: number;
  /** Requests to /sns/jscode2session naming this app, whatever their outcome. */
  code2sessionCalls: number;
  /** Codes exchanged for a session_key. */
  code2sessionOk: number;
  /** /wxa/checksession requests carrying one of this app's tokens. */
  checkSessionCalls: number;
  /** /wxa/resetusersessionkey requests carrying one of this app's tokens. */
  resetSessionKeyCalls: number;
  /** getticket requests carrying one of this app's tokens, any type (per type: tickets/:type/counters). */
  ticketCalls: number;
  /** getcallbackip requests carrying one of this app's tokens. */
  callbackIpCalls: number;
  /** message/custom/send requests carrying one of this app's tokens. */
  customSendCalls: number;
  /** getwxacodeunlimit requests carrying one of this app's tokens. */
  wxaCodeCalls: number;
  /** getuserphonenumber requests carrying one of this app's tokens, whatever their outcome. */
  phoneNumberCalls: number;
  /** Phone codes exchanged for a number. */
  phoneNumberOk: number;
  /** getpaidunionid requests carrying one of this app's tokens, whatever their outcome. */
  paidUnionidCalls: number;
  /** getpaidunionid answers with a unionid. */
  paidUnionidOk: number;
  /** errcode → how many calls of this app drew it; equals the errcodes in the call log. */
  errors: Record<string, number>;
  /** Fault kind → how many calls it answered. */
  faults: Record<string, number>;
}

/** One request to a WeChat endpoint, as the call log keeps it. Never holds a secret or a token. */
export interface SimCall {
  /** Clock time (ms) the request was handled. */
  at: number;
  endpoint: SimEndpoint;
  /** The appid the request named (or the owner of its token); '' when unknown. */
  appId: string;
  /** 0 on success. Faults without a WeChat body (html, 502, timeout, malformed) log -1. */
  errcode: number;
  forceRefresh?: boolean;
  /** Set when an injected fault answered the call. */
  fault?: SimFaultKind;
  /** fingerprint() of the token issued or checked, to correlate with wxtoken's own logs. */
  tokenFingerprint?: string;
  /** Login endpoints: the user the code or the openid parameter named, once known. */
  openid?: string;
  /** fingerprint() of the session_key issued (jscode2session, resetusersessionkey). */
  sessionKeyFingerprint?: string;
  /** getticket: the `type` asked for, when it is one WeChat knows. */
  ticketType?: TicketType;
}

/** The verdict on a token, as get_api_domain_ip would give it (wechat-api.md §3, §10). */
export interface SimCheckResult {
  valid: boolean;
  /** 0 when valid, else 40001 or 42001. */
  errcode: number;
  appId?: string;
  channel?: SimChannel;
}

/**
 * `POST /__sim/apps/:appId/codes`: what the device's wx.login() would do. Flags given here
 * stick to the user for later codes; flags left out keep the user's current ones.
 */
export interface SimCodeRequest {
  /** A stable user id of the test's choosing; the same id gives the same openid. Default random. */
  user?: string;
  /** A high-risk user: exchanging this user's codes draws 40226. Default false. */
  blocked?: boolean;
  /** Whether this user gets a unionid; absent follows the app's `unionidBound`. */
  unionid?: boolean;
}

/** A wx.login() code, and who it stands for, so a test knows the openid to expect. */
export interface SimIssuedCode {
  code: string;
  openid: string;
  unionid?: string;
}

/** `GET /__sim/apps/:appId/users/:openid`: a user as WeChat knows them. Never the key itself. */
export interface SimUserView {
  openid: string;
  unionid?: string;
  blocked: boolean;
  /** fingerprint() of the current session_key; absent until a code has been exchanged. */
  sessionKeyFingerprint?: string;
  /** Clock time (ms) the current session_key expires. */
  sessionKeyExpiresAt?: number;
}

/** Open data as the mini program hands it to the device (wechat-api.md §8). */
export interface SimEncryptedData {
  /** base64 of AES-128-CBC/PKCS#7 ciphertext. */
  encryptedData: string;
  /** base64 of the 16-byte IV. */
  iv: string;
}

/** `GET /__sim/apps/:appId/tickets/:type/counters`: one app's getticket calls of one type. */
export interface SimTicketCounters {
  /** Calls carrying one of the app's tokens (alive or dead) and this type, whatever their outcome. */
  calls: number;
  /** Calls answered with a new ticket. */
  accepted: number;
  /** Calls refused because the token was dead (40001, 42001). */
  rejectedDeadToken: number;
  /** Calls of this app and type between arrival and the last byte of their answer, now. */
  inFlight: number;
  /** The most calls ever in flight at once since the last reset: 1 proves "never two at once". */
  maxInFlight: number;
}

/** `POST /__sim/apps/:appId/tickets/:type/check`: WeChat's view of a ticket now. */
export interface SimTicketCheck {
  /** Issued to this app and type and not past its own expiry. */
  alive: boolean;
  /** The last one getticket issued for this app and type (alive or not). */
  newest: boolean;
  /** Clock time (ms) the ticket expires; absent for a ticket never issued (or long forgotten). */
  expiresAt?: number;
}

/** `GET /__sim/apps/:appId/tickets/:type/newest`: the ticket a JS-SDK signature should use. */
export interface SimNewestTicket {
  ticket: string;
  issuedAt: number;
  expiresAt: number;
  alive: boolean;
}

/**
 * `POST /__sim/apps/:appId/phone-codes`: what the device's getPhoneNumber button hands the
 * mini program. `phoneNumber` is `+<country code> <number>`, e.g. `+86 13800138000`; a number
 * without a `+CC ` prefix is taken as Chinese (86).
 */
export interface SimPhoneCodeRequest {
  phoneNumber: string;
}

/** A phone code and the phone_info getuserphonenumber will answer for it. */
export interface SimIssuedPhoneCode {
  code: string;
  phoneNumber: string;
  purePhoneNumber: string;
  countryCode: string;
  /** Clock time (ms) after which the code draws 40029. */
  expiresAt: number;
}

/**
 * `POST /__sim/apps/:appId/payments`: a payment by a user, so getpaidunionid can find it by
 * `transactionId`, by `mchId` + `outTradeNo`, or both (at least one of the two forms).
 */
export interface SimPaymentRequest {
  openid: string;
  unionid: string;
  transactionId?: string;
  mchId?: string;
  outTradeNo?: string;
}

/** A registered payment. */
export interface SimPayment extends SimPaymentRequest {
  /** Clock time (ms) of the payment (when it was registered). */
  paidAt: number;
  /** Clock time (ms) after which getpaidunionid answers 89300 for it. */
  answerableUntil: number;
}

/** `GET /__sim/apps/:appId/messages`: one customer-service message as it arrived. */
export interface SimMessage {
  /** Clock time (ms) it arrived. */
  at: number;
  touser: string;
  msgtype: string;
  /** The whole JSON body as sent. */
  body: Record<string, unknown>;
}
