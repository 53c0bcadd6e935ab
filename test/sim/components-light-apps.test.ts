import { beforeEach, describe, expect, it } from 'vitest';
import { SimBackend } from '../../src/sim/sim-backend.js';
import { parseSimAppSettings } from '../../src/sim/sim-schemas.js';
import { FakeClock } from '../support/fake-clock.js';

/**
 * Issue 15 item 6 (100,000 authorizers): a light app (what an authorizer is) behaves as a full
 * app does for every token it is given, before and after it becomes one.
 */
let clock: FakeClock;
let backend: SimBackend;
const SHARED = parseSimAppSettings({
  appId: 'placeholder',
  secret: 'unused',
  overlapSeconds: 60,
  dailyQuota: 3,
});

beforeEach(() => {
  clock = new FakeClock();
  backend = new SimBackend(clock);
  backend.addLightApp('wxlight1', SHARED);
  backend.addLightApp('wxlight2', SHARED);
});

function mint(appId: string, endOverlap = false): string {
  const outcome = backend.rotate(appId, endOverlap);
  if (!outcome.ok) throw new Error(`errcode ${outcome.errcode}`);
  return outcome.token.value;
}

describe('light apps', () => {
  it('share settings but not tokens or quotas', () => {
    const a = mint('wxlight1');
    expect(backend.check(a)).toEqual({
      valid: true,
      errcode: 0,
      appId: 'wxlight1',
      channel: 'classic',
    });
    mint('wxlight1');
    mint('wxlight1');
    expect(backend.rotate('wxlight1')).toMatchObject({ ok: false, errcode: 45009 });
    expect(backend.rotate('wxlight2')).toMatchObject({ ok: true });
  });

  it('a superseded token keeps the shared overlap; endOverlap ends it at once', async () => {
    const first = mint('wxlight1');
    const second = mint('wxlight1');
    await clock.advance(59_000);
    expect(backend.check(first).valid).toBe(true);
    mint('wxlight1', true);
    expect(backend.check(second)).toMatchObject({ valid: false, errcode: 40001 });
  });

  it('reconfigured as a full app, keeps its tokens, quota used and mint count, and takes the new settings', async () => {
    const first = mint('wxlight1');
    const second = mint('wxlight1');
    backend.configureApp({
      appId: 'wxlight1',
      secret: 'now-known',
      overlapSeconds: 10,
      dailyQuota: 3,
    });
    expect(backend.check(first).valid).toBe(true);
    expect(backend.check(second).valid).toBe(true);
    expect(backend.counters('wxlight1').tokenIssued).toBe(2);
    const third = mint('wxlight1');
    expect(backend.rotate('wxlight1')).toMatchObject({ ok: false, errcode: 45009 });
    await clock.advance(10_000);
    expect(backend.check(second)).toMatchObject({ valid: false, errcode: 40001 });
    expect(backend.check(third).valid).toBe(true);
    const fetched = backend.token(
      { grant_type: 'client_credential', appid: 'wxlight1', secret: 'now-known' },
      '127.0.0.1',
    );
    expect(fetched).toMatchObject({ body: { errcode: 45009 } });
  });

  it('an existing app is never replaced by a light one, and reset forgets light apps', () => {
    backend.configureApp({ appId: 'wxfull', secret: 's', dailyQuota: 1 });
    backend.addLightApp('wxfull', SHARED);
    mint('wxfull');
    expect(backend.rotate('wxfull')).toMatchObject({ ok: false, errcode: 45009 });
    const token = mint('wxlight1');
    backend.reset();
    expect(backend.check(token)).toEqual({ valid: false, errcode: 40001 });
    expect(() => backend.rotate('wxlight1')).toThrow(/not configured/);
  });
});
