import type { Secret } from '../shared/secret.js';
import type { PhoneNumberInfo } from '../wechat/wechat-client.js';

/** A server-side login session: what a session handle stands for. Times in ms. */
export interface LoginSession {
  readonly handle: string;
  readonly appId: string;
  readonly openid: string;
  readonly unionid?: string;
  readonly sessionKey: Secret;
  readonly expiresAt: number;
}

/**
 * What exchanging one code gave, kept for the code's lifetime so a duplicated or retried
 * code gets the same answer instead of WeChat's 40163. Errors that will not change on retry
 * (invalid, used, blocked code) are kept too; transient ones are not.
 */
export type ExchangeRecord =
  | {
      readonly ok: { readonly handle: string };
      /**
       * The caller that exchanged the code (its authenticated name; anonymous with auth off):
       * only it gets the session back on a retry. Absent in records of earlier releases,
       * which count as anonymous.
       */
      readonly caller?: string;
    }
  | {
      /** A getPhoneNumber code's answer (stored sealed when encryption at rest is on). */
      readonly phone: PhoneNumberInfo;
      readonly caller: string;
    }
  | { readonly error: { readonly errcode: number; readonly errmsg: string } };

/**
 * Sessions and code-exchange results, in the same store as tokens (memory or Redis).
 * Codes are never stored: exchange records are keyed by a hash of (app, code).
 */
export interface SessionStore {
  getSession(handle: string): Promise<LoginSession | null>;
  putSession(session: LoginSession): Promise<void>;
  getExchange(appId: string, codeHash: string): Promise<ExchangeRecord | null>;
  putExchange(
    appId: string,
    codeHash: string,
    record: ExchangeRecord,
    ttlMs: number,
  ): Promise<void>;
  /**
   * A new session and the exchange record that points at it, in one round trip (the hot path
   * of Code2Session). The session is written first, so a record is never found before its
   * session; it fails (StoreUnavailableError) unless both writes were accepted.
   */
  putSessionAndExchange(
    session: LoginSession,
    codeHash: string,
    ttlMs: number,
    caller: string,
  ): Promise<void>;
}
