import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `o` + 27 characters of [A-Za-z0-9_-]: the 28-character shape of openids and unionids (§4). */
function userIdentifier(...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('\0')).digest('base64url');
  return `o${digest.slice(0, 27)}`;
}

/**
 * The values of the login flow in WeChat's shapes (wechat-api.md §4). Identifiers are derived,
 * so a test that names its user gets the same openid on every run; codes and session keys are
 * random from crypto, so one can never be guessed from another.
 */
export const loginValues = {
  /** Stable per (app, user), as openids are: the same user has another openid in another app. */
  openid: (appId: string, user: string): string => userIdentifier('openid', appId, user),

  /**
   * Stable per user across apps: every simulated app counts as bound to one Open Platform
   * account, so a user's unionid is what links their openids.
   */
  unionid: (user: string): string => userIdentifier('unionid', user),

  /** A user id for a test that did not name one. */
  user: (): string => randomUUID(),

  /** A wx.login() code: 32 characters of [A-Za-z0-9], like the ones devices receive. */
  code: (): string =>
    Array.from({ length: 32 }, () => ALPHANUMERIC[randomInt(ALPHANUMERIC.length)]).join(''),

  /** base64 of 16 random bytes: 24 characters, e.g. `HyVFkGl5F5OQWJZZaNzBBg==` (§4). */
  sessionKey: (): string => randomBytes(16).toString('base64'),
};
