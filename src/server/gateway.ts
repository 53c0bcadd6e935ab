import { CallerRateLimiter } from '../auth/caller-rate-limiter.js';
import type { AppSet } from '../apps/app-directory.js';
import { componentApp } from '../component/authorizer-app.js';
import type { ComponentEvents } from '../component/component-events.js';
import type { ComponentService } from '../component/component-service.js';
import type { Config } from '../config/config.js';
import { ComponentRoutes, PRE_AUTH_CODE } from '../gateway/component-routes.js';
import { GatewayAuth } from '../gateway/gateway-auth.js';
import { GatewayServer } from '../gateway/gateway-server.js';
import { PassThrough } from '../gateway/pass-through.js';
import { TokenIndex } from '../gateway/token-index.js';
import { TokenRoutes } from '../gateway/token-routes.js';
import type { LoginService } from '../login/login-service.js';
import type { WxtokenMetrics } from '../metrics/wxtoken-metrics.js';
import type { TicketService } from '../service/ticket-service.js';
import type { TokenService } from '../service/token-service.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { TokenCache } from '../token/token-cache.js';
import type { CallPolicy } from './call-policy.js';

export interface GatewayDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: WxtokenMetrics;
  readonly policy: CallPolicy;
  readonly tokens: TokenService;
  readonly tokenCache: TokenCache;
  /** Every app served (configured and authorizers). */
  readonly apps: AppSet;
  /** Third-party platforms: their event handler, service and component-token cache. */
  readonly components?: {
    readonly events: ComponentEvents;
    readonly service: ComponentService;
    readonly cache: TokenCache;
  };
  readonly tickets: TicketService;
  readonly login: LoginService;
}

/** The WeChat-compatible HTTP gateway of `gateway.*`, or undefined when `gateway.listen` is "". */
export function createGateway(d: GatewayDeps): GatewayServer | undefined {
  const { config, clock, log, metrics } = d;
  const g = config.gateway;
  if (g.listen === '') return undefined;
  const index = new TokenIndex(d.tokenCache, d.apps, clock);
  const auth = new GatewayAuth(
    d.policy.authorizer,
    config.apps,
    g.acceptAppSecret,
    config.components.map(componentApp),
  );
  const upstreamRate = {
    perSecond: config.limits.passThroughPerSecond,
    burst: config.limits.passThroughPerSecond,
  };
  // Calls that reach WeChat for a caller, per app (pass-through) or platform (pre-auth codes).
  const upstreamLimiter = new CallerRateLimiter(
    clock,
    { PassThrough: upstreamRate, [PRE_AUTH_CODE]: upstreamRate },
    10_000,
    'app',
  );
  const routes = new TokenRoutes({
    clock,
    tokens: d.tokens,
    tickets: d.tickets,
    login: d.login,
    auth,
    index,
    limiter: d.policy.limiter,
    audit: d.policy.audit,
    maxWaitMs: config.wechat.timeoutMs + 1_000,
  });
  const passThrough = g.passThrough
    ? new PassThrough({
        baseUrl: config.wechat.baseUrl,
        timeoutMs: g.timeoutMs,
        maxResponseBytes: g.maxResponseBytes,
        index,
        tokens: d.tokens,
        clock,
        log,
        limiter: upstreamLimiter,
        observer: {
          onForwarded: (result, ms) => metrics.onGatewayForwarded(result, ms),
          onRecovery: (appId, result) => metrics.onGatewayRecovery(appId, result),
        },
      })
    : undefined;
  return new GatewayServer({
    listen: g.listen,
    maxRequestBytes: g.maxRequestBytes,
    maxInFlight: g.maxInFlight,
    ...(config.tls ? { tls: config.tls } : {}),
    routes,
    ...(d.components
      ? {
          events: d.components.events,
          components: new ComponentRoutes({
            clock,
            auth,
            service: d.components.service,
            componentTokens: d.components.cache,
            tokens: d.tokens,
            componentOf: (appId) => d.apps.get(appId)?.component,
            limiter: upstreamLimiter,
            maxWaitMs: config.wechat.timeoutMs + 1_000,
          }),
        }
      : {}),
    ...(passThrough ? { passThrough } : {}),
    log,
    observer: { onRequest: (route, result) => metrics.onGatewayRequest(route, result) },
  });
}
