import type { CallerRateLimiter } from '../auth/caller-rate-limiter.js';
import type { ComponentService } from '../component/component-service.js';
import type { TokenService } from '../service/token-service.js';
import type { Clock } from '../shared/clock.js';
import { ComponentNotFoundError } from '../shared/errors.js';
import type { TokenCache } from '../token/token-cache.js';
import type { GatewayAuth } from './gateway-auth.js';
import { answer } from './wechat-answers.js';
import type { Body } from './token-routes.js';

export interface ComponentRoutesDeps {
  readonly clock: Clock;
  readonly auth: GatewayAuth;
  readonly service: ComponentService;
  /** The component-token engine's cache: which component_access_tokens are live. */
  readonly componentTokens: TokenCache;
  /** Authorizers' access_tokens (they are apps like any other). */
  readonly tokens: TokenService;
  /** Which platform an app is an authorizer of. */
  readonly componentOf: (appId: string) => string | undefined;
  /** Bounds pre-auth codes per platform: each one is a call to WeChat. */
  readonly limiter: CallerRateLimiter;
  /** How long a request waits for a first token (warming). */
  readonly maxWaitMs: number;
}

/** The limiter's method for pre-auth codes (limits.passThroughPerSecond per platform). */
export const PRE_AUTH_CODE = 'PreAuthCode';

const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * The Open Platform paths a third-party SDK (WxJava open, EasyWeChat OpenPlatform,
 * silenceper openplatform) calls for its credentials, answered from wxtoken like the app
 * token paths: the SDK changes its API host, not its code.
 *
 * - `api_component_token`: the component_access_token, for a caller key sent as
 *   `component_appsecret` (the SDK's verify ticket is ignored: the pushes come to wxtoken).
 * - `api_authorizer_token`: an authorizer's access_token. The SDK proves itself with the
 *   component_access_token it got here, as WeChat has it; the refresh token it sends is not
 *   used and comes back unchanged, so wxtoken's refresh tokens never leave it.
 * - `api_create_preauthcode`: a pre-auth code (a call to WeChat, bounded per platform).
 */
export class ComponentRoutes {
  constructor(private readonly d: ComponentRoutesDeps) {}

  /** POST `/cgi-bin/component/api_component_token`. */
  async componentToken(p: Body): Promise<Body> {
    const componentAppId = text(p.component_appid);
    const secret = text(p.component_appsecret);
    if (componentAppId === '') return answer('noAppId', 'component_appid');
    if (secret === '') return answer('noSecret', 'component_appsecret');
    // The key is checked first, whatever the appid: an unknown key learns nothing of the platforms.
    const caller = this.d.auth.callerFor(secret, componentAppId);
    if (!caller) return answer('badSecret');
    if (!this.d.auth.canUseComponent(caller, componentAppId)) return answer('badAppId');
    if (!caller.scopes.has('token:read')) return answer('forbidden', 'the caller lacks token:read');
    try {
      const t = await this.d.service.componentToken(componentAppId);
      return { component_access_token: t.value, expires_in: this.#lifeLeft(t.expiresAt) };
    } catch (err) {
      if (err instanceof ComponentNotFoundError) return answer('badAppId');
      return answer('busy', `no live component token: ${(err as Error).message}`);
    }
  }

  /** POST `/cgi-bin/component/api_authorizer_token?component_access_token=T`. */
  async authorizerToken(componentToken: string, p: Body): Promise<Body> {
    const componentAppId = this.#holder(componentToken, p);
    if (typeof componentAppId !== 'string') return componentAppId;
    const authorizerAppId = text(p.authorizer_appid);
    if (authorizerAppId === '') return answer('noAppId', 'authorizer_appid');
    if (this.d.componentOf(authorizerAppId) !== componentAppId) {
      return answer('badAppId', 'not an authorizer of this platform');
    }
    try {
      const t =
        this.d.tokens.peek(authorizerAppId) ??
        (await this.d.tokens.getToken(authorizerAppId, AbortSignal.timeout(this.d.maxWaitMs)));
      return {
        authorizer_access_token: t.value,
        expires_in: this.#lifeLeft(t.expiresAt),
        // The SDK stores whatever comes back here: its own value, never wxtoken's.
        authorizer_refresh_token: text(p.authorizer_refresh_token),
      };
    } catch (err) {
      return answer('busy', `no live token: ${(err as Error).message}`);
    }
  }

  /** POST `/cgi-bin/component/api_create_preauthcode?component_access_token=T`. */
  async preAuthCode(componentToken: string, p: Body): Promise<Body> {
    const componentAppId = this.#holder(componentToken, p);
    if (typeof componentAppId !== 'string') return componentAppId;
    try {
      this.d.limiter.take(componentAppId, PRE_AUTH_CODE);
    } catch (err) {
      return answer('minuteQuota', (err as Error).message);
    }
    try {
      const code = await this.d.service.createPreAuthCode(componentAppId);
      return { pre_auth_code: code.preAuthCode, expires_in: this.#lifeLeft(code.expiresAt) };
    } catch (err) {
      return answer('busy', (err as Error).message);
    }
  }

  /**
   * The platform whose live component_access_token `token` is (the current one, or the one
   * before it during its overlap: an SDK keeps using the token it was given until it expires),
   * or the answer refusing the request.
   */
  #holder(token: string, p: Body): string | Body {
    if (token === '') return answer('noToken', 'component_access_token');
    const componentAppId = text(p.component_appid);
    if (componentAppId === '') return answer('noAppId', 'component_appid');
    const now = this.d.clock.now();
    const cache = this.d.componentTokens;
    for (const t of [cache.get(componentAppId), cache.previous(componentAppId)]) {
      if (t?.value === token && t.expiresAt > now) return componentAppId;
    }
    return answer('badToken');
  }

  /** Whole seconds of life left: rounded down, so an SDK never believes in a second too many. */
  #lifeLeft(expiresAt: number): number {
    return Math.max(0, Math.floor((expiresAt - this.d.clock.now()) / 1000));
  }
}
