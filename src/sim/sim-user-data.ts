import type { Clock } from '../shared/clock.js';
import { failWith, type CallRecorder, type Decision, type SimReply } from './call-recorder.js';
import type { TradeQuery } from './paid-trades.js';
import type { SimApp } from './sim-app.js';
import { SimUnknownAppError } from './sim-errors.js';
import { parseSimPaymentRequest, parseSimPhoneCodeRequest } from './sim-schemas.js';
import { openTokenCall } from './token-call.js';
import type { SimCheckResult, SimIssuedPhoneCode, SimPayment } from './types.js';

export interface SimUserDataDeps {
  clock: Clock;
  calls: Pick<CallRecorder, 'begin' | 'answer'>;
  appOf(appId: string): SimApp | undefined;
  check(accessToken: string): SimCheckResult;
}

/** The query parameters of getpaidunionid (wechat-api.md §7); absent ones are undefined. */
export interface PaidUnionidRequest {
  access_token?: string;
  openid?: string;
  transaction_id?: string;
  mch_id?: string;
  out_trade_no?: string;
}

export function paidUnionidRequestFromQuery(query: URLSearchParams): PaidUnionidRequest {
  const request: PaidUnionidRequest = {};
  for (const key of [
    'access_token',
    'openid',
    'transaction_id',
    'mch_id',
    'out_trade_no',
  ] as const) {
    const value = query.get(key);
    if (value !== null) request[key] = value;
  }
  return request;
}

const OK = { errcode: 0, errmsg: 'ok' } as const;
/** §8: a bad, used or expired phone code; also a body without one. */
const INVALID_CODE = 40029;
/** §7 lists no errcode for a missing parameter; 40097 `invalid args` is WeChat's generic one. */
const INVALID_ARGS = 40097;
/** §7: the mini program is bound to no Open Platform account, so users have no unionid. */
const NO_OPEN_PLATFORM = 89002;
const INVALID_OPENID = 40003;
const INVALID_TRADE = 89300;
/** A phone code is 32 characters; a longer "code" is refused without a lookup. */
const MAX_CODE_CHARS = 128;

/**
 * The user-data APIs a mini program's server calls with an access_token: the phone number
 * behind a getPhoneNumber code (§8) and the unionid behind a recent payment (§7), with the
 * control operations that play the device and WeChat Pay. The call log gets openids only:
 * never a code or a phone number.
 */
export class SimUserData {
  readonly #deps: SimUserDataDeps;

  constructor(deps: SimUserDataDeps) {
    this.#deps = deps;
  }

  /**
   * POST /wxa/business/getuserphonenumber (§8): 43002 for another method, the token checks
   * (openTokenCall), 47001 for a body that is not a JSON object (§8: a code sent as a form
   * parameter draws 40029 or 47001), then 40029 for a missing, unknown, used or expired code.
   * `rawBody` is undefined when it was too large to read.
   */
  phoneNumber(
    method: string,
    accessToken: string | undefined,
    rawBody: string | undefined,
  ): SimReply {
    const { calls } = this.#deps;
    if (method !== 'POST')
      return calls.answer(calls.begin('getuserphonenumber', ''), failWith(43002));
    const opened = openTokenCall(this.#deps, 'getuserphonenumber', accessToken);
    if (opened.refusal) return calls.answer(opened.call, opened.refusal);
    const { call, app } = opened;
    const body = jsonObject(rawBody);
    if (!body) return calls.answer(call, failWith(47001));
    const code = body['code'];
    if (typeof code !== 'string' || code === '' || code.length > MAX_CODE_CHARS) {
      return calls.answer(call, failWith(INVALID_CODE));
    }
    const now = this.#deps.clock.now();
    const issued = app.phoneCodes.exchange(code, now);
    if (!issued) return calls.answer(call, failWith(INVALID_CODE));
    app.counters.phoneNumberOk++;
    const { phoneNumber, purePhoneNumber, countryCode } = issued;
    return calls.answer(call, {
      ok: true,
      body: {
        ...OK,
        phone_info: {
          phoneNumber,
          purePhoneNumber,
          countryCode,
          watermark: { timestamp: Math.floor(now / 1000), appid: call.appId },
        },
      },
    });
  }

  /**
   * GET /wxa/getpaidunionid (§7): the token checks, 40097 without an openid or a trade
   * (transaction_id, or mch_id + out_trade_no), 89002 for an app bound to no Open Platform
   * account (`unionidBound: false`), 89300 for a trade unknown or past its window, 40003 for
   * a trade of another user [inferred: §7 lists 40003 without saying when], then the unionid.
   */
  paidUnionid(request: PaidUnionidRequest): SimReply {
    const { calls } = this.#deps;
    const opened = openTokenCall(this.#deps, 'getpaidunionid', request.access_token);
    if (opened.refusal) return calls.answer(opened.call, opened.refusal);
    return calls.answer(opened.call, this.#decidePaidUnionid(opened.app, request));
  }

  /** Control: a phone code for `{phoneNumber}`, as the getPhoneNumber button would give. */
  issuePhoneCode(appId: string, input: unknown): SimIssuedPhoneCode {
    const { phoneNumber } = parseSimPhoneCodeRequest(input);
    const app = this.#app(appId);
    const lifetimeMs = app.settings.phoneCodeLifetimeSeconds * 1000;
    return app.phoneCodes.issue(phoneNumber, this.#deps.clock.now(), lifetimeMs);
  }

  /** Control: a payment by a user, answerable at getpaidunionid for the app's window. */
  addPayment(appId: string, input: unknown): SimPayment {
    const request = parseSimPaymentRequest(input);
    const app = this.#app(appId);
    const windowMs = app.settings.paidUnionidWindowSeconds * 1000;
    return app.payments.add(request, this.#deps.clock.now(), windowMs);
  }

  #decidePaidUnionid(app: SimApp, request: PaidUnionidRequest): Decision {
    const {
      openid,
      transaction_id: transactionId,
      mch_id: mchId,
      out_trade_no: outTradeNo,
    } = request;
    const query: TradeQuery | undefined = transactionId
      ? { transactionId }
      : mchId && outTradeNo
        ? { mchId, outTradeNo }
        : undefined;
    if (!openid || !query) return failWith(INVALID_ARGS);
    if (!app.settings.unionidBound) return failWith(NO_OPEN_PLATFORM, { openid });
    const payment = app.payments.find(query, this.#deps.clock.now());
    if (!payment) return failWith(INVALID_TRADE, { openid });
    if (payment.openid !== openid) return failWith(INVALID_OPENID, { openid });
    app.counters.paidUnionidOk++;
    return { ok: true, body: { unionid: payment.unionid, ...OK }, details: { openid } };
  }

  #app(appId: string): SimApp {
    const app = this.#deps.appOf(appId);
    if (!app) throw new SimUnknownAppError(appId);
    return app;
  }
}

/** The body as a JSON object, or undefined (missing, too large, not JSON, not an object). */
export function jsonObject(rawBody: string | undefined): Record<string, unknown> | undefined {
  if (rawBody === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(rawBody);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
