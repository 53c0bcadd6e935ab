import type { AppConfig } from '../config/config.js';
import type { AppCredentials, FetchedToken, WeChatClient } from '../wechat/wechat-client.js';
import { WeChatError } from '../wechat/wechat-error.js';
import type { CredentialKind, FetchedCredential } from './credential-kind.js';

/** How an authorizer's token is fetched: through its third-party platform (component). */
export type AuthorizerTokenFetch = (app: AppConfig) => Promise<FetchedCredential>;

/**
 * The app's access_token: `/cgi-bin/token` for classic apps (every call mints a new token),
 * `/cgi-bin/stable_token` for stable ones, and for a third-party platform's authorizer
 * `api_authorizer_token` through its component (`authorizers`). A stable app has a
 * degraded-mode fetch: a normal-mode stable_token call returns the same token to every
 * caller, so replicas cut off from the store may each make it without invalidating anything.
 * An authorizer has none: every api_authorizer_token call mints a token.
 */
export function accessTokenKind(
  wechat: WeChatClient,
  authorizers?: AuthorizerTokenFetch,
): CredentialKind {
  return {
    name: 'access_token',
    endpoint: 'token',
    fetch: async (app, { forceStable }) => {
      if (app.component !== undefined) {
        if (!authorizers) {
          throw new WeChatError('component', null, `no component serves ${app.component}`);
        }
        return authorizers(app);
      }
      const creds = credentialsOf(app);
      return fromToken(
        app.mode === 'classic'
          ? await wechat.getToken(creds)
          : await wechat.getStableToken(creds, forceStable),
      );
    },
    fallback: (app: AppConfig) =>
      app.mode === 'stable' && app.secret
        ? wechat.getStableToken(credentialsOf(app), false).then(fromToken)
        : undefined,
  };
}

/** The AppSecret a configured app has; an app without one is misconfigured, not retryable. */
export function credentialsOf(app: AppConfig): AppCredentials {
  if (!app.secret) throw new WeChatError('token', 41004, `app ${app.appId} has no AppSecret`);
  return { appId: app.appId, secret: app.secret };
}

function fromToken(t: FetchedToken): FetchedCredential {
  return { value: t.accessToken, expiresInSeconds: t.expiresInSeconds, sentAt: t.sentAt };
}
