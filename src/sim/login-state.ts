import { fingerprint } from '../shared/secret.js';
import { loginValues } from './login-values.js';
import { QuotaCounter, minuteOf } from './quota-counter.js';
import { sessionSignature } from './session-signature.js';
import type { SimCodeRequest, SimIssuedCode, SimUserView } from './types.js';

/** jscode2session exchanges per user per minute (wechat-api.md §4). */
const USER_MINUTE_QUOTA = 100;

/** The app settings the login flow reads; ResolvedSimAppSettings fits. */
export interface LoginPolicy {
  appId: string;
  codeLifetimeSeconds: number;
  sessionKeyLifetimeSeconds: number;
  unionidBound: boolean;
}

export interface SessionKey {
  readonly value: string;
  readonly expiresAt: number;
}

export type ExchangeOutcome =
  | { ok: true; openid: string; unionid?: string; sessionKey: SessionKey }
  | { ok: false; errcode: 40029 | 40163 | 40226 | 45011; openid?: string };

export type ResetOutcome =
  { ok: true; openid: string; sessionKey: SessionKey } | { ok: false; errcode: 87007 | 87009 };

interface User {
  readonly openid: string;
  readonly unionid: string;
  blocked: boolean;
  /** Undefined: follow the app's unionidBound. */
  unionidFlag: boolean | undefined;
  /** The one valid session_key; a user has at most one at a time (§4). */
  session: SessionKey | undefined;
  readonly exchanges: QuotaCounter;
}

interface Code {
  readonly openid: string;
  readonly issuedAt: number;
  used: boolean;
}

/**
 * One app's side of the mini-program login flow (wechat-api.md §4-6): its users, the codes
 * wx.login() handed out, and each user's session_key. Pure: every method takes `now`, and the
 * settings it needs are passed per call, so a reconfigured app applies them at once. Request
 * parsing, token checks and errcode precedence before the code or openid live in SimLogin.
 */
export class LoginState {
  readonly #users = new Map<string, User>();
  /** Oldest first: a code is added when issued and forgotten once past its lifetime. */
  readonly #codes = new Map<string, Code>();

  /** What wx.login() does on the device: a fresh single-use code for the user. */
  issueCode(request: SimCodeRequest, now: number, policy: LoginPolicy): SimIssuedCode {
    this.#forgetExpiredCodes(now, policy);
    const user = this.#user(request.user ?? loginValues.user(), policy.appId);
    if (request.blocked !== undefined) user.blocked = request.blocked;
    if (request.unionid !== undefined) user.unionidFlag = request.unionid;
    let code = loginValues.code();
    while (this.#codes.has(code)) code = loginValues.code();
    this.#codes.set(code, { openid: user.openid, issuedAt: now, used: false });
    const unionid = this.#unionidOf(user, policy);
    return { code, openid: user.openid, ...(unionid === undefined ? {} : { unionid }) };
  }

  /**
   * jscode2session once the app is authenticated, in this order: 40029 (unknown, expired or
   * issued to another app: each app knows only its own codes), 45011 (the user's minute quota),
   * 40163 (already exchanged), 40226 (blocked user), then a new session_key.
   */
  exchange(code: string, now: number, policy: LoginPolicy): ExchangeOutcome {
    const issued = this.#codes.get(code);
    if (!issued || now >= issued.issuedAt + policy.codeLifetimeSeconds * 1000) {
      return { ok: false, errcode: 40029 };
    }
    const user = this.#users.get(issued.openid);
    if (!user) return { ok: false, errcode: 40029 };
    const { openid } = user;
    // Counts every call that names a live code of the user; whether WeChat counts the failed
    // ones too is UNCONFIRMED. A refused call leaves the code usable in the next minute.
    if (!user.exchanges.tryTake(now, USER_MINUTE_QUOTA)) {
      return { ok: false, errcode: 45011, openid };
    }
    if (issued.used) return { ok: false, errcode: 40163, openid };
    if (user.blocked) return { ok: false, errcode: 40226, openid };
    issued.used = true;
    // UNCONFIRMED (§4): WeChat documents only that a later wx.login *may* replace the key. We
    // give every successful exchange a new session_key and invalidate the previous one, the
    // strictest reading, so a client that keeps an old key fails here before production.
    user.session = {
      value: loginValues.sessionKey(),
      expiresAt: now + policy.sessionKeyLifetimeSeconds * 1000,
    };
    const unionid = this.#unionidOf(user, policy);
    return {
      ok: true,
      openid,
      ...(unionid === undefined ? {} : { unionid }),
      sessionKey: user.session,
    };
  }

  /** checksession's verdict (§5): 0 for the current, unexpired key's signature, else 87009. */
  checkSession(openid: string, signature: string, now: number): 0 | 87009 {
    const session = this.#liveSession(openid, now);
    return session && signature === sessionSignature(session.value) ? 0 : 87009;
  }

  /**
   * resetusersessionkey (§6): 87007 without a live session, 87009 for a signature that is not
   * the current key's; else a new key that inherits the old one's expiry, the old one dead.
   */
  resetSessionKey(openid: string, signature: string, now: number): ResetOutcome {
    const session = this.#liveSession(openid, now);
    const user = this.#users.get(openid);
    if (!session || !user) return { ok: false, errcode: 87007 };
    if (signature !== sessionSignature(session.value)) return { ok: false, errcode: 87009 };
    user.session = { value: loginValues.sessionKey(), expiresAt: session.expiresAt };
    return { ok: true, openid, sessionKey: user.session };
  }

  /** The user's current session_key, expired or not; undefined before their first exchange. */
  sessionKey(openid: string): SessionKey | undefined {
    return this.#users.get(openid)?.session;
  }

  /** The user as the control API shows them; undefined for an openid never issued a code. */
  view(openid: string, policy: LoginPolicy): SimUserView | undefined {
    const user = this.#users.get(openid);
    if (!user) return undefined;
    const unionid = this.#unionidOf(user, policy);
    const { session } = user;
    return {
      openid,
      ...(unionid === undefined ? {} : { unionid }),
      blocked: user.blocked,
      ...(session && {
        sessionKeyFingerprint: fingerprint(session.value),
        sessionKeyExpiresAt: session.expiresAt,
      }),
    };
  }

  #user(userId: string, appId: string): User {
    const openid = loginValues.openid(appId, userId);
    let user = this.#users.get(openid);
    if (!user) {
      user = {
        openid,
        unionid: loginValues.unionid(userId),
        blocked: false,
        unionidFlag: undefined,
        session: undefined,
        exchanges: new QuotaCounter(minuteOf),
      };
      this.#users.set(openid, user);
    }
    return user;
  }

  #liveSession(openid: string, now: number): SessionKey | undefined {
    const session = this.#users.get(openid)?.session;
    return session && now < session.expiresAt ? session : undefined;
  }

  #unionidOf(user: User, policy: LoginPolicy): string | undefined {
    return (user.unionidFlag ?? policy.unionidBound) ? user.unionid : undefined;
  }

  /** Keeps the code table bounded; a forgotten code answers 40029, as an expired one does. */
  #forgetExpiredCodes(now: number, policy: LoginPolicy): void {
    for (const [code, { issuedAt }] of this.#codes) {
      if (now < issuedAt + policy.codeLifetimeSeconds * 1000) break;
      this.#codes.delete(code);
    }
  }
}
