import { describe, expect, it } from 'vitest';
import { Authorizer } from '../../src/auth/authorizer.js';
import { CallerRateLimiter } from '../../src/auth/caller-rate-limiter.js';
import type { ComponentService } from '../../src/component/component-service.js';
import { ComponentRoutes } from '../../src/gateway/component-routes.js';
import { GatewayAuth } from '../../src/gateway/gateway-auth.js';
import type { TokenService } from '../../src/service/token-service.js';
import { TokenCache } from '../../src/token/token-cache.js';
import type { TokenRecord } from '../../src/token/token.js';
import { FakeClock } from '../support/fake-clock.js';

/**
 * The component_access_token an SDK proves itself with on `api_authorizer_token`: the current
 * one, or the one before it while it lives (invariant: the previous token is served through
 * its overlap; an SDK keeps the token it was given until its expires_in runs out).
 */
const C = 'wxroutescomponent';
const AUTHORIZER = 'wxroutesauthorizer';

function setup() {
  const clock = new FakeClock();
  const componentTokens = new TokenCache(clock);
  const authorizerToken: TokenRecord = {
    appId: AUTHORIZER,
    value: 'authorizer-token-1',
    fetchedAt: clock.now(),
    expiresAt: clock.now() + 7_200_000,
    generation: 1,
  };
  // Only the reads these routes make: the authorizer's token is in memory.
  const tokens = { peek: (id: string) => (id === AUTHORIZER ? authorizerToken : undefined) };
  const routes = new ComponentRoutes({
    clock,
    auth: new GatewayAuth(new Authorizer([]), [], false),
    service: {} as ComponentService,
    componentTokens,
    tokens: tokens as unknown as TokenService,
    componentOf: (id) => (id === AUTHORIZER ? C : undefined),
    limiter: new CallerRateLimiter(clock, {}),
    maxWaitMs: 100,
  });
  const issue = (value: string, generation: number): TokenRecord => {
    const t = {
      appId: C,
      value,
      fetchedAt: clock.now(),
      expiresAt: clock.now() + 7_200_000,
      generation,
    };
    componentTokens.offer(t);
    return t;
  };
  const ask = (token: string) =>
    routes.authorizerToken(token, {
      component_appid: C,
      authorizer_appid: AUTHORIZER,
      authorizer_refresh_token: 'sdk-value',
    });
  return { clock, issue, ask };
}

describe('ComponentRoutes: which component tokens prove the caller', () => {
  it('accepts the current and the previous component token until each expires', async () => {
    const { clock, issue, ask } = setup();
    const first = issue('component-token-1', 1);
    await clock.advance(6_900_000); // refreshed ahead: 5 minutes of the first token left
    issue('component-token-2', 2);
    expect(await ask('component-token-2')).toMatchObject({
      authorizer_access_token: 'authorizer-token-1',
      authorizer_refresh_token: 'sdk-value',
    });
    expect((await ask('component-token-1')).authorizer_access_token).toBe('authorizer-token-1');
    await clock.advance(first.expiresAt - clock.now()); // the first token's expiry
    expect((await ask('component-token-1')).errcode).toBe(40001);
    expect((await ask('component-token-2')).authorizer_access_token).toBe('authorizer-token-1');
  });

  it('forgets a token two refreshes back', async () => {
    const { clock, issue, ask } = setup();
    issue('component-token-1', 1);
    await clock.advance(1_000);
    issue('component-token-2', 2);
    await clock.advance(1_000);
    issue('component-token-3', 3);
    expect((await ask('component-token-1')).errcode).toBe(40001);
    expect((await ask('component-token-2')).authorizer_access_token).toBe('authorizer-token-1');
  });
});
