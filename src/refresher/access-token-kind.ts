import type { AppConfig } from '../config/config.js';
import type { FetchedToken, WeChatClient } from '../wechat/wechat-client.js';
import type { CredentialKind, FetchedCredential } from './credential-kind.js';

/**
 * The app's access_token: `/cgi-bin/token` for classic apps (every call mints a new token),
 * `/cgi-bin/stable_token` for stable ones. A stable app has a degraded-mode fetch: a
 * normal-mode stable_token call returns the same token to every caller, so replicas cut off
 * from the store may each make it without invalidating anything.
 */
export function accessTokenKind(wechat: WeChatClient): CredentialKind {
  return {
    name: 'access_token',
    endpoint: 'token',
    fetch: async (app, { forceStable }) =>
      fromToken(
        app.mode === 'classic'
          ? await wechat.getToken(app)
          : await wechat.getStableToken(app, forceStable),
      ),
    fallback: (app: AppConfig) =>
      app.mode === 'stable' ? wechat.getStableToken(app, false).then(fromToken) : undefined,
  };
}

function fromToken(t: FetchedToken): FetchedCredential {
  return { value: t.accessToken, expiresInSeconds: t.expiresInSeconds, sentAt: t.sentAt };
}
