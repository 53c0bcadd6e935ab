import type { Clock } from '../shared/clock.js';
import { fingerprint } from '../shared/secret.js';
import {
  failWith,
  type Call,
  type CallRecorder,
  type Decision,
  type SimReply,
} from './call-recorder.js';
import { encryptUserData } from './encrypt-user-data.js';
import type { LoginRequest } from './login-request.js';
import type { SimApp } from './sim-app.js';
import { SimInputError, SimUnknownAppError, SimUnknownUserError } from './sim-errors.js';
import { parseSimCodeRequest, parseSimEncryptRequest } from './sim-schemas.js';
import { openTokenCall } from './token-call.js';
import type {
  SimCheckResult,
  SimEncryptedData,
  SimEndpoint,
  SimIssuedCode,
  SimUserView,
} from './types.js';

/** What SimLogin needs from the backend. */
export interface SimLoginDeps {
  clock: Clock;
  calls: Pick<CallRecorder, 'begin' | 'answer'>;
  appOf(appId: string): SimApp | undefined;
  /** The token verdict of get_api_domain_ip (wechat-api.md §3). */
  check(accessToken: string): SimCheckResult;
}

const OK = { errcode: 0, errmsg: 'ok' } as const;

/** A session call either refused before the session was looked at, or free to go on. */
type OpenedSessionCall =
  | { call: Call; refusal: Decision; app?: undefined }
  | { call: Call; refusal?: undefined; app: SimApp };

/**
 * The mini-program login flow (wechat-api.md §4-6, §8): the three WeChat endpoints with their
 * errcode precedence, and the control operations that play the device's part (wx.login, open
 * data). Users, codes and keys live per app in LoginState. Codes, session keys and signatures
 * never reach the call log: only openids and key fingerprints do.
 */
export class SimLogin {
  readonly #deps: SimLoginDeps;

  constructor(deps: SimLoginDeps) {
    this.#deps = deps;
  }

  /** GET /sns/jscode2session (§4). */
  code2Session(request: LoginRequest): SimReply {
    const call = this.#deps.calls.begin('jscode2session', request.appid ?? '');
    return this.#deps.calls.answer(call, this.#decideCode2Session(call, request));
  }

  /**
   * GET /sns/component/jscode2session: the same exchange for a mini program that authorized a
   * third-party platform, with the platform's component_access_token in place of the AppSecret.
   * `platform` answers 0 when the token is that platform's live one and the app its authorizer,
   * else the errcode (41001, 40001, 42001, 40013, 61003). The call is logged and counted as the
   * authorizer's jscode2session.
   */
  componentCode2Session(
    request: LoginRequest,
    platform: (componentAppId: string, componentToken: string, appId: string) => number,
  ): SimReply {
    const call = this.#deps.calls.begin('jscode2session', request.appid ?? '');
    return this.#deps.calls.answer(
      call,
      this.#decideComponentCode2Session(call, request, platform),
    );
  }

  /** GET /wxa/checksession (§5): is the signature the user's current, unexpired key's? */
  checkSession(request: LoginRequest): SimReply {
    const opened = this.#openSessionCall('checksession', request);
    if (opened.refusal) return this.#deps.calls.answer(opened.call, opened.refusal);
    const { call, app } = opened;
    const openid = request.openid ?? '';
    const errcode = app.login.checkSession(openid, request.signature ?? '', this.#now());
    const decision: Decision =
      errcode === 0 ? { ok: true, body: OK, details: { openid } } : failWith(errcode, { openid });
    return this.#deps.calls.answer(call, decision);
  }

  /** GET /wxa/resetusersessionkey (§6): a new key for the user, keeping the old one's expiry. */
  resetSessionKey(request: LoginRequest): SimReply {
    const opened = this.#openSessionCall('resetusersessionkey', request);
    if (opened.refusal) return this.#deps.calls.answer(opened.call, opened.refusal);
    const { call, app } = opened;
    const openid = request.openid ?? '';
    const outcome = app.login.resetSessionKey(openid, request.signature ?? '', this.#now());
    if (!outcome.ok) return this.#deps.calls.answer(call, failWith(outcome.errcode, { openid }));
    const key = outcome.sessionKey.value;
    return this.#deps.calls.answer(call, {
      ok: true,
      body: { ...OK, openid, session_key: key },
      details: { openid, sessionKeyFingerprint: fingerprint(key) },
    });
  }

  /** Control: what wx.login() would return on the device, plus the openid to expect. */
  issueCode(appId: string, input: unknown = {}): SimIssuedCode {
    const app = this.#app(appId);
    return app.login.issueCode(parseSimCodeRequest(input), this.#now(), app.settings);
  }

  /** Control: the user as WeChat knows them, with a fingerprint of the key, never the key. */
  user(appId: string, openid: string): SimUserView {
    const app = this.#app(appId);
    const view = app.login.view(openid, app.settings);
    if (!view) throw new SimUnknownUserError(appId, openid);
    return view;
  }

  /**
   * Control: `data` encrypted as getUserInfo / getPhoneNumber hand it to the device (§8), with
   * the user's current session_key, expired or not (the device cannot tell).
   */
  encrypt(appId: string, openid: string, input: unknown): SimEncryptedData {
    const { data } = parseSimEncryptRequest(input);
    const app = this.#app(appId);
    if (!app.login.view(openid, app.settings)) throw new SimUnknownUserError(appId, openid);
    const key = app.login.sessionKey(openid);
    if (!key)
      throw new SimInputError(`user ${openid} has no session_key yet: exchange a code first`);
    const timestamp = Math.floor(this.#now() / 1000);
    return encryptUserData(key.value, data, { appid: appId, timestamp });
  }

  /**
   * jscode2session in this order: 41002, 41004, 40002, 40013, injected faults, 40125, then the
   * code (LoginState.exchange). Unlike the token endpoints there is no IP whitelist check: §9
   * ties the whitelist to getAccessToken only.
   */
  #decideCode2Session(call: Call, request: LoginRequest): Decision {
    const { app } = call;
    if (!request.appid) return failWith(41002);
    if (!request.secret) return failWith(41004);
    if (request.grant_type !== 'authorization_code') return failWith(40002);
    if (!app) return failWith(40013);
    const fault = app.faults.take(call.endpoint);
    if (fault) return { ok: false, fault };
    if (request.secret !== app.settings.secret) return failWith(40125);
    return this.#exchange(app, request.js_code ?? '');
  }

  /** 41002, 40002, the platform's verdict, injected faults, then the code (as jscode2session). */
  #decideComponentCode2Session(
    call: Call,
    request: LoginRequest,
    platform: (componentAppId: string, componentToken: string, appId: string) => number,
  ): Decision {
    if (!request.appid) return failWith(41002);
    if (request.grant_type !== 'authorization_code') return failWith(40002);
    const verdict = platform(
      request.component_appid ?? '',
      request.component_access_token ?? '',
      request.appid,
    );
    if (verdict !== 0) return failWith(verdict);
    const { app } = call;
    if (!app) return failWith(61003);
    const fault = app.faults.take(call.endpoint);
    if (fault) return { ok: false, fault };
    return this.#exchange(app, request.js_code ?? '');
  }

  /** The code itself (LoginState.exchange): the user's openid and a new session_key. */
  #exchange(app: SimApp, jsCode: string): Decision {
    const outcome = app.login.exchange(jsCode, this.#now(), app.settings);
    if (!outcome.ok) {
      return failWith(
        outcome.errcode,
        outcome.openid === undefined ? undefined : { openid: outcome.openid },
      );
    }
    app.counters.code2sessionOk++;
    const { openid, unionid, sessionKey } = outcome;
    return {
      ok: true,
      body: {
        openid,
        session_key: sessionKey.value,
        ...(unionid === undefined ? {} : { unionid }),
      },
      details: { openid, sessionKeyFingerprint: fingerprint(sessionKey.value) },
    };
  }

  /**
   * What checksession and resetusersessionkey check before the session (§5, §6): 41001, the
   * token's owner (counted against it), injected faults, the token verdict (40001, 42001), then
   * `87008 invalid sig_method`.
   */
  #openSessionCall(endpoint: SimEndpoint, request: LoginRequest): OpenedSessionCall {
    const opened = openTokenCall(this.#deps, endpoint, request.access_token);
    if (opened.refusal) return opened;
    const { call, app } = opened;
    const details = request.openid ? { openid: request.openid } : undefined;
    if (request.sig_method !== 'hmac_sha256') return { call, refusal: failWith(87008, details) };
    return { call, app };
  }

  #app(appId: string): SimApp {
    const app = this.#deps.appOf(appId);
    if (!app) throw new SimUnknownAppError(appId);
    return app;
  }

  #now(): number {
    return this.#deps.clock.now();
  }
}
