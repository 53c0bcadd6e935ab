import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Authorizer } from '../../src/auth/authorizer.js';
import { ANSWERS, resultOf } from '../../src/gateway/wechat-answers.js';

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

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
