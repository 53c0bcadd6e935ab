import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/shared/secret.js';
import { LoginState, type ExchangeOutcome, type LoginPolicy } from '../../src/sim/login-state.js';
import { sessionSignature } from '../../src/sim/session-signature.js';
import { FakeClock } from '../support/fake-clock.js';

const S = 1000;
const DAY = 86_400 * S;
const POLICY: LoginPolicy = {
  appId: 'wxmini',
  codeLifetimeSeconds: 300,
  sessionKeyLifetimeSeconds: 3 * 86_400,
  unionidBound: true,
};

function setup(policy: Partial<LoginPolicy> = {}): {
  state: LoginState;
  clock: FakeClock;
  policy: LoginPolicy;
} {
  return { state: new LoginState(), clock: new FakeClock(), policy: { ...POLICY, ...policy } };
}

function keyOf(outcome: ExchangeOutcome): string {
  if (!outcome.ok) throw new Error(`expected a session, got errcode ${outcome.errcode}`);
  return outcome.sessionKey.value;
}

function errcodeOf(outcome: { ok: boolean; errcode?: number }): number {
  return outcome.ok ? 0 : (outcome.errcode ?? -1);
}

describe('LoginState codes (wechat-api.md §4)', () => {
  it('exchanges a code once; the second exchange is 40163 code been used', () => {
    const { state, clock, policy } = setup();
    const { code, openid } = state.issueCode({ user: 'alice' }, clock.now(), policy);
    const first = state.exchange(code, clock.now(), policy);
    expect(first).toMatchObject({ ok: true, openid });
    expect(state.exchange(code, clock.now(), policy)).toEqual({
      ok: false,
      errcode: 40163,
      openid,
    });
  });

  it('is valid for codeLifetimeSeconds, then 40029 (expiry wins over reuse)', async () => {
    const { state, clock, policy } = setup();
    const fresh = state.issueCode({ user: 'alice' }, clock.now(), policy).code;
    const used = state.issueCode({ user: 'alice' }, clock.now(), policy).code;
    const late = state.issueCode({ user: 'alice' }, clock.now(), policy).code;
    keyOf(state.exchange(used, clock.now(), policy));
    await clock.advance(300 * S - 1);
    expect(errcodeOf(state.exchange(fresh, clock.now(), policy))).toBe(0);
    await clock.advance(1);
    expect(errcodeOf(state.exchange(late, clock.now(), policy))).toBe(40029);
    expect(errcodeOf(state.exchange(used, clock.now(), policy))).toBe(40029);
  });

  it('honours a shorter codeLifetimeSeconds at exchange time', async () => {
    const { state, clock } = setup();
    const { code } = state.issueCode({}, clock.now(), POLICY);
    await clock.advance(5 * S);
    expect(
      errcodeOf(state.exchange(code, clock.now(), { ...POLICY, codeLifetimeSeconds: 5 })),
    ).toBe(40029);
  });

  it('answers 40029 to a code never issued and to one issued by another app', () => {
    const { state, clock, policy } = setup();
    const other = setup({ appId: 'wxother' });
    const theirs = other.state.issueCode({ user: 'alice' }, clock.now(), other.policy).code;
    expect(errcodeOf(state.exchange('0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p', clock.now(), policy))).toBe(
      40029,
    );
    expect(errcodeOf(state.exchange('', clock.now(), policy))).toBe(40029);
    expect(errcodeOf(state.exchange(theirs, clock.now(), policy))).toBe(40029);
    // Refused elsewhere, the code still works where it was issued.
    expect(errcodeOf(other.state.exchange(theirs, clock.now(), other.policy))).toBe(0);
  });

  it('shapes codes like wx.login’s: 32 characters of [A-Za-z0-9], all different', () => {
    const { state, clock, policy } = setup();
    const codes = new Set(
      Array.from({ length: 50 }, () => state.issueCode({}, clock.now(), policy).code),
    );
    expect(codes.size).toBe(50);
    for (const code of codes) expect(code).toMatch(/^[A-Za-z0-9]{32}$/);
  });

  it('refuses a blocked user’s code with 40226 until a later code unblocks them', () => {
    const { state, clock, policy } = setup();
    const blocked = state.issueCode({ user: 'risky', blocked: true }, clock.now(), policy);
    expect(state.exchange(blocked.code, clock.now(), policy)).toEqual({
      ok: false,
      errcode: 40226,
      openid: blocked.openid,
    });
    // The flag sticks to the user: a code issued without it is blocked too.
    const again = state.issueCode({ user: 'risky' }, clock.now(), policy).code;
    expect(errcodeOf(state.exchange(again, clock.now(), policy))).toBe(40226);
    state.issueCode({ user: 'risky', blocked: false }, clock.now(), policy);
    expect(errcodeOf(state.exchange(blocked.code, clock.now(), policy))).toBe(0);
  });

  it('allows 100 exchanges per user per minute; the 101st is 45011 and its code stays usable', async () => {
    const { state, clock, policy } = setup();
    await clock.advance(60 * S - (clock.now() % (60 * S))); // the start of a clock minute
    const codes = Array.from(
      { length: 101 },
      () => state.issueCode({ user: 'busy' }, clock.now(), policy).code,
    );
    const results = codes.map((code) => errcodeOf(state.exchange(code, clock.now(), policy)));
    expect(results.slice(0, 100).every((e) => e === 0)).toBe(true);
    expect(results[100]).toBe(45011);
    // Another user is not affected.
    const other = state.issueCode({ user: 'calm' }, clock.now(), policy).code;
    expect(errcodeOf(state.exchange(other, clock.now(), policy))).toBe(0);
    await clock.advance(60 * S);
    expect(errcodeOf(state.exchange(codes[100] ?? '', clock.now(), policy))).toBe(0);
  });
});

describe('LoginState users (wechat-api.md §4)', () => {
  it('gives a named user a stable 28-character openid per app, and one unionid across apps', () => {
    const { state, clock, policy } = setup();
    const other = setup({ appId: 'wxother' });
    const a1 = state.issueCode({ user: 'alice' }, clock.now(), policy);
    const a2 = state.issueCode({ user: 'alice' }, clock.now(), policy);
    const elsewhere = other.state.issueCode({ user: 'alice' }, clock.now(), other.policy);
    const bob = state.issueCode({ user: 'bob' }, clock.now(), policy);
    expect(a1.openid).toMatch(/^o[A-Za-z0-9_-]{27}$/);
    expect(a1.unionid).toMatch(/^o[A-Za-z0-9_-]{27}$/);
    expect(a2.openid).toBe(a1.openid);
    expect(new LoginState().issueCode({ user: 'alice' }, 0, policy).openid).toBe(a1.openid);
    expect(elsewhere.openid).not.toBe(a1.openid);
    expect(elsewhere.unionid).toBe(a1.unionid);
    expect(bob.openid).not.toBe(a1.openid);
    expect(bob.unionid).not.toBe(a1.unionid);
  });

  it('gives an unnamed user a new openid each time', () => {
    const { state, clock, policy } = setup();
    const a = state.issueCode({}, clock.now(), policy);
    const b = state.issueCode({}, clock.now(), policy);
    expect(a.openid).not.toBe(b.openid);
  });

  it.each([
    ['the app is bound, the user unset → unionid', true, undefined, true],
    ['the app is not bound → none', false, undefined, false],
    ['the app is not bound, the user has one → unionid', false, true, true],
    ['the app is bound, the user has none → none', true, false, false],
  ])('%s', (_name, unionidBound, unionid, present) => {
    const { state, clock, policy } = setup({ unionidBound });
    const issued = state.issueCode(
      { user: 'u', ...(unionid === undefined ? {} : { unionid }) },
      clock.now(),
      policy,
    );
    const outcome = state.exchange(issued.code, clock.now(), policy);
    expect('unionid' in issued).toBe(present);
    expect(outcome.ok && 'unionid' in outcome).toBe(present);
    expect(state.view(issued.openid, policy)?.unionid !== undefined).toBe(present);
  });
});

describe('LoginState session keys (wechat-api.md §4-6)', () => {
  it('gives every exchange a new 24-character key (16 bytes) and kills the previous one', () => {
    const { state, clock, policy } = setup();
    const first = state.issueCode({ user: 'alice' }, clock.now(), policy);
    const oldKey = keyOf(state.exchange(first.code, clock.now(), policy));
    const second = state.issueCode({ user: 'alice' }, clock.now(), policy).code;
    const newKey = keyOf(state.exchange(second, clock.now(), policy));
    expect(newKey).not.toBe(oldKey);
    expect(newKey).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(Buffer.from(newKey, 'base64')).toHaveLength(16);
    const { openid } = first;
    expect(state.checkSession(openid, sessionSignature(newKey), clock.now())).toBe(0);
    expect(state.checkSession(openid, sessionSignature(oldKey), clock.now())).toBe(87009);
  });

  it('checkSession: 0 for the current key until sessionKeyLifetimeSeconds, then 87009', async () => {
    const { state, clock, policy } = setup({ sessionKeyLifetimeSeconds: 3 * 86_400 });
    const { code, openid } = state.issueCode({ user: 'alice' }, clock.now(), policy);
    const signature = sessionSignature(keyOf(state.exchange(code, clock.now(), policy)));
    await clock.advance(3 * DAY - 1);
    expect(state.checkSession(openid, signature, clock.now())).toBe(0);
    await clock.advance(1);
    expect(state.checkSession(openid, signature, clock.now())).toBe(87009);
  });

  it.each([
    [
      'a signature made with another key',
      (_key: string) => sessionSignature('AAAAAAAAAAAAAAAAAAAAAA=='),
    ],
    ['an uppercase signature', (key: string) => sessionSignature(key).toUpperCase()],
    ['no signature', () => ''],
    [
      'a signature keyed with the base64-decoded key',
      (key: string) => createHmac('sha256', Buffer.from(key, 'base64')).update('').digest('hex'),
    ],
  ])('checkSession refuses %s with 87009', (_name, sign) => {
    const { state, clock, policy } = setup();
    const { code, openid } = state.issueCode({ user: 'alice' }, clock.now(), policy);
    const key = keyOf(state.exchange(code, clock.now(), policy));
    expect(state.checkSession(openid, sign(key), clock.now())).toBe(87009);
  });

  it('checkSession: 87009 for an openid with no session or never seen', () => {
    const { state, clock, policy } = setup();
    const { openid } = state.issueCode({ user: 'alice' }, clock.now(), policy);
    expect(state.checkSession(openid, sessionSignature(''), clock.now())).toBe(87009);
    expect(state.checkSession('ounknown', sessionSignature(''), clock.now())).toBe(87009);
  });

  it('resetSessionKey mints a new key that inherits the expiry and kills the old one', async () => {
    const { state, clock, policy } = setup({ sessionKeyLifetimeSeconds: 1000 });
    const { code, openid } = state.issueCode({ user: 'alice' }, clock.now(), policy);
    const oldKey = keyOf(state.exchange(code, clock.now(), policy));
    const expiresAt = clock.now() + 1000 * S;
    await clock.advance(400 * S);
    const reset = state.resetSessionKey(openid, sessionSignature(oldKey), clock.now());
    if (!reset.ok) throw new Error(`reset failed with ${reset.errcode}`);
    const newKey = reset.sessionKey.value;
    expect(newKey).not.toBe(oldKey);
    expect(reset.sessionKey.expiresAt).toBe(expiresAt);
    expect(state.checkSession(openid, sessionSignature(oldKey), clock.now())).toBe(87009);
    expect(state.checkSession(openid, sessionSignature(newKey), clock.now())).toBe(0);
    // The old key cannot reset either: it is no longer the user's.
    expect(errcodeOf(state.resetSessionKey(openid, sessionSignature(oldKey), clock.now()))).toBe(
      87009,
    );
    await clock.advance(600 * S);
    expect(state.checkSession(openid, sessionSignature(newKey), clock.now())).toBe(87009);
    expect(errcodeOf(state.resetSessionKey(openid, sessionSignature(newKey), clock.now()))).toBe(
      87007,
    );
  });

  it('resetSessionKey: 87007 for a user with no session, before looking at the signature', () => {
    const { state, clock, policy } = setup();
    const { openid } = state.issueCode({ user: 'alice' }, clock.now(), policy);
    expect(errcodeOf(state.resetSessionKey(openid, 'x', clock.now()))).toBe(87007);
    expect(errcodeOf(state.resetSessionKey('ounknown', 'x', clock.now()))).toBe(87007);
  });

  it('view shows the key’s fingerprint and expiry, never the key', () => {
    const { state, clock, policy } = setup();
    const { code, openid, unionid } = state.issueCode({ user: 'alice' }, clock.now(), policy);
    expect(state.view(openid, policy)).toEqual({ openid, unionid, blocked: false });
    const key = keyOf(state.exchange(code, clock.now(), policy));
    const view = state.view(openid, policy);
    expect(view).toEqual({
      openid,
      unionid,
      blocked: false,
      sessionKeyFingerprint: fingerprint(key),
      sessionKeyExpiresAt: clock.now() + 3 * DAY,
    });
    expect(JSON.stringify(view)).not.toContain(key);
    expect(state.view('ounknown', policy)).toBeUndefined();
  });
});
