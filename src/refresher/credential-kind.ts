import type { AppConfig } from '../config/config.js';
import type { CredentialRecord } from '../token/token.js';
import type { WeChatEndpoint } from '../wechat/wechat-error.js';

/** Every kind of credential the engine owns; the label in metrics, logs and status. */
export type CredentialKindName =
  | 'access_token'
  | 'jsapi_ticket'
  | 'wx_card_ticket'
  /** A third-party platform's component_access_token. */
  | 'component_token';

/** What an upstream call returned, with the time the request was SENT (the expires_at base). */
export interface FetchedCredential {
  readonly value: string;
  readonly expiresInSeconds: number;
  /** Clock time (ms) at which the request was sent. */
  readonly sentAt: number;
}

export interface FetchOptions {
  /** Stable access_token only: call with force_refresh=true (invalidates the previous token). */
  readonly forceStable: boolean;
}

/**
 * What makes one kind of credential different from another; everything else (single flight,
 * refresh lock, store re-read, fenced write, propagation, refresh-ahead, status, metrics) is
 * the engine's and the same for all. A kind that depends on another credential (a ticket on
 * its app's access_token) reaches it inside `fetch`.
 */
export interface CredentialKind {
  readonly name: CredentialKindName;
  /** The upstream endpoint named in errors that come from no upstream call (a wait timed out). */
  readonly endpoint: WeChatEndpoint;
  /** One upstream fetch. Throws WeChatError on any failure. */
  fetch(app: AppConfig, options: FetchOptions): Promise<FetchedCredential>;
  /**
   * Degraded mode (the store is unreachable: no lock, no leader): a fetch that is safe for
   * every replica to make at once, or undefined when the kind has none for this app.
   */
  readonly fallback?: (app: AppConfig) => Promise<FetchedCredential> | undefined;
}

/**
 * The record of a credential just fetched. expires_at counts from when the request was sent,
 * never from when the answer arrived, so it never overstates the credential's life.
 */
export function recordOf(
  appId: string,
  fetched: FetchedCredential,
  generation: number,
): CredentialRecord {
  return {
    appId,
    value: fetched.value,
    expiresAt: fetched.sentAt + fetched.expiresInSeconds * 1000,
    fetchedAt: fetched.sentAt,
    generation,
  };
}
