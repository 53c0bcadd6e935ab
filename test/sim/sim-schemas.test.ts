import { describe, expect, it } from 'vitest';
import { SimInputError } from '../../src/sim/sim-errors.js';
import { parseSimAppSettings, parseSimFault } from '../../src/sim/sim-schemas.js';

describe('parseSimAppSettings', () => {
  it('applies the documented defaults', () => {
    expect(parseSimAppSettings({ appId: 'wxapp', secret: 'sec' })).toEqual({
      appId: 'wxapp',
      secret: 'sec',
      expiresInSeconds: 7200,
      overlapSeconds: 300,
      stableWindowSeconds: 300,
      stableForceMinIntervalSeconds: 30,
      stableForceDailyLimit: 20,
      dailyQuota: 2000,
      latencyMs: 0,
      tokenLength: 136,
    });
  });

  it('scales the default stable window to WeChat’s 300/7200 for short lifetimes', () => {
    expect(parseSimAppSettings({ appId: 'a', secret: 's', expiresInSeconds: 12 })).toMatchObject({
      stableWindowSeconds: 0.5,
    });
  });

  it.each([
    ['a typo in a key', { expiresIn: 5 }, 'expiresIn'],
    [
      'a window not below the lifetime',
      { expiresInSeconds: 10, stableWindowSeconds: 10 },
      'stableWindowSeconds',
    ],
    ['a zero lifetime', { expiresInSeconds: 0 }, 'expiresInSeconds'],
    ['a negative overlap', { overlapSeconds: -1 }, 'overlapSeconds'],
    ['a fractional quota', { dailyQuota: 1.5 }, 'dailyQuota'],
    ['a token too short to be one', { tokenLength: 3 }, 'tokenLength'],
    ['a whitelist entry that is no IP', { ipWhitelist: ['example.com'] }, 'ipWhitelist'],
    ['a CIDR prefix out of range', { ipWhitelist: ['10.0.0.0/33'] }, 'ipWhitelist'],
  ])('rejects %s, naming the key', (_name, overrides, key) => {
    const parse = (): unknown => parseSimAppSettings({ appId: 'a', secret: 's', ...overrides });
    expect(parse).toThrow(SimInputError);
    expect(parse).toThrow(key);
  });

  it('rejects a missing secret', () => {
    expect(() => parseSimAppSettings({ appId: 'a' })).toThrow('secret');
  });
});

describe('parseSimFault', () => {
  it.each([
    ['an unknown kind', { kind: 'explode', count: 1 }],
    ['a zero count', { kind: 'html', count: 0 }],
    ['an unknown endpoint', { kind: 'html', count: 1, endpoints: ['jscode2session'] }],
  ])('rejects %s', (_name, fault) => {
    expect(() => parseSimFault(fault)).toThrow(SimInputError);
  });
});
