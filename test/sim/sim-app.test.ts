import { describe, expect, it } from 'vitest';
import { SimApp, type IssueOutcome } from '../../src/sim/sim-app.js';
import { parseSimAppSettings } from '../../src/sim/sim-schemas.js';
import type { SimAppSettings } from '../../src/sim/types.js';
import { FakeClock } from '../support/fake-clock.js';

const S = 1000;

function setup(overrides: Partial<SimAppSettings> = {}): { app: SimApp; clock: FakeClock } {
  const app = new SimApp(parseSimAppSettings({ appId: 'wxapp', secret: 'sec', ...overrides }));
  // FakeClock starts at 2026-11-25 12:00 Beijing.
  return { app, clock: new FakeClock() };
}

function issued(outcome: IssueOutcome): { token: string; expiresIn: number } {
  if (!outcome.ok) throw new Error(`expected a token, got errcode ${outcome.errcode}`);
  return { token: outcome.token.value, expiresIn: outcome.expiresInSeconds };
}

function errcodeOf(outcome: IssueOutcome): number {
  return outcome.ok ? 0 : outcome.errcode;
}

describe('SimApp classic channel (wechat-api.md §1)', () => {
  it('mints a new token on every call, shaped NN_ + [A-Za-z0-9_-], 136 chars by default (§0)', () => {
    const { app, clock } = setup();
    const a = issued(app.issueClassic(clock.now()));
    const b = issued(app.issueClassic(clock.now()));
    expect(a.token).not.toBe(b.token);
    expect(a.token).toMatch(/^\d{2}_[A-Za-z0-9_-]+$/);
    expect(a.token).toHaveLength(136);
    expect(a.expiresIn).toBe(7200);
    expect(app.counters.tokenIssued).toBe(2);
  });

  it('honours tokenLength and fractional expiresInSeconds', () => {
    const { app, clock } = setup({ tokenLength: 40, expiresInSeconds: 2.5 });
    const { token, expiresIn } = issued(app.issueClassic(clock.now()));
    expect(token).toHaveLength(40);
    expect(expiresIn).toBe(2.5);
  });

  it('keeps the previous token valid for overlapSeconds, then 40001 (§1, §3)', async () => {
    const { app, clock } = setup({ overlapSeconds: 300 });
    const old = issued(app.issueClassic(clock.now())).token;
    await clock.advance(1000 * S);
    issued(app.issueClassic(clock.now()));
    await clock.advance(300 * S - 1);
    expect(app.classic.verdict(old, clock.now())).toBe(0);
    await clock.advance(1);
    expect(app.classic.verdict(old, clock.now())).toBe(40001);
  });

  it('refuses with 45009 past dailyQuota and resets at 00:00 Beijing, not before (§1, §11)', async () => {
    const { app, clock } = setup({ dailyQuota: 2 });
    expect([1, 2, 3].map(() => errcodeOf(app.issueClassic(clock.now())))).toEqual([0, 0, 45009]);
    await clock.advance(12 * 3600 * S - 1); // 23:59:59.999 Beijing
    expect(errcodeOf(app.issueClassic(clock.now()))).toBe(45009);
    await clock.advance(1); // 00:00 Beijing
    expect(errcodeOf(app.issueClassic(clock.now()))).toBe(0);
  });

  it('keeps tokens and the quota used when the app is reconfigured', () => {
    const { app, clock } = setup({ dailyQuota: 1 });
    const token = issued(app.issueClassic(clock.now())).token;
    app.update(parseSimAppSettings({ appId: 'wxapp', secret: 'new', dailyQuota: 1 }));
    expect(app.classic.verdict(token, clock.now())).toBe(0);
    expect(errcodeOf(app.issueClassic(clock.now()))).toBe(45009);
  });
});

describe('SimApp authentication (wechat-api.md §1, §9)', () => {
  it.each([
    ['the right secret with no whitelist passes', {}, 'sec', '10.0.0.1', 0],
    ['a wrong secret is 40125', {}, 'nope', '10.0.0.1', 40125],
    ['a whitelisted IP passes', { ipWhitelist: ['10.0.0.1'] }, 'sec', '10.0.0.1', 0],
    ['a CIDR range matches', { ipWhitelist: ['10.0.0.0/8'] }, 'sec', '10.9.9.9', 0],
    [
      'an IPv4-mapped IPv6 peer matches its IPv4 entry',
      { ipWhitelist: ['10.0.0.1'] },
      'sec',
      '::ffff:10.0.0.1',
      0,
    ],
    [
      'an IP outside the whitelist is 40164',
      { ipWhitelist: ['10.0.0.1'] },
      'sec',
      '10.0.0.2',
      40164,
    ],
    [
      'the secret is checked before the IP',
      { ipWhitelist: ['10.0.0.1'] },
      'nope',
      '10.0.0.2',
      40125,
    ],
  ])('%s', (_name, overrides, secret, ip, want) => {
    const { app } = setup(overrides);
    expect(errcodeOf(app.authenticate(secret, ip) ?? ({ ok: true } as IssueOutcome))).toBe(want);
  });

  it('names the refused IP in WeChat’s 40164 wording (§1)', () => {
    const { app } = setup({ ipWhitelist: ['10.0.0.1'] });
    expect(app.authenticate('sec', '::ffff:127.0.0.1')).toEqual({
      ok: false,
      errcode: 40164,
      errmsg: 'invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist',
    });
  });
});

describe('SimApp stable channel, normal mode (wechat-api.md §2)', () => {
  it('returns the same token with a decreasing expires_in until the window, then rotates', async () => {
    const { app, clock } = setup({ expiresInSeconds: 7200, stableWindowSeconds: 300 });
    const first = issued(app.issueStable(clock.now(), false));
    expect(first.expiresIn).toBe(7200);
    await clock.advance(1000 * S);
    expect(issued(app.issueStable(clock.now(), false))).toEqual({
      token: first.token,
      expiresIn: 6200,
    });
    await clock.advance(5899 * S); // 301 s left
    expect(issued(app.issueStable(clock.now(), false))).toEqual({
      token: first.token,
      expiresIn: 301,
    });
    await clock.advance(1 * S); // 300 s left: inside the window
    const second = issued(app.issueStable(clock.now(), false));
    expect(second.token).not.toBe(first.token);
    expect(second.expiresIn).toBe(7200);
    expect(app.counters.stableIssued).toBe(2);
  });

  it('lets the outgoing token live out its last window, then 40001 (§2 handover, §3)', async () => {
    const { app, clock } = setup({ expiresInSeconds: 7200, stableWindowSeconds: 300 });
    const first = issued(app.issueStable(clock.now(), false)).token;
    await clock.advance(7000 * S);
    issued(app.issueStable(clock.now(), false));
    await clock.advance(200 * S - 1);
    expect(app.stable.verdict(first, clock.now())).toBe(0);
    await clock.advance(1);
    expect(app.stable.verdict(first, clock.now())).toBe(40001);
  });

  it.each([
    ['whole seconds', { expiresInSeconds: 7200, stableWindowSeconds: 300 }, 7 * S],
    ['fractional timings', { expiresInSeconds: 2.5, stableWindowSeconds: 1.2 }, 70],
    ['the default window of a short lifetime', { expiresInSeconds: 10 }, 37],
  ])('never returns expires_in below the window (%s) (§2)', (_name, timings, stepMs) => {
    const { app, clock } = setup(timings);
    const { stableWindowSeconds, expiresInSeconds } = app.settings;
    const seen = new Set<string>();
    // Plain numbers rather than clock.advance: thousands of steps, nothing scheduled.
    for (let i = 0, now = clock.now(); i < 3000; i++, now += stepMs) {
      const { token, expiresIn } = issued(app.issueStable(now, false));
      seen.add(token);
      expect(expiresIn).toBeGreaterThanOrEqual(stableWindowSeconds);
      expect(expiresIn).toBeLessThanOrEqual(expiresInSeconds);
    }
    expect(seen.size).toBeGreaterThan(2);
  });

  it('does not touch the classic channel (§2: the two share nothing)', () => {
    const { app, clock } = setup();
    const classic = issued(app.issueClassic(clock.now())).token;
    issued(app.issueStable(clock.now(), true));
    expect(app.classic.verdict(classic, clock.now())).toBe(0);
    expect(app.counters.tokenIssued).toBe(1);
  });
});

describe('SimApp stable channel, force_refresh (wechat-api.md §2)', () => {
  it('mints a new token and keeps the previous one for the overlap', async () => {
    const { app, clock } = setup({ overlapSeconds: 300 });
    const a = issued(app.issueStable(clock.now(), false)).token;
    const b = issued(app.issueStable(clock.now(), true));
    expect(b.token).not.toBe(a);
    expect(b.expiresIn).toBe(7200);
    await clock.advance(299 * S);
    expect(app.stable.verdict(a, clock.now())).toBe(0);
    await clock.advance(1 * S);
    expect(app.stable.verdict(a, clock.now())).toBe(40001);
  });

  it('returns the current token unchanged for a force call inside the minimum interval', async () => {
    const { app, clock } = setup({ stableForceMinIntervalSeconds: 30 });
    const forced = issued(app.issueStable(clock.now(), true)).token;
    await clock.advance(29 * S);
    expect(issued(app.issueStable(clock.now(), true)).token).toBe(forced);
    await clock.advance(1 * S);
    expect(issued(app.issueStable(clock.now(), true)).token).not.toBe(forced);
    expect(app.counters.stableForceIssued).toBe(2);
  });

  it('kills a leaked token at once with two force calls 30 s apart (§2 leak response)', async () => {
    const { app, clock } = setup();
    const leaked = issued(app.issueStable(clock.now(), false)).token;
    issued(app.issueStable(clock.now(), true));
    expect(app.stable.verdict(leaked, clock.now())).toBe(0);
    await clock.advance(30 * S);
    issued(app.issueStable(clock.now(), true));
    expect(app.stable.verdict(leaked, clock.now())).toBe(40001);
  });

  it('allows stableForceDailyLimit forced refreshes per Beijing day, then 45009', async () => {
    const { app, clock } = setup({ stableForceDailyLimit: 20 });
    for (let i = 0; i < 20; i++) {
      expect(errcodeOf(app.issueStable(clock.now(), true))).toBe(0);
      await clock.advance(30 * S);
    }
    expect(errcodeOf(app.issueStable(clock.now(), true))).toBe(45009);
    expect(errcodeOf(app.issueStable(clock.now(), false))).toBe(0);
    expect(app.counters.stableForceIssued).toBe(20);
    await clock.advance(12 * 3600 * S); // past 00:00 Beijing
    expect(errcodeOf(app.issueStable(clock.now(), true))).toBe(0);
  });
});
