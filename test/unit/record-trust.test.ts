import { describe, expect, it } from 'vitest';
import {
  MAX_FUTURE_SKEW_MS,
  MAX_GENERATION,
  MAX_LIFETIME_MS,
  MAX_TOKEN_CHARS,
  untrustedReason,
} from '../../src/token/record-trust.js';
import type { TokenRecord } from '../../src/token/token.js';

const NOW = 1_800_000_000_000;
const APP = 'wxtrustunit00001';
const good: TokenRecord = {
  appId: APP,
  value: '12_abcDEF-_x',
  fetchedAt: NOW,
  expiresAt: NOW + 7_200_000,
  generation: 3,
};
const check = (patch: Partial<TokenRecord>) =>
  untrustedReason({ ...good, ...patch }, (a) => a === APP, NOW);

describe('untrustedReason: each limit just inside and just past (issue 11 §4)', () => {
  it.each([
    ['a WeChat-shaped record', {}, null],
    ['a test lifetime of 2 s', { expiresAt: NOW + 2_000 }, null],
    ['an unknown app', { appId: 'wxother' }, 'unknown_app'],
    ['generation MAX_GENERATION', { generation: MAX_GENERATION }, null],
    ['generation MAX_GENERATION + 1', { generation: MAX_GENERATION + 1 }, 'bad_generation'],
    ['generation 2^53', { generation: 2 ** 53 }, 'bad_generation'],
    ['generation 0', { generation: 0 }, 'bad_generation'],
    ['generation -1', { generation: -1 }, 'bad_generation'],
    ['generation 1.5', { generation: 1.5 }, 'bad_generation'],
    ['expires_at not a number', { expiresAt: Number.NaN }, 'bad_times'],
    ['expires_at before fetched_at', { expiresAt: NOW - 1 }, 'bad_times'],
    ['lifetime exactly the bound', { expiresAt: NOW + MAX_LIFETIME_MS }, null],
    ['lifetime 1 ms over the bound', { expiresAt: NOW + MAX_LIFETIME_MS + 1 }, 'lifetime_too_long'],
    [
      'fetched_at at the skew bound',
      { fetchedAt: NOW + MAX_FUTURE_SKEW_MS, expiresAt: NOW + MAX_FUTURE_SKEW_MS + 7_200_000 },
      null,
    ],
    [
      'fetched_at 1 ms past the skew bound',
      { fetchedAt: NOW + MAX_FUTURE_SKEW_MS + 1, expiresAt: NOW + MAX_FUTURE_SKEW_MS + 7_200_001 },
      'fetched_in_future',
    ],
    ['a token of MAX_TOKEN_CHARS', { value: 'a'.repeat(MAX_TOKEN_CHARS) }, null],
    ['a token of MAX_TOKEN_CHARS + 1', { value: 'a'.repeat(MAX_TOKEN_CHARS + 1) }, 'bad_token'],
    ['an empty token', { value: '' }, 'bad_token'],
    ['a token with a space', { value: 'ab cd' }, 'bad_token'],
    ['a token with a newline', { value: 'ab\ncd' }, 'bad_token'],
  ] as const)('%s', (_, patch, expected) => {
    expect(check(patch)).toBe(expected);
  });
});
