import { describe, expect, it } from 'vitest';
import { TokenChannel } from '../../src/sim/token-channel.js';

const S = 1000;
const LIFETIME = 7200 * S;
const OVERLAP = 300 * S;

describe('TokenChannel (wechat-api.md §3 state model)', () => {
  it('keeps the current token valid for its whole lifetime, then answers 42001 (§3)', () => {
    const channel = new TokenChannel('classic');
    channel.rotate('A', 0, LIFETIME, OVERLAP);
    expect(channel.verdict('A', 0)).toBe(0);
    expect(channel.verdict('A', LIFETIME - 1)).toBe(0);
    expect(channel.verdict('A', LIFETIME)).toBe(42001);
  });

  it('keeps the previous token valid during the overlap after a rotation, then 40001 (§1)', () => {
    const channel = new TokenChannel('classic');
    channel.rotate('A', 0, LIFETIME, OVERLAP);
    channel.rotate('B', 1000 * S, LIFETIME, OVERLAP);
    expect(channel.verdict('A', 1000 * S + OVERLAP - 1)).toBe(0);
    expect(channel.verdict('A', 1000 * S + OVERLAP)).toBe(40001);
    expect(channel.verdict('B', 1000 * S + OVERLAP)).toBe(0);
  });

  it('ends the grace at the natural expiry when that comes first (§3: min(expiry, rotation + overlap))', () => {
    const channel = new TokenChannel('classic');
    channel.rotate('A', 0, LIFETIME, OVERLAP);
    channel.rotate('B', LIFETIME - 10 * S, LIFETIME, OVERLAP);
    expect(channel.verdict('A', LIFETIME - 1)).toBe(0);
    expect(channel.verdict('A', LIFETIME)).toBe(40001);
  });

  it('kills the oldest token at once on a second rotation: only the previous one has a grace (§3)', () => {
    const channel = new TokenChannel('classic');
    channel.rotate('A', 0, LIFETIME, OVERLAP);
    channel.rotate('B', 10 * S, LIFETIME, OVERLAP);
    channel.rotate('C', 20 * S, LIFETIME, OVERLAP);
    expect(channel.verdict('A', 20 * S)).toBe(40001);
    expect(channel.verdict('B', 20 * S)).toBe(0);
    expect(channel.verdict('C', 20 * S)).toBe(0);
  });

  it('answers 40001 for a token it never issued (§3)', () => {
    const channel = new TokenChannel('stable');
    expect(channel.verdict('2', 0)).toBe(40001);
    channel.rotate('A', 0, LIFETIME, OVERLAP);
    expect(channel.verdict('2', 0)).toBe(40001);
  });

  it('endOverlap ends the previous token’s grace immediately', () => {
    const channel = new TokenChannel('classic');
    channel.rotate('A', 0, LIFETIME, OVERLAP);
    channel.rotate('B', 10 * S, LIFETIME, OVERLAP);
    channel.endOverlap(10 * S);
    expect(channel.verdict('A', 10 * S)).toBe(40001);
    expect(channel.verdict('B', 10 * S)).toBe(0);
  });
});
