import type { Authorizer__Output } from './generated/wxtoken/v1/Authorizer.js';
import type { ListAuthorizersResponse__Output } from './generated/wxtoken/v1/ListAuthorizersResponse.js';
import type { PreAuthCode__Output } from './generated/wxtoken/v1/PreAuthCode.js';
import { timestampMs } from './timestamp.js';

/** How wxtoken sees one authorizer's token: the server's AppState without its prefix. */
export type AuthorizerState =
  | 'warming'
  | 'healthy'
  | 'degraded'
  | 'unavailable'
  | 'config_error'
  | 'quota_exhausted'
  | 'unspecified';

/** One authorizer of a third-party platform, as ListAuthorizers reports it (no token in it). */
export interface AuthorizerInfo {
  readonly authorizerAppId: string;
  /** When the customer authorized the platform (ms since the epoch). */
  readonly authorizedAt: number | null;
  readonly state: AuthorizerState;
  /** When its current access_token expires (ms since the epoch); null before the first. */
  readonly expiresAt: number | null;
}

export interface AuthorizerPage {
  readonly authorizers: AuthorizerInfo[];
  /** Pass to the next listAuthorizers call; '' on the last page. */
  readonly nextPageToken: string;
}

/** What the platform's authorization page needs (pre_auth_code lives 20 minutes at WeChat). */
export interface PreAuthCodeResult {
  readonly preAuthCode: string;
  readonly expiresAt: number | null;
}

/** The most a ListAuthorizers page holds (the server refuses more). */
export const MAX_AUTHORIZERS_PAGE = 1000;

export function toAuthorizerPage(r: ListAuthorizersResponse__Output): AuthorizerPage {
  return { authorizers: r.authorizers.map(toAuthorizer), nextPageToken: r.next_page_token };
}

function toAuthorizer(a: Authorizer__Output): AuthorizerInfo {
  return {
    authorizerAppId: a.authorizer_app_id,
    authorizedAt: timestampMs(a.authorized_at),
    state: stateOf(a.state),
    expiresAt: timestampMs(a.expires_at),
  };
}

export function toPreAuthCode(p: PreAuthCode__Output): PreAuthCodeResult {
  return { preAuthCode: p.pre_auth_code, expiresAt: timestampMs(p.expires_at) };
}

function stateOf(state: string | number): AuthorizerState {
  const name = String(state)
    .replace(/^APP_STATE_/, '')
    .toLowerCase();
  switch (name) {
    case 'warming':
    case 'healthy':
    case 'degraded':
    case 'unavailable':
    case 'config_error':
    case 'quota_exhausted':
      return name;
    default:
      // A state added by a newer server, or the proto default.
      return 'unspecified';
  }
}
