import { describe, expect, it } from 'vitest';
import { Authorizer } from '../../src/auth/authorizer.js';
import type { AppConfig } from '../../src/config/config.js';
import { GatewayAuth } from '../../src/gateway/gateway-auth.js';
import { MAX_QUERY_PARAMS, QueryReader } from '../../src/gateway/query-reader.js';
import { ANSWERS, resultOf } from '../../src/gateway/wechat-answers.js';
import { Secret } from '../../src/shared/secret.js';
import { sha256 } from '../support/key-digest.js';

describe('gateway metric labels (bounded: WeChat chooses the errcodes of jscode2session)', () => {
  it('keeps the number of every errcode the gateway answers with of its own', () => {
    for (const [errcode] of Object.values(ANSWERS)) {
      expect(resultOf(errcode)).toBe(`errcode_${errcode}`);
    }
  });

  it('keeps the number of an errcode wxtoken knows from WeChat (jscode2session 45011)', () => {
    expect(resultOf(45011)).toBe('errcode_45011');
  });

  it('folds 10,000 errcodes nobody documented into one label', () => {
    const labels = new Set<string>();
    for (let errcode = 990_000; errcode < 1_000_000; errcode++) labels.add(resultOf(errcode));
    expect([...labels]).toEqual(['errcode_other']);
  });
});

describe('Authorizer.callerForKey remembers matched keys only', () => {
  const KEY = 'the-shop-key-0123456789';
  const auth = new Authorizer([
    { name: 'shop', keySha256: sha256(KEY), apps: ['*'], scopes: ['token:read'] },
  ]);

  it('answers the same caller for a key it has matched before, and nothing for a near miss', () => {
    const first = auth.callerForKey(KEY);
    expect(first?.name).toBe('shop');
    expect(auth.callerForKey(KEY)).toBe(first);
    expect(auth.callerForKey(`${KEY} `)).toBeUndefined();
    expect(auth.callerForKey(KEY.slice(0, -1))).toBeUndefined();
  });

  it('a stream of 10,000 wrong keys matches none, before and after the right one', () => {
    for (let i = 0; i < 10_000; i++) expect(auth.callerForKey(`wrong-${i}`)).toBeUndefined();
    expect(auth.callerForKey(KEY)?.name).toBe('shop');
    expect(auth.callerForKey('wrong-0')).toBeUndefined();
  });
});

describe('QueryReader (the gateway reads every token request query with it)', () => {
  it('reads WeChat token queries as URLSearchParams would: first value wins, form decoding', () => {
    const q = new QueryReader();
    const cases = [
      'grant_type=client_credential&appid=wx1&secret=abc',
      'secret=a%2Bb+c&secret=second&appid=wx%E4%B8%AD',
      'flag&empty=&=novalue&x=1=2',
      'bad=%E0%A4%A&ok=%41',
    ];
    for (const search of cases) {
      const expected: Record<string, string> = {};
      for (const [k, v] of new URLSearchParams(search)) {
        if (k !== '' && !(k in expected)) expected[k] = v;
      }
      if (search.startsWith('bad=')) expected.bad = '%E0%A4%A'; // kept raw, not U+FFFD
      expect({ ...q.read(search) }).toEqual(expected);
    }
  });

  it(`reads at most ${MAX_QUERY_PARAMS} pairs of a query of 10,000`, () => {
    const search = Array.from({ length: 10_000 }, (_, i) => `k${i}=${i}`).join('&');
    const q = new QueryReader().read(search);
    expect(Object.keys(q)).toHaveLength(MAX_QUERY_PARAMS);
    expect(q[`k${MAX_QUERY_PARAMS}`]).toBeUndefined();
  });

  it('answers a repeated query from its one-entry memory, and a new one afresh', () => {
    const r = new QueryReader();
    const a = r.read('appid=wx1&secret=k');
    expect(r.read('appid=wx1&secret=k')).toBe(a);
    expect(r.read('appid=wx2&secret=k').appid).toBe('wx2');
    expect(Object.isFrozen(a)).toBe(true);
  });
});

describe('GatewayAuth: a platform AppSecret under acceptAppSecret (migration)', () => {
  const PLATFORM = 'wxpartsplatform01';
  const AUTHORIZER = 'wxpartsauthorizer';
  const platformSecret = 'platform-app-secret-4c1d';
  const platform: AppConfig = {
    appId: PLATFORM,
    mode: 'classic',
    secret: new Secret(platformSecret),
    secretSource: 'inline',
    tickets: [],
  };
  const authorizer = new Authorizer(
    [{ name: 'vendor', keySha256: sha256('vendor-key-77ab'), apps: ['*'], scopes: ['token:read'] }],
    (appId) => (appId === AUTHORIZER ? PLATFORM : undefined),
  );

  it('names a caller for the platform and its authorizers, for that appid only', () => {
    const auth = new GatewayAuth(authorizer, [], true, [platform]);
    const caller = auth.callerFor(platformSecret, PLATFORM);
    expect(caller?.name).toBe(`appsecret:${PLATFORM}`);
    expect(auth.canUseComponent(caller!, PLATFORM)).toBe(true);
    expect(auth.canUse(caller!, AUTHORIZER)).toBe(true);
    expect(auth.canUseComponent(caller!, 'wxotherplatform01')).toBe(false);
    // The same secret offered for another appid is not a key.
    expect(auth.callerFor(platformSecret, AUTHORIZER)).toBeUndefined();
  });

  it('refuses the platform AppSecret when acceptAppSecret is off', () => {
    const auth = new GatewayAuth(authorizer, [], false, [platform]);
    expect(auth.callerFor(platformSecret, PLATFORM)).toBeUndefined();
  });
});
