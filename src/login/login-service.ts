import { createHash, randomBytes } from 'node:crypto';
import type { AppSet } from '../apps/app-directory.js';
import type { AppConfig, Config } from '../config/config.js';
import type { Clock } from '../shared/clock.js';
import { AppNotFoundError, SessionNotFoundError } from '../shared/errors.js';
import { credentialsOf } from '../refresher/access-token-kind.js';
import type { RefreshLocks } from '../token/token-store.js';
import type {
  Code2SessionResult as WeChatSession,
  PaidUnionIdQuery,
  PhoneNumberInfo,
  WeChatClient,
} from '../wechat/wechat-client.js';
import { LoginCodeError, type LoginCodeProblem } from '../wechat/upstream-errors.js';
import {
  WeChatError,
  isRetryable,
  isTokenInvalid,
  isWeChatError,
  loginErrorKind,
} from '../wechat/wechat-error.js';
import type { ExchangeRecord, LoginSession, SessionStore } from './session-store.js';
import { CODE_LIFETIME_MS, OncePerCode } from './once-per-code.js';
import { decryptUserData, sessionSignature } from './wechat-crypto.js';

/** The caller name of records written before exchanges were bound to callers. */
const ANONYMOUS = 'anonymous';
const RETRIES = 2;

/** getuserphonenumber's answer for a bad, used or expired code (wechat-api.md §8). */
const INVALID_CODE = 40029;

/** The login errcode kinds that are a verdict on the js_code itself (40029, 40163, 40226, 45011). */
const CODE_PROBLEMS: ReadonlySet<string> = new Set<LoginCodeProblem>([
  'invalid_code',
  'code_used',
  'blocked',
  'rate_limited',
]);

const isCodeProblem = (kind: string): kind is LoginCodeProblem => CODE_PROBLEMS.has(kind);

/** What WeChat's errcode says about a js_code; wechat-error.ts maps the login errcodes once. */
function codeProblemOf(errcode: number | null): LoginCodeProblem | undefined {
  const kind = loginErrorKind(errcode);
  return kind !== undefined && isCodeProblem(kind) ? kind : undefined;
}

/** -1 and timeouts; a code error (40029, 40163, 40226, 45011) is WeChat's verdict, not a blip. */
function isTransientForCodes(err: unknown): boolean {
  const codeProblem = isWeChatError(err) && codeProblemOf(err.errcode) !== undefined;
  return isRetryable(err) && !codeProblem;
}

export interface Code2SessionResult {
  readonly session: LoginSession;
  /** Present only when the app's config allows exposing it. */
  readonly exposedSessionKey?: string;
}

export interface LoginServiceDeps {
  readonly clock: Clock;
  /** The apps served, third-party platforms' authorizers included (they join at run time). */
  readonly apps: Pick<AppSet, 'get'>;
  readonly login: Config['login'];
  readonly wechat: Pick<
    WeChatClient,
    'code2Session' | 'checkSessionKey' | 'resetSessionKey' | 'getPhoneNumber' | 'getPaidUnionId'
  >;
  readonly sessions: SessionStore;
  readonly locks: RefreshLocks;
  /** The app's current access token (the TokenService), for the token-backed calls. */
  readonly accessToken: (appId: string) => Promise<string>;
  /**
   * WeChat rejected `rejected` (40001/40014/42001): compare-and-refresh with exactly that token
   * (ForceRefresh), resolving with the current token afterwards.
   */
  readonly recoverToken: (appId: string, rejected: string) => Promise<string>;
  readonly onExchange?: (appId: string, result: 'upstream' | 'dedup' | 'error') => void;
  /**
   * The exchange of an authorizer's code (no AppSecret here: its platform's component token,
   * /sns/component/jscode2session). Without it, an authorizer's code is refused.
   */
  readonly authorizerCode2Session?: (app: AppConfig, jsCode: string) => Promise<WeChatSession>;
}

/**
 * The login exchange, done the way WeChat asks: AppSecret and session_key stay inside.
 * A code is exchanged upstream at most once: concurrent calls in this process share one
 * promise, and across replicas a lock keyed by a hash of (app, code) plus a short-lived
 * result record make every duplicate or retry get the first answer, never 40163.
 */
export class LoginService {
  readonly #once: OncePerCode;

  constructor(private readonly deps: LoginServiceDeps) {
    this.#once = new OncePerCode(deps);
  }

  /**
   * `caller` is the authenticated caller's name (anonymous with auth off). A retry of a code
   * by the caller that exchanged it gets the same session; any other caller presenting that
   * code gets WeChat's own answer to a used code (40163), so a code seen by one business
   * server (a log, a proxy) cannot be turned into another's session.
   */
  async code2Session(appId: string, jsCode: string, caller: string): Promise<Code2SessionResult> {
    const app = this.#app(appId);
    const hash = codeHash(appId, jsCode);
    const pending = this.#once.run({
      appId,
      hash,
      caller,
      endpoint: 'jscode2session',
      exchange: () => this.#exchange(app, jsCode, hash, caller),
      replay: (record) => this.#replay(record, caller),
      onDedup: () => this.deps.onExchange?.(appId, 'dedup'),
    });
    const session = await pending;
    const expose = app.exposeSessionKey ?? this.deps.login.exposeSessionKey;
    return { session, ...(expose ? { exposedSessionKey: session.sessionKey.reveal() } : {}) };
  }

  async getSession(handle: string): Promise<LoginSession> {
    const session = await this.deps.sessions.getSession(handle);
    if (!session) throw new SessionNotFoundError();
    return session;
  }

  async decryptUserData(handle: string, encryptedData: string, iv: string): Promise<string> {
    const s = await this.getSession(handle);
    const data = decryptUserData({
      encryptedData,
      iv,
      sessionKey: s.sessionKey.reveal(),
      appId: s.appId,
    });
    return JSON.stringify(data);
  }

  async checkSession(handle: string): Promise<boolean> {
    const s = await this.getSession(handle);
    return this.#withToken(s.appId, (token) =>
      this.deps.wechat.checkSessionKey(token, s.openid, sessionSignature(s.sessionKey.reveal())),
    );
  }

  /** New session key from WeChat; it inherits the old one's expiry, and so does the session. */
  async resetSessionKey(handle: string): Promise<LoginSession> {
    const s = await this.getSession(handle);
    const reset = await this.#withToken(s.appId, (token) =>
      this.deps.wechat.resetSessionKey(token, s.openid, sessionSignature(s.sessionKey.reveal())),
    );
    const next: LoginSession = { ...s, sessionKey: reset.sessionKey };
    await this.deps.sessions.putSession(next);
    return next;
  }

  /**
   * The user's phone number for a getPhoneNumber button code, with the central token. The code
   * is single-use like a wx.login code, so it gets the same idempotency: one upstream call,
   * every retry of the same caller answered from the record (sealed at rest), another caller
   * told the code is used. The number is never logged.
   */
  async getPhoneNumber(appId: string, code: string, caller: string): Promise<PhoneNumberInfo> {
    this.#app(appId);
    // Its own namespace of hashes: a phone code can never replay a login code's record.
    const hash = codeHash(appId, `phone\0${code}`);
    return this.#once.run({
      appId,
      hash,
      caller,
      endpoint: 'getuserphonenumber',
      exchange: () => this.#exchangePhone(appId, code, hash, caller),
      replay: async (record) => {
        if ('phone' in record) {
          if (record.caller === caller) return record.phone;
          throw new LoginCodeError(
            'code_used',
            new WeChatError('getuserphonenumber', 40163, 'code been used'),
            'code',
          );
        }
        if ('error' in record) {
          const { errcode, errmsg } = record.error;
          const upstream = new WeChatError('getuserphonenumber', errcode, errmsg);
          throw new LoginCodeError('invalid_code', upstream, 'code');
        }
        throw new Error('a login code record under a phone code hash');
      },
    });
  }

  async #exchangePhone(
    appId: string,
    code: string,
    hash: string,
    caller: string,
  ): Promise<PhoneNumberInfo> {
    const { sessions } = this.deps;
    try {
      const phone = await this.#withToken(appId, (token) =>
        this.#withRetry(() => this.deps.wechat.getPhoneNumber(token, code)),
      );
      await sessions.putExchange(appId, hash, { phone, caller }, CODE_LIFETIME_MS);
      return phone;
    } catch (err) {
      if (!(isWeChatError(err) && err.errcode === INVALID_CODE)) throw err;
      // A code's verdict does not change: record it so a replay gets the same answer.
      await sessions
        .putExchange(
          appId,
          hash,
          { error: { errcode: err.errcode, errmsg: err.errmsg } },
          CODE_LIFETIME_MS,
        )
        .catch(() => undefined);
      throw new LoginCodeError('invalid_code', err, 'code');
    }
  }

  /** The user's unionid after a payment (within 5 minutes of it), with the central token. */
  getPaidUnionId(appId: string, query: PaidUnionIdQuery): Promise<{ unionid: string }> {
    this.#app(appId);
    // Only -1 and transport failures are retried: 89300 (no such trade), 40003 and 89002
    // are answers about the request, whatever kind WeChat's table gives them.
    return this.#withToken(appId, (token) =>
      this.#withRetry(
        () => this.deps.wechat.getPaidUnionId(token, query),
        (err) => isWeChatError(err) && err.kind === 'retryable',
      ),
    );
  }

  /**
   * Runs a call that takes the app's central token. When WeChat rejects that token (it died:
   * reset in the console, fetched by another system), the token is recovered once by
   * compare-and-refresh with exactly that token, and the call repeated with the new one:
   * WeChat refuses a dead token before acting, so repeating is safe.
   */
  async #withToken<T>(appId: string, call: (token: string) => Promise<T>): Promise<T> {
    const token = await this.deps.accessToken(appId);
    try {
      return await call(token);
    } catch (err) {
      if (!isTokenInvalid(err)) throw err;
      const fresh = await this.deps.recoverToken(appId, token);
      if (fresh === token) throw err;
      return call(fresh);
    }
  }

  async #exchange(
    app: AppConfig,
    jsCode: string,
    hash: string,
    caller: string,
  ): Promise<LoginSession> {
    const { sessions, clock } = this.deps;
    try {
      const r = await this.#withRetry(() => this.#upstreamExchange(app, jsCode));
      const session: LoginSession = {
        handle: randomBytes(24).toString('base64url'),
        appId: app.appId,
        openid: r.openid,
        ...(r.unionid ? { unionid: r.unionid } : {}),
        sessionKey: r.sessionKey,
        expiresAt: clock.now() + this.deps.login.sessionTtlSeconds * 1000,
      };
      await sessions.putSessionAndExchange(session, hash, CODE_LIFETIME_MS, caller);
      this.deps.onExchange?.(app.appId, 'upstream');
      return session;
    } catch (err) {
      this.deps.onExchange?.(app.appId, 'error');
      const problem = isWeChatError(err) ? codeProblemOf(err.errcode) : undefined;
      if (!problem) throw err;
      // A code's verdict does not change: record it so a replay gets the same answer.
      if (problem !== 'rate_limited') {
        const e = err as WeChatError;
        await sessions
          .putExchange(
            app.appId,
            hash,
            { error: { errcode: e.errcode!, errmsg: e.errmsg } },
            CODE_LIFETIME_MS,
          )
          .catch(() => undefined);
      }
      throw new LoginCodeError(problem, err as WeChatError);
    }
  }

  /** -1 and timeouts are retried a bounded number of times; a code error never is. */
  async #withRetry<T>(
    call: () => Promise<T>,
    transient: (err: unknown) => boolean = isTransientForCodes,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (!transient(err) || attempt >= RETRIES) throw err;
        await this.deps.clock.sleep(100 * 2 ** attempt);
      }
    }
  }

  async #replay(record: ExchangeRecord, caller: string): Promise<LoginSession> {
    if ('ok' in record) {
      if ((record.caller ?? ANONYMOUS) === caller) return this.getSession(record.ok.handle);
      // Another caller's code: exactly what WeChat answers for a used code.
      const used = new WeChatError('jscode2session', 40163, 'code been used');
      throw new LoginCodeError('code_used', used);
    }
    if ('phone' in record) throw new Error('a phone code record under a login code hash');
    const { errcode, errmsg } = record.error;
    const upstream = new WeChatError('jscode2session', errcode, errmsg);
    throw new LoginCodeError(codeProblemOf(errcode) ?? 'invalid_code', upstream);
  }

  /** An app's own jscode2session, or an authorizer's through its platform. */
  #upstreamExchange(app: AppConfig, jsCode: string): Promise<WeChatSession> {
    if (app.component === undefined)
      return this.deps.wechat.code2Session(credentialsOf(app), jsCode);
    const viaPlatform = this.deps.authorizerCode2Session;
    if (!viaPlatform) throw new AppNotFoundError(app.appId);
    return viaPlatform(app, jsCode);
  }

  #app(appId: string): AppConfig {
    const app = this.deps.apps.get(appId);
    if (!app) throw new AppNotFoundError(appId);
    return app;
  }
}

/** SHA-256 of (app, code): the only form in which a code is ever stored or logged. */
export function codeHash(appId: string, jsCode: string): string {
  return createHash('sha256').update(`${appId}\0${jsCode}`).digest('hex');
}
