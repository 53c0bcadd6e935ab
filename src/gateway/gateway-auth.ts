import { createHash, timingSafeEqual } from 'node:crypto';
import { ANONYMOUS, type Authorizer, type Caller } from '../auth/authorizer.js';
import type { AppConfig } from '../config/config.js';

/**
 * Who a `secret` is, on the gateway. SDKs send WeChat's `secret` parameter; here it carries a
 * caller key (the same `auth.callers` and scopes as gRPC), so business servers need not hold an
 * AppSecret. Only with `gateway.acceptAppSecret` does the app's real AppSecret also work (it then
 * acts as a caller of that one app). Without `auth.callers` the gateway is open, like gRPC.
 */
export class GatewayAuth {
  readonly #appSecrets: ReadonlyMap<string, Buffer>;

  constructor(
    private readonly authorizer: Authorizer,
    apps: readonly AppConfig[],
    private readonly acceptAppSecret: boolean,
    /** Third-party platforms: with acceptAppSecret, their AppSecret also works for them. */
    components: readonly AppConfig[] = [],
  ) {
    // Authorizers have no AppSecret here (their tokens come through the component).
    this.#appSecrets = new Map(
      [...apps, ...components].flatMap((a) =>
        a.secret ? [[a.appId, digest(a.secret.reveal())] as const] : [],
      ),
    );
  }

  /** The caller `secret` names (for `appId`, when it is that app's AppSecret), or undefined. */
  callerFor(secret: string, appId: string): Caller | undefined {
    if (!this.authorizer.enabled) return ANONYMOUS;
    const caller = this.authorizer.callerForKey(secret);
    if (caller) return caller;
    if (!this.acceptAppSecret) return undefined;
    const expected = this.#appSecrets.get(appId);
    if (!expected || !timingSafeEqual(expected, digest(secret))) return undefined;
    return {
      name: `appsecret:${appId}`,
      // A platform's AppSecret reaches its authorizers through WeChat too (api_authorizer_token).
      apps: new Set([appId, `component:${appId}/*`]),
      scopes: new Set(['token:read', 'token:refresh', 'login']),
    };
  }

  canUse(caller: Caller, appId: string): boolean {
    return this.authorizer.canUseApp(caller, appId);
  }

  canUseComponent(caller: Caller, componentAppId: string): boolean {
    return this.authorizer.canUseComponent(caller, componentAppId);
  }
}

/** Equal-length digests, so the comparison takes the same time whatever the secret. */
function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
