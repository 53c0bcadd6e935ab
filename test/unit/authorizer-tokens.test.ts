import { describe, expect, it } from 'vitest';
import { AuthorizerTokens } from '../../src/component/authorizer-tokens.js';
import { MemoryComponentStore } from '../../src/component/component-store.js';
import type { AppConfig } from '../../src/config/config.js';
import { StoreUnavailableError } from '../../src/shared/errors.js';
import type { TokenRecord } from '../../src/token/token.js';
import { WeChatError } from '../../src/wechat/wechat-error.js';

/**
 * An authorizer's fetch never loses the refresh token WeChat hands back: stored before the
 * token is returned, held in memory (and used) while the store cannot take it, recovered from
 * WeChat when the store lost it, and a component token WeChat rejects is recovered once.
 */
const C = 'wxcomp';
const APP: AppConfig = {
  appId: 'wxauth',
  mode: 'classic',
  secretSource: 'component',
  component: C,
  tickets: [],
};
const record = (value: string, generation = 1): TokenRecord => ({
  appId: C,
  value,
  expiresAt: Date.now() + 7_200_000,
  fetchedAt: Date.now(),
  generation,
});

/** WeChat's side: the latest refresh token only (61023 for any other), a new one each call. */
function upstream() {
  let latest = 'rt-0';
  let n = 0;
  const calls: { componentToken: string; refreshToken: string }[] = [];
  let deadComponentToken: string | undefined;
  return {
    calls,
    get latest() {
      return latest;
    },
    killComponentToken(t: string) {
      deadComponentToken = t;
    },
    client: {
      authorizerToken: async (
        componentToken: string,
        _c: string,
        _a: string,
        refreshToken: string,
      ) => {
        calls.push({ componentToken, refreshToken });
        if (componentToken === deadComponentToken)
          throw new WeChatError('api_authorizer_token', 40001, 'invalid credential');
        if (refreshToken !== latest)
          throw new WeChatError('api_authorizer_token', 61023, 'invalid refresh token');
        latest = `rt-${++n}`;
        return {
          value: `token-${n}`,
          expiresInSeconds: 7200,
          sentAt: Date.now(),
          refreshToken: latest,
        };
      },
    },
  };
}

/** A store whose writes can be made to fail, as Redis down would. */
class FlakyStore extends MemoryComponentStore {
  down = false;
  override setRefreshToken(c: string, a: string, rt: string): Promise<void> {
    if (this.down) return Promise.reject(new StoreUnavailableError('write'));
    return super.setRefreshToken(c, a, rt);
  }
}

function setup() {
  const wx = upstream();
  const store = new FlakyStore();
  let recovered = 0;
  let component = record('ct-1');
  const tokens = new AuthorizerTokens({
    client: wx.client,
    store,
    tokens: {
      live: async () => component,
      recover: async (_c, rejected) => {
        component = record('ct-2', rejected.generation + 1);
        return component;
      },
    },
    recover: async () => {
      recovered++;
      await store.putAuthorizer(C, { authorizerAppId: APP.appId, authorizedAt: 1 }, wx.latest);
      return true;
    },
  });
  return { wx, store, tokens, recoveredCount: () => recovered };
}

describe('AuthorizerTokens', () => {
  it('stores each new refresh token before returning; the next fetch uses it', async () => {
    const { wx, store, tokens } = setup();
    await store.putAuthorizer(C, { authorizerAppId: APP.appId, authorizedAt: 1 }, 'rt-0');
    expect((await tokens.fetch(APP)).value).toBe('token-1');
    expect(await store.refreshToken(C, APP.appId)).toBe('rt-1');
    expect((await tokens.fetch(APP)).value).toBe('token-2');
    expect(wx.calls.map((c) => c.refreshToken)).toEqual(['rt-0', 'rt-1']);
  });

  it('a refresh token the store cannot take is held in memory, used next, and written when the store returns', async () => {
    const { store, tokens } = setup();
    await store.putAuthorizer(C, { authorizerAppId: APP.appId, authorizedAt: 1 }, 'rt-0');
    store.down = true;
    expect((await tokens.fetch(APP)).value).toBe('token-1');
    expect(await store.refreshToken(C, APP.appId)).toBe('rt-0');
    store.down = false;
    expect((await tokens.fetch(APP)).value).toBe('token-2');
    expect(await store.refreshToken(C, APP.appId)).toBe('rt-2');
  });

  it('no refresh token stored (a lost store): recovers from WeChat, then fetches', async () => {
    const { tokens, recoveredCount } = setup();
    expect((await tokens.fetch(APP)).value).toBe('token-1');
    expect(recoveredCount()).toBe(1);
  });

  it('a component token WeChat rejects is recovered once and the call repeated', async () => {
    const { wx, store, tokens } = setup();
    await store.putAuthorizer(C, { authorizerAppId: APP.appId, authorizedAt: 1 }, 'rt-0');
    wx.killComponentToken('ct-1');
    expect((await tokens.fetch(APP)).value).toBe('token-1');
    expect(wx.calls.map((c) => c.componentToken)).toEqual(['ct-1', 'ct-2']);
  });

  it('61023 for a stale stored refresh token (a write lost in a failover): recovered from WeChat, fetched once more', async () => {
    const { wx, store, tokens, recoveredCount } = setup();
    await store.putAuthorizer(C, { authorizerAppId: APP.appId, authorizedAt: 1 }, 'rt-stale');
    expect((await tokens.fetch(APP)).value).toBe('token-1');
    expect(recoveredCount()).toBe(1);
    expect(wx.calls.map((c) => c.refreshToken)).toEqual(['rt-stale', 'rt-0']);
  });

  it('61023 that recovery cannot fix (the customer revoked) is a configuration error', async () => {
    const wx = upstream();
    const store = new MemoryComponentStore();
    await store.putAuthorizer(C, { authorizerAppId: APP.appId, authorizedAt: 1 }, 'rt-stale');
    const tokens = new AuthorizerTokens({
      client: wx.client,
      store,
      tokens: { live: async () => record('ct-1'), recover: async (_c, r) => r },
      recover: async () => true, // WeChat no longer lists it: nothing new stored
    });
    await expect(tokens.fetch(APP)).rejects.toMatchObject({ errcode: 61023, kind: 'config' });
    expect(wx.calls).toHaveLength(1);
  });
});
