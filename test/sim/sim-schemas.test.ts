import { describe, expect, it } from 'vitest';
import { SimInputError } from '../../src/sim/sim-errors.js';
import {
  parseSimAppSettings,
  parseSimCodeRequest,
  parseSimEncryptRequest,
  parseSimFault,
} from '../../src/sim/sim-schemas.js';

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
      codeLifetimeSeconds: 300,
      sessionKeyLifetimeSeconds: 259_200,
      unionidBound: true,
      ticketLifetimeSeconds: 7200,
      phoneCodeLifetimeSeconds: 300,
      paidUnionidWindowSeconds: 300,
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
    ['a zero code lifetime', { codeLifetimeSeconds: 0 }, 'codeLifetimeSeconds'],
    ['a negative session lifetime', { sessionKeyLifetimeSeconds: -1 }, 'sessionKeyLifetimeSeconds'],
    ['unionidBound as a string', { unionidBound: 'yes' }, 'unionidBound'],
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
    ['an unknown endpoint', { kind: 'html', count: 1, endpoints: ['getcomponenttoken'] }],
  ])('rejects %s', (_name, fault) => {
    expect(() => parseSimFault(fault)).toThrow(SimInputError);
  });
});

describe('parseSimFault: the login endpoints', () => {
  it('accepts jscode2session, checksession and resetusersessionkey as targets', () => {
    const endpoints = ['jscode2session', 'checksession', 'resetusersessionkey'];
    expect(parseSimFault({ kind: 'system_error', count: 1, endpoints })).toEqual({
      kind: 'system_error',
      count: 1,
      endpoints,
    });
  });
});

describe('parseSimCodeRequest and parseSimEncryptRequest', () => {
  it('accepts an empty code request and one with every flag', () => {
    expect(parseSimCodeRequest({})).toEqual({});
    const full = { user: 'alice', blocked: true, unionid: false };
    expect(parseSimCodeRequest(full)).toEqual(full);
  });

  it.each([
    ['a typo in a key', { users: 'alice' }, 'users'],
    ['an empty user id', { user: '' }, 'user'],
    ['blocked as a string', { blocked: 'true' }, 'blocked'],
  ])('rejects a code request with %s, naming the key', (_name, input, key) => {
    expect(() => parseSimCodeRequest(input)).toThrow(SimInputError);
    expect(() => parseSimCodeRequest(input)).toThrow(key);
  });

  it.each([
    ['no data', {}],
    ['data that is an array', { data: [1, 2] }],
    ['data that is a string', { data: '{}' }],
  ])('rejects an encrypt request with %s', (_name, input) => {
    expect(() => parseSimEncryptRequest(input)).toThrow(SimInputError);
    expect(() => parseSimEncryptRequest(input)).toThrow('data');
  });
});
