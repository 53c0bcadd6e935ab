import type { Clock } from '../shared/clock.js';
import { fingerprint } from '../shared/secret.js';
import { CallLog, type CallFilter } from './call-log.js';
import { SimApp, type IssueOutcome } from './sim-app.js';
import { SimUnknownAppError } from './sim-errors.js';
import { parseSimAppSettings, parseSimFault } from './sim-schemas.js';
import { parseStableTokenBody, type TokenRequest } from './token-request.js';
import type {
  SimCall,
  SimChannel,
  SimCheckResult,
  SimCounters,
  SimEndpoint,
  SimFaultKind,
} from './types.js';
import { wechatErrorBody } from './wechat-error-body.js';

/** The IPs behind api.weixin.qq.com, as get_api_domain_ip lists them (wechat-api.md §10). */
const API_DOMAIN_IPS = ['101.89.47.18', '101.91.34.103'];

/** Faults that answer without a WeChat JSON body; the HTTP layer renders them. */
export type TransportFault = 'html' | 'http_502' | 'timeout' | 'malformed';

/** Faults that answer with a WeChat error body. */
const FAULT_ERRCODES: Record<Exclude<SimFaultKind, TransportFault>, number> = {
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
} as const satisfies Record<SimEndpoint, keyof SimCounters>;

/** How to answer a call to a WeChat endpoint, after `delayMs` (the app's latency). */
export type SimReply =
  | { kind: 'json'; body: object; delayMs: number }
  | { kind: 'fault'; fault: TransportFault; delayMs: number };

/** What a handler decided, before it is logged and counted. */
type Decision =
  IssueOutcome | { ok: false; fault: SimFaultKind } | { ok: true; validToken: string };

interface Call {
  endpoint: SimEndpoint;
  appId: string;
  app: SimApp | undefined;
  forceRefresh?: boolean;
}

/**
 * WeChat's side of the simulator without HTTP: the apps, who owns which token, errcode
 * precedence per endpoint, the call log and the control operations. Time comes only from the
 * Clock, so unit tests drive it with a FakeClock and no sockets.
 */
export class SimBackend {
  readonly #clock: Clock;
  readonly #apps = new Map<string, SimApp>();
  /** Every token ever issued → its owner, so a dead token is still attributed to its app. */
  readonly #owners = new Map<string, { appId: string; channel: SimChannel }>();
  readonly #log = new CallLog();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Creates or updates an app; an update keeps its tokens, quotas used and counters. */
  configureApp(settings: unknown): void {
    const resolved = parseSimAppSettings(settings);
    const app = this.#apps.get(resolved.appId);
    if (app) app.update(resolved);
    else this.#apps.set(resolved.appId, new SimApp(resolved));
  }

  injectFault(appId: string, fault: unknown): void {
    this.#app(appId).faults.add(parseSimFault(fault));
  }

  clearFaults(appId: string): void {
    this.#app(appId).faults.clear();
  }

  counters(appId: string): SimCounters {
    return structuredClone(this.#app(appId).counters);
  }

  calls(filter: CallFilter = {}): SimCall[] {
    return this.#log.list(filter);
  }

  /** Forgets every app, token, counter, fault and logged call. */
  reset(): void {
    this.#apps.clear();
    this.#owners.clear();
    this.#log.clear();
  }

  /**
   * Mints a classic token as another system holding the same secret would: it uses the daily
   * quota and counts as issued, but is no call of ours (not in tokenCalls nor the call log).
   * `endOverlap` ends the previous token's grace at once.
   */
  rotate(appId: string, endOverlap = false): IssueOutcome {
    const app = this.#app(appId);
    const now = this.#clock.now();
    const outcome = app.issueClassic(now);
    if (outcome.ok) {
      this.#owners.set(outcome.token.value, { appId, channel: 'classic' });
      if (endOverlap) app.classic.endOverlap(now);
    }
    return outcome;
  }

  /** get_api_domain_ip's verdict on a token, without counting, logging or faults. */
  check(accessToken: string): SimCheckResult {
    const owner = this.#owners.get(accessToken);
    const app = owner && this.#apps.get(owner.appId);
    if (!owner || !app) return { valid: false, errcode: 40001 };
    const errcode = app[owner.channel].verdict(accessToken, this.#clock.now());
    return { valid: errcode === 0, errcode, appId: owner.appId, channel: owner.channel };
  }

  /** GET /cgi-bin/token (wechat-api.md §1). */
  token(request: TokenRequest, remoteIp: string): SimReply {
    const call = this.#begin('token', request.appid ?? '');
    return this.#answer(
      call,
      this.#decideToken(call, request, remoteIp, (app, now) => app.issueClassic(now)),
    );
  }

  /** POST /cgi-bin/stable_token (wechat-api.md §2). */
  stableToken(method: string, rawBody: string, remoteIp: string): SimReply {
    if (method !== 'POST') return this.#answer(this.#begin('stable_token', ''), error(43002));
    const request = parseStableTokenBody(rawBody);
    if (!request) return this.#answer(this.#begin('stable_token', ''), error(47001));
    const call = this.#begin('stable_token', request.appid ?? '');
    call.forceRefresh = request.forceRefresh;
    return this.#answer(
      call,
      this.#decideToken(call, request, remoteIp, (app, now) =>
        app.issueStable(now, request.forceRefresh),
      ),
    );
  }

  /** GET /cgi-bin/get_api_domain_ip (wechat-api.md §10): the cheapest validity check. */
  apiDomainIp(accessToken: string | undefined): SimReply {
    if (!accessToken) return this.#answer(this.#begin('get_api_domain_ip', ''), error(41001));
    const call = this.#begin('get_api_domain_ip', this.#owners.get(accessToken)?.appId ?? '');
    const fault = call.app?.faults.take(call.endpoint);
    const { errcode } = this.check(accessToken);
    const decision: Decision = fault
      ? { ok: false, fault }
      : errcode === 0
        ? { ok: true, validToken: accessToken }
        : error(errcode);
    return this.#answer(call, decision);
  }

  /** Opens a call: finds the app and counts the request against it. */
  #begin(endpoint: SimEndpoint, appId: string): Call {
    const app = this.#apps.get(appId);
    if (app) app.counters[CALL_COUNTER[endpoint]]++;
    return { endpoint, appId, app };
  }

  /**
   * Both token endpoints, in this order: 41002, 41004, 40002, 40013, injected faults, 40125,
   * 40164, then the endpoint's own quotas and minting.
   */
  #decideToken(
    call: Call,
    request: TokenRequest,
    remoteIp: string,
    issue: (app: SimApp, now: number) => IssueOutcome,
  ): Decision {
    const { app } = call;
    if (!request.appid) return error(41002);
    if (!request.secret) return error(41004);
    if (request.grant_type !== 'client_credential') return error(40002);
    if (!app) return error(40013);
    // Faults apply once the app is known (they are injected per app), and before the secret is
    // looked at: a gateway or a busy backend fails the call before WeChat's checks run.
    const fault = app.faults.take(call.endpoint);
    if (fault) return { ok: false, fault };
    return app.authenticate(request.secret, remoteIp) ?? issue(app, this.#clock.now());
  }

  /** Logs and counts the call, and turns the decision into a reply. */
  #answer(call: Call, decision: Decision): SimReply {
    const delayMs = call.app?.settings.latencyMs ?? 0;
    if (decision.ok && 'validToken' in decision) {
      this.#record(call, 0, { tokenFingerprint: fingerprint(decision.validToken) });
      return { kind: 'json', body: { ip_list: API_DOMAIN_IPS }, delayMs };
    }
    if (decision.ok) {
      const { value } = decision.token;
      const channel = call.endpoint === 'token' ? 'classic' : 'stable';
      this.#owners.set(value, { appId: call.appId, channel });
      this.#record(call, 0, { tokenFingerprint: fingerprint(value) });
      const body = { access_token: value, expires_in: decision.expiresInSeconds };
      return { kind: 'json', body, delayMs };
    }
    if ('fault' in decision) {
      const { fault } = decision;
      const faults = call.app?.counters.faults;
      if (faults) faults[fault] = (faults[fault] ?? 0) + 1;
      if (isTransportFault(fault)) {
        // No WeChat body reached the client; -1 (busy, retry) is what a client makes of it.
        this.#record(call, -1, { fault });
        return { kind: 'fault', fault, delayMs };
      }
      this.#record(call, FAULT_ERRCODES[fault], { fault });
      return { kind: 'json', body: wechatErrorBody(FAULT_ERRCODES[fault]), delayMs };
    }
    this.#record(call, decision.errcode, {});
    return { kind: 'json', body: wechatErrorBody(decision.errcode, decision.errmsg), delayMs };
  }

  #record(call: Call, errcode: number, extra: Pick<SimCall, 'fault' | 'tokenFingerprint'>): void {
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

  #app(appId: string): SimApp {
    const app = this.#apps.get(appId);
    if (!app) throw new SimUnknownAppError(appId);
    return app;
  }
}

function error(errcode: number): IssueOutcome {
  return { ok: false, errcode };
}
