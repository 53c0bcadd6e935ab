import type { Secret } from '../shared/secret.js';

/** What a token endpoint returned, with the time the request was SENT (design.md: expires_at base). */
export interface FetchedToken {
  accessToken: string;
  expiresInSeconds: number;
  /** Clock time (ms) at which the request was sent; expires_at = sentAt + expiresIn. */
  sentAt: number;
}

export interface AppCredentials {
  appId: string;
  secret: Secret;
}

/**
 * The WeChat calls wxtoken makes. Every failure is thrown as a WeChatError.
 * Implementations must never put the secret or a token in an error or a log line.
 */
export interface WeChatClient {
  /** GET /cgi-bin/token (classic): every call mints a new token. */
  getToken(app: AppCredentials): Promise<FetchedToken>;
  /** POST /cgi-bin/stable_token: same token until WeChat's last-300 s window unless forceRefresh. */
  getStableToken(app: AppCredentials, forceRefresh: boolean): Promise<FetchedToken>;
  /**
   * Cheap validity check (GET /cgi-bin/get_api_domain_ip). Resolves true when WeChat accepts
   * the token, false on 40001/40014/42001; throws WeChatError for anything else.
   */
  checkToken(accessToken: string): Promise<boolean>;
}
