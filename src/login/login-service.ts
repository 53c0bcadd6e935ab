import { createHash, randomBytes } from 'node:crypto';
import type { AppConfig, Config } from '../config/config.js';
import type { Clock } from '../shared/clock.js';
import { AppNotFoundError, SessionNotFoundError } from '../shared/errors.js';
import type { RefreshLocks } from '../token/token-store.js';
import type { WeChatClient } from '../wechat/wechat-client.js';
import { LoginCodeError, type LoginCodeProblem } from '../wechat/upstream-errors.js';
import { WeChatError, isRetryable, isWeChatError, loginErrorKind } from '../wechat/wechat-error.js';
import type { LoginSession, SessionStore } from './session-store.js';
import { decryptUserData, sessionSignature } from './wechat-crypto.js';

/** A code lives 5 minutes at WeChat (wechat-api.md §4); its exchange result lives as long. */
const CODE_LIFETIME_MS = 300_000;
/** The caller name of records written before exchanges were bound to callers. */
const ANONYMOUS = 'anonymous';
const LOCK_TTL_MS = 15_000;
const POLL_MS = 25;
const RETRIES = 2;

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

export interface Code2SessionResult {
  readonly session: LoginSession;
  /** Present only when the app's config allows exposing it. */
  readonly exposedSessionKey?: string;
}

export interface LoginServiceDeps {
  readonly clock: Clock;
  readonly apps: readonly AppConfig[];
  readonly login: Config['login'];
  readonly wechat: Pick<WeChatClient, 'code2Session' | 'checkSessionKey' | 'resetSessionKey'>;
  readonly sessions: SessionStore;
  readonly locks: RefreshLocks;
  /** The app's current access token (the TokenService), for checksession/reset. */
  readonly accessToken: (appId: string) => Promise<string>;
  readonly onExchange?: (appId: string, result: 'upstream' | 'dedup' | 'error') => void;
}

/**
 * The login exchange, done the way WeChat asks: AppSecret and session_key stay inside.
 * A code is exchanged upstream at most once: concurrent calls in this process share one
 * promise, and across replicas a lock keyed by a hash of (app, code) plus a short-lived
 * result record make every duplicate or retry get the first answer, never 40163.
 */
export class LoginService {
  readonly #apps: ReadonlyMap<string, AppConfig>;
  readonly #inFlight = new Map<string, Promise<LoginSession>>();

  constructor(private readonly deps: LoginServiceDeps) {
    this.#apps = new Map(deps.apps.map((a) => [a.appId, a]));
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
    // Shared only by calls of the same caller: another caller must not ride on this promise.
    const flightKey = `${hash}\0${caller}`;
    let pending = this.#inFlight.get(flightKey);
    if (pending) this.deps.onExchange?.(appId, 'dedup');
    else {
      pending = this.#exchangeOnce(app, jsCode, hash, caller).finally(() =>
        this.#inFlight.delete(flightKey),
      );
      this.#inFlight.set(flightKey, pending);
    }
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
    const token = await this.deps.accessToken(s.appId);
    return this.deps.wechat.checkSessionKey(
      token,
      s.openid,
      sessionSignature(s.sessionKey.reveal()),
    );
  }

  /** New session key from WeChat; it inherits the old one's expiry, and so does the session. */
  async resetSessionKey(handle: string): Promise<LoginSession> {
    const s = await this.getSession(handle);
    const token = await this.deps.accessToken(s.appId);
    const reset = await this.deps.wechat.resetSessionKey(
      token,
      s.openid,
      sessionSignature(s.sessionKey.reveal()),
    );
    const next: LoginSession = { ...s, sessionKey: reset.sessionKey };
    await this.deps.sessions.putSession(next);
    return next;
  }

  /**
   * 1. the lock; 2. holding it, a recorded answer or the exchange (recorded before the lock
   * goes); 3. without it, the holder's recorded answer, polled until it appears. A fresh code
   * (the common case) costs one lock, one read and one write; a replay of a finished one a
   * lock more than a bare read, which is rare enough.
   */
  async #exchangeOnce(
    app: AppConfig,
    jsCode: string,
    hash: string,
    caller: string,
  ): Promise<LoginSession> {
    const { sessions, locks, clock } = this.deps;
    const deadline = clock.now() + LOCK_TTL_MS;
    for (;;) {
      const lock = await locks.tryAcquire(`${app.appId}:code:${hash}`, LOCK_TTL_MS);
      if (lock) {
        try {
          const recorded = await sessions.getExchange(app.appId, hash);
          if (recorded) {
            this.deps.onExchange?.(app.appId, 'dedup');
            return await this.#replay(recorded, caller);
          }
          return await this.#exchange(app, jsCode, hash, caller);
        } finally {
          // Not awaited: a code's verdict is recorded before this point (a transient failure
          // is not, and the next holder asks again), so a waiter loses nothing, and the caller
          // does not wait a store round trip for it. A failed release expires (LOCK_TTL_MS).
          locks.release(lock).catch(() => undefined);
        }
      }
      const recorded = await sessions.getExchange(app.appId, hash);
      if (recorded) {
        this.deps.onExchange?.(app.appId, 'dedup');
        return this.#replay(recorded, caller);
      }
      if (clock.now() >= deadline) {
        throw WeChatError.transport(
          'jscode2session',
          'timed out waiting for another replica to exchange this code',
        );
      }
      await clock.sleep(POLL_MS);
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
      const r = await this.#withRetry(() => this.deps.wechat.code2Session(app, jsCode));
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
  async #withRetry<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        // A code error (40029, 40163, 40226, 45011) is WeChat's verdict, not a blip.
        const codeProblem = isWeChatError(err) && codeProblemOf(err.errcode) !== undefined;
        const transient = isRetryable(err) && !codeProblem;
        if (!transient || attempt >= RETRIES) throw err;
        await this.deps.clock.sleep(100 * 2 ** attempt);
      }
    }
  }

  async #replay(
    record: Awaited<ReturnType<SessionStore['getExchange']>>,
    caller: string,
  ): Promise<LoginSession> {
    if (record && 'ok' in record) {
      if ((record.caller ?? ANONYMOUS) === caller) return this.getSession(record.ok.handle);
      // Another caller's code: exactly what WeChat answers for a used code.
      const used = new WeChatError('jscode2session', 40163, 'code been used');
      throw new LoginCodeError('code_used', used);
    }
    const { errcode, errmsg } = record!.error;
    const upstream = new WeChatError('jscode2session', errcode, errmsg);
    throw new LoginCodeError(codeProblemOf(errcode) ?? 'invalid_code', upstream);
  }

  #app(appId: string): AppConfig {
    const app = this.#apps.get(appId);
    if (!app) throw new AppNotFoundError(appId);
    return app;
  }
}

/** SHA-256 of (app, code): the only form in which a code is ever stored or logged. */
export function codeHash(appId: string, jsCode: string): string {
  return createHash('sha256').update(`${appId}\0${jsCode}`).digest('hex');
}
