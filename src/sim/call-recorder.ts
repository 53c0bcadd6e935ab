import type { Clock } from '../shared/clock.js';
import { CallLog, type CallFilter } from './call-log.js';
import type { SimApp } from './sim-app.js';
import type { SimCall, SimCounters, SimEndpoint, SimFaultKind } from './types.js';
import { wechatErrorBody } from './wechat-error-body.js';

/** Faults that answer with a WeChat error body. */
type ErrcodeFault = 'system_error' | 'minute_quota' | 'daily_quota';

/** Faults answered by the transport itself (a body or a silence), not by a WeChat error body. */
export type TransportFault = Exclude<SimFaultKind, ErrcodeFault>;

const FAULT_ERRCODES: Record<ErrcodeFault, number> = {
  system_error: -1,
  minute_quota: 45011,
  daily_quota: 45009,
};

function isTransportFault(kind: SimFaultKind): kind is TransportFault {
  return !(kind in FAULT_ERRCODES);
}

const CALL_COUNTER = {
  token: 'tokenCalls',
  stable_token: 'stableCalls',
  get_api_domain_ip: 'checkCalls',
  jscode2session: 'code2sessionCalls',
  checksession: 'checkSessionCalls',
  resetusersessionkey: 'resetSessionKeyCalls',
  getticket: 'ticketCalls',
  getcallbackip: 'callbackIpCalls',
  custom_send: 'customSendCalls',
  getwxacodeunlimit: 'wxaCodeCalls',
  getuserphonenumber: 'phoneNumberCalls',
  getpaidunionid: 'paidUnionidCalls',
} as const satisfies Record<SimEndpoint, keyof SimCounters>;

/** A success answered with bytes rather than JSON (getwxacodeunlimit's image). */
export interface SimBinary {
  contentType: string;
  bytes: Buffer;
}

/**
 * How to answer a call to a WeChat endpoint, after `delayMs` (the app's latency). `done`, when
 * set, is called once the answer is sent or abandoned: getticket uses it to know which calls
 * are still in flight.
 */
export type SimReply = (
  | { kind: 'json'; body: object }
  | { kind: 'binary'; binary: SimBinary }
  /** `endpoint` shapes the body of huge_body, long_token and malformed. */
  | { kind: 'fault'; fault: TransportFault; endpoint: SimEndpoint }
) & { delayMs: number; done?: () => void };

/** What the log may say about a call beyond its errcode: fingerprints and openids only. */
export type CallDetails = Pick<
  SimCall,
  'tokenFingerprint' | 'openid' | 'sessionKeyFingerprint' | 'ticketType'
>;

/** What an endpoint decided, before it is logged and counted. */
export type Decision =
  | { ok: true; body: object; details?: CallDetails }
  | { ok: true; binary: SimBinary; details?: CallDetails }
  | { ok: false; errcode: number; errmsg?: string; details?: CallDetails }
  | { ok: false; fault: SimFaultKind };

/** One request in flight: the app it names (if configured) has already counted it. */
export interface Call {
  endpoint: SimEndpoint;
  appId: string;
  app: SimApp | undefined;
  forceRefresh?: boolean;
}

/**
 * The bookkeeping every WeChat endpoint shares: per-app call, error and fault counters, the call
 * log, and turning a decision into a reply. Callers put only fingerprints in `details`; nothing
 * here ever sees a secret, code or key in a form it could log.
 */
export class CallRecorder {
  readonly #clock: Clock;
  readonly #appOf: (appId: string) => SimApp | undefined;
  readonly #log = new CallLog();

  constructor(clock: Clock, appOf: (appId: string) => SimApp | undefined) {
    this.#clock = clock;
    this.#appOf = appOf;
  }

  /** Opens a call: finds the app and counts the request against it. */
  begin(endpoint: SimEndpoint, appId: string): Call {
    const app = this.#appOf(appId);
    if (app) app.counters[CALL_COUNTER[endpoint]]++;
    return { endpoint, appId, app };
  }

  /** Logs and counts the call, and turns the decision into a reply. */
  answer(call: Call, decision: Decision): SimReply {
    const delayMs = call.app?.settings.latencyMs ?? 0;
    if (decision.ok) {
      this.#record(call, 0, decision.details ?? {});
      return 'binary' in decision
        ? { kind: 'binary', binary: decision.binary, delayMs }
        : { kind: 'json', body: decision.body, delayMs };
    }
    if ('fault' in decision) {
      const { fault } = decision;
      const faults = call.app?.counters.faults;
      if (faults) faults[fault] = (faults[fault] ?? 0) + 1;
      if (isTransportFault(fault)) {
        // No WeChat body reached the client; -1 (busy, retry) is what a client makes of it.
        this.#record(call, -1, { fault });
        return { kind: 'fault', fault, endpoint: call.endpoint, delayMs };
      }
      this.#record(call, FAULT_ERRCODES[fault], { fault });
      return { kind: 'json', body: wechatErrorBody(FAULT_ERRCODES[fault]), delayMs };
    }
    this.#record(call, decision.errcode, decision.details ?? {});
    return { kind: 'json', body: wechatErrorBody(decision.errcode, decision.errmsg), delayMs };
  }

  list(filter: CallFilter = {}): SimCall[] {
    return this.#log.list(filter);
  }

  clear(): void {
    this.#log.clear();
  }

  #record(call: Call, errcode: number, extra: CallDetails & Pick<SimCall, 'fault'>): void {
    const { endpoint, appId, forceRefresh } = call;
    this.#log.record({
      at: this.#clock.now(),
      endpoint,
      appId,
      errcode,
      ...(forceRefresh === undefined ? {} : { forceRefresh }),
      ...extra,
    });
    const errors = call.app?.counters.errors;
    if (errors && errcode !== 0) errors[errcode] = (errors[errcode] ?? 0) + 1;
  }
}

/** A WeChat error decision. */
export function failWith(errcode: number, details?: CallDetails): Decision {
  return { ok: false, errcode, ...(details && { details }) };
}
