import type { AppConfig } from '../config/config.js';
import type { FetchedCredential } from '../refresher/credential-kind.js';
import type { TokenRecord } from '../token/token.js';
import type { ComponentClient } from '../wechat/component-api.js';
import { isTokenInvalid, isWeChatError, WeChatError } from '../wechat/wechat-error.js';
import type { ComponentStore } from './component-store.js';

/** api_authorizer_token's answer for a refresh token WeChat does not (or no longer) accept. */
const REFRESH_TOKEN_INVALID = 61023;

/** The component_access_token side, as an authorizer fetch needs it. */
export interface ComponentTokens {
  /** The component's live token from this replica's memory (waits, bounded, for a first one). */
  live(componentAppId: string): Promise<TokenRecord>;
  /** WeChat rejected `rejected`: compare-and-refresh, resolving with the token current after. */
  recover(componentAppId: string, rejected: TokenRecord): Promise<TokenRecord>;
}

export interface AuthorizerTokensDeps {
  readonly client: Pick<ComponentClient, 'authorizerToken'>;
  readonly store: Pick<ComponentStore, 'refreshToken' | 'setRefreshToken'>;
  readonly tokens: ComponentTokens;
  readonly log?: (level: 'warn' | 'error', obj: object, msg: string) => void;
  /**
   * The store has no refresh token for an authorizer this replica serves (the store lost it):
   * rebuild them from WeChat (RecoverAuthorizers) before giving up. The caller bounds how often.
   */
  readonly recover?: (componentAppId: string) => Promise<boolean>;
}

/**
 * An authorizer's access_token through its platform: api_authorizer_token with the component's
 * live token and the authorizer's refresh token from the store. WeChat may answer with a new
 * refresh token, and then the old one may stop working: the new one is stored before the token
 * is returned. If the store cannot take it, it is held in memory and used (and written again)
 * on the next fetch, so a Redis outage during a refresh never loses the authorizer. It runs
 * under the authorizer's refresh lock, like every access_token fetch.
 */
export class AuthorizerTokens {
  /** Refresh tokens WeChat returned that the store has not accepted yet. */
  readonly #unstored = new Map<string, string>();

  constructor(private readonly deps: AuthorizerTokensDeps) {}

  readonly fetch = async (app: AppConfig): Promise<FetchedCredential> => {
    const componentAppId = app.component!;
    let refreshToken = await this.#refreshToken(componentAppId, app.appId);
    let component = await this.#upstream(() => this.deps.tokens.live(componentAppId));
    const call = async (token: TokenRecord) => {
      try {
        return await this.deps.client.authorizerToken(
          token.value,
          componentAppId,
          app.appId,
          refreshToken,
        );
      } catch (err) {
        // 61023: the stored refresh token is not WeChat's current one (a write lost in a
        // failover, a store restored from an old backup). WeChat lists the current ones:
        // recover and try once more with what that stored.
        if ((err as WeChatError).errcode !== REFRESH_TOKEN_INVALID) throw err;
        if (!(await this.deps.recover?.(componentAppId))) throw err;
        const recovered = await this.#stored(componentAppId, app.appId);
        if (!recovered || recovered === refreshToken) throw err;
        refreshToken = recovered;
        return this.deps.client.authorizerToken(
          token.value,
          componentAppId,
          app.appId,
          refreshToken,
        );
      }
    };
    let fetched;
    try {
      fetched = await call(component);
    } catch (err) {
      if (!isTokenInvalid(err)) throw err;
      const recovered = await this.#upstream(() =>
        this.deps.tokens.recover(componentAppId, component),
      );
      if (recovered.value === component.value) throw err;
      component = recovered;
      fetched = await call(component);
    }
    if (fetched.refreshToken !== refreshToken) {
      await this.#keep(componentAppId, app.appId, fetched.refreshToken);
    }
    return {
      value: fetched.value,
      expiresInSeconds: fetched.expiresInSeconds,
      sentAt: fetched.sentAt,
    };
  };

  /** The newest refresh token: one not yet stored wins over the store's. */
  async #refreshToken(componentAppId: string, authorizerAppId: string): Promise<string> {
    const held = this.#unstored.get(authorizerAppId);
    if (held) {
      await this.#keep(componentAppId, authorizerAppId, held);
      return held;
    }
    let stored = await this.#stored(componentAppId, authorizerAppId);
    if (!stored && (await this.deps.recover?.(componentAppId))) {
      stored = await this.#stored(componentAppId, authorizerAppId);
    }
    if (!stored) {
      throw new WeChatError(
        'api_authorizer_token',
        61023,
        `no refresh token stored for ${authorizerAppId}: run RecoverAuthorizers`,
      );
    }
    return stored;
  }

  async #stored(componentAppId: string, authorizerAppId: string): Promise<string | undefined> {
    try {
      return await this.deps.store.refreshToken(componentAppId, authorizerAppId);
    } catch (err) {
      throw WeChatError.transport(
        'api_authorizer_token',
        'refresh token not readable from the store',
        err,
      );
    }
  }

  async #keep(componentAppId: string, authorizerAppId: string, refreshToken: string) {
    try {
      await this.deps.store.setRefreshToken(componentAppId, authorizerAppId, refreshToken);
      this.#unstored.delete(authorizerAppId);
    } catch (err) {
      this.#unstored.set(authorizerAppId, refreshToken);
      this.deps.log?.(
        'warn',
        { appId: authorizerAppId, err },
        'new refresh token not stored (store unreachable); held in memory and written again on the next refresh',
      );
    }
  }

  /** The component side fails with the service's own errors; the refresher wants WeChatErrors. */
  async #upstream<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (isWeChatError(err)) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw WeChatError.transport('api_authorizer_token', `component token: ${message}`, err);
    }
  }
}
