import { randomBytes } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { fingerprint } from '../shared/secret.js';
import type { CallFilter } from './call-log.js';
import {
  CallRecorder,
  failWith,
  type Call,
  type Decision,
  type SimReply,
} from './call-recorder.js';
import { ClassicTokens } from './classic-tokens.js';
import { mintTokenValue } from './mint-token-value.js';
import { SimApp, type IssueOutcome } from './sim-app.js';
import { SimInputError, SimUnknownAppError } from './sim-errors.js';
import { SimLogin } from './sim-login.js';
import { SimComponents } from './sim-components.js';
import { SimOrdinaryApis } from './sim-ordinary-apis.js';
import { SimTickets } from './sim-tickets.js';
import { SimUserData } from './sim-user-data.js';
import { parseSimAppSettings, parseSimFault } from './sim-schemas.js';
import { parseStableTokenBody, type TokenRequest } from './token-request.js';
import type { TokenChannel } from './token-channel.js';
import type {
  ResolvedSimAppSettings,
  SimCall,
  SimChannel,
  SimCheckResult,
  SimCounters,
} from './types.js';

export type { SimReply, TransportFault } from './call-recorder.js';

/** The IPs behind api.weixin.qq.com, as get_api_domain_ip lists them (wechat-api.md §10). */
const API_DOMAIN_IPS = ['101.89.47.18', '101.91.34.103'];

interface TokenOwner {
  readonly appId: string;
  readonly channel: SimChannel;
}

/**
 * An app that so far only gets classic tokens (a third-party authorizer): settings shared with
 * the authorizers created alongside it, and its token state from its first token on. It becomes
 * a SimApp, adopting that state, the first time anything treats it as one (a token-taking API, a
 * control route, /cgi-bin/token), so 100,000 of them cost little more than their tokens.
 */
interface LightApp {
  /** Shared; its appId and secret are placeholders, filled in when the app is made full. */
  readonly settings: ResolvedSimAppSettings;
  tokens: ClassicTokens | undefined;
  /** The owner entry of every token it mints, shared by them. */
  owner: TokenOwner | undefined;
}

/**
 * WeChat's side of the simulator without HTTP: the apps, who owns which token, errcode
 * precedence per endpoint, and the control operations; the login endpoints are in `login`,
 * the token-taking APIs in `tickets`, `userData` and `ordinary`.
 * Time comes only from the Clock, so unit tests drive it with a FakeClock and no sockets.
 */
export class SimBackend {
  /** jscode2session, checksession, resetusersessionkey and their control operations. */
  readonly login: SimLogin;
  /** getticket and its control operations. */
  readonly tickets: SimTickets;
  /** getuserphonenumber, getpaidunionid and their control operations. */
  readonly userData: SimUserData;
  /** getcallbackip, message/custom/send, getwxacodeunlimit. */
  readonly ordinary: SimOrdinaryApis;
  /** Third-party platforms (wechat-api.md §13); their authorizers are apps of this backend. */
  readonly components: SimComponents;
  readonly #clock: Clock;
  readonly #apps = new Map<string, SimApp>();
  readonly #lightApps = new Map<string, LightApp>();
  /** Every token ever issued → its owner, so a dead token is still attributed to its app. */
  readonly #owners = new Map<string, TokenOwner>();
  readonly #calls: CallRecorder;

  constructor(clock: Clock) {
    this.#clock = clock;
    const appOf = (appId: string): SimApp | undefined => this.#appOf(appId);
    this.#calls = new CallRecorder(clock, appOf);
    const deps = {
      clock,
      calls: this.#calls,
      appOf,
      check: (accessToken: string) => this.check(accessToken),
    };
    this.login = new SimLogin(deps);
    this.tickets = new SimTickets(deps);
    this.userData = new SimUserData(deps);
    this.ordinary = new SimOrdinaryApis(deps);
    this.components = new SimComponents({
      clock,
      addLightApp: (appId, settings) => this.addLightApp(appId, settings),
      rotate: (appId) => this.rotate(appId),
    });
  }

  /** Creates or updates an app; an update keeps its tokens, users, quotas used and counters. */
  configureApp(settings: unknown): void {
    const resolved = parseSimAppSettings(settings);
    const app = this.#apps.get(resolved.appId);
    if (app) app.update(resolved);
    else if (!this.#makeFull(resolved.appId, resolved)) {
      this.#apps.set(resolved.appId, new SimApp(resolved));
    }
  }

  /**
   * Registers an app that only gets classic tokens until something uses it as a full app (see
   * LightApp); `settings` may be shared between many (its appId and secret are not read). An
   * appId that already exists keeps its settings and tokens.
   */
  addLightApp(appId: string, settings: ResolvedSimAppSettings): void {
    if (appId === '') throw new SimInputError('appId must be a non-empty string');
    if (this.#apps.has(appId) || this.#lightApps.has(appId)) return;
    this.#lightApps.set(appId, { settings, tokens: undefined, owner: undefined });
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
    return this.#calls.list(filter);
  }

  /** Forgets every app, token, user, counter, fault and logged call. */
  reset(): void {
    this.#apps.clear();
    this.#lightApps.clear();
    this.#owners.clear();
    this.#calls.clear();
    this.components.reset();
  }

  /** Stops what runs on its own (timed verify-ticket pushes); the simulator is closing. */
  close(): void {
    this.components.close();
  }

  /**
   * Mints a classic token as another system holding the same secret would: it uses the daily
   * quota and counts as issued, but is no call of ours (not in tokenCalls nor the call log).
   * `endOverlap` ends the previous token's grace at once.
   */
  rotate(appId: string, endOverlap = false): IssueOutcome {
    const light = this.#apps.has(appId) ? undefined : this.#lightApps.get(appId);
    if (light) return this.#rotateLight(appId, light, endOverlap);
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
    const channel = owner && this.#channel(owner);
    if (!owner || !channel) return { valid: false, errcode: 40001 };
    const errcode = channel.verdict(accessToken, this.#clock.now());
    return { valid: errcode === 0, errcode, appId: owner.appId, channel: owner.channel };
  }

  /** GET /cgi-bin/token (wechat-api.md §1). */
  token(request: TokenRequest, remoteIp: string): SimReply {
    const call = this.#calls.begin('token', request.appid ?? '');
    return this.#calls.answer(
      call,
      this.#decideToken(call, request, remoteIp, (app, now) => app.issueClassic(now)),
    );
  }

  /** POST /cgi-bin/stable_token (wechat-api.md §2). */
  stableToken(method: string, rawBody: string, remoteIp: string): SimReply {
    if (method !== 'POST') {
      return this.#calls.answer(this.#calls.begin('stable_token', ''), failWith(43002));
    }
    const request = parseStableTokenBody(rawBody);
    if (!request) return this.#calls.answer(this.#calls.begin('stable_token', ''), failWith(47001));
    const call = this.#calls.begin('stable_token', request.appid ?? '');
    call.forceRefresh = request.forceRefresh;
    return this.#calls.answer(
      call,
      this.#decideToken(call, request, remoteIp, (app, now) =>
        app.issueStable(now, request.forceRefresh),
      ),
    );
  }

  /** GET /cgi-bin/get_api_domain_ip (wechat-api.md §10): the cheapest validity check. */
  apiDomainIp(accessToken: string | undefined): SimReply {
    if (!accessToken) {
      return this.#calls.answer(this.#calls.begin('get_api_domain_ip', ''), failWith(41001));
    }
    const owner = this.#owners.get(accessToken)?.appId ?? '';
    const call = this.#calls.begin('get_api_domain_ip', owner);
    const fault = call.app?.faults.take(call.endpoint);
    const { errcode } = this.check(accessToken);
    const decision: Decision = fault
      ? { ok: false, fault }
      : errcode === 0
        ? {
            ok: true,
            body: { ip_list: API_DOMAIN_IPS },
            details: { tokenFingerprint: fingerprint(accessToken) },
          }
        : failWith(errcode);
    return this.#calls.answer(call, decision);
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
    if (!request.appid) return failWith(41002);
    if (!request.secret) return failWith(41004);
    if (request.grant_type !== 'client_credential') return failWith(40002);
    if (!app) return failWith(40013);
    // Faults apply once the app is known (they are injected per app), and before the secret is
    // looked at: a gateway or a busy backend fails the call before WeChat's checks run.
    const fault = app.faults.take(call.endpoint);
    if (fault) return { ok: false, fault };
    const outcome = app.authenticate(request.secret, remoteIp) ?? issue(app, this.#clock.now());
    if (!outcome.ok) return outcome;
    const { value } = outcome.token;
    const channel = call.endpoint === 'token' ? 'classic' : 'stable';
    this.#owners.set(value, { appId: call.appId, channel });
    return {
      ok: true,
      body: { access_token: value, expires_in: outcome.expiresInSeconds },
      details: { tokenFingerprint: fingerprint(value) },
    };
  }

  #app(appId: string): SimApp {
    const app = this.#appOf(appId);
    if (!app) throw new SimUnknownAppError(appId);
    return app;
  }

  #appOf(appId: string): SimApp | undefined {
    return this.#apps.get(appId) ?? this.#makeFull(appId);
  }

  /** Turns a light app into a SimApp that adopts its tokens, quota used and mint count. */
  #makeFull(appId: string, settings?: ResolvedSimAppSettings): SimApp | undefined {
    const light = this.#lightApps.get(appId);
    if (!light) return undefined;
    this.#lightApps.delete(appId);
    const resolved =
      settings ??
      Object.freeze({ ...light.settings, appId, secret: randomBytes(16).toString('hex') });
    const app = new SimApp(resolved, mintTokenValue, light.tokens);
    this.#apps.set(appId, app);
    return app;
  }

  /** rotate() of a light app: no SimApp is made. */
  #rotateLight(appId: string, light: LightApp, endOverlap: boolean): IssueOutcome {
    const now = this.#clock.now();
    light.tokens ??= new ClassicTokens();
    const outcome = light.tokens.issue(now, light.settings, mintTokenValue);
    if (outcome.ok) {
      light.owner ??= { appId, channel: 'classic' };
      this.#owners.set(outcome.token.value, light.owner);
      if (endOverlap) light.tokens.channel.endOverlap(now);
    }
    return outcome;
  }

  /** The channel that issued an owner's tokens, light apps' included; undefined once reset. */
  #channel(owner: TokenOwner): TokenChannel | undefined {
    const app = this.#apps.get(owner.appId);
    if (app) return app[owner.channel];
    return owner.channel === 'classic'
      ? this.#lightApps.get(owner.appId)?.tokens?.channel
      : undefined;
  }
}
