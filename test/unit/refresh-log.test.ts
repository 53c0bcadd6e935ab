import { describe, expect, it } from 'vitest';
import type { RefreshEvent } from '../../src/refresher/credential-refresher.js';
import { AUTHORIZER_SUMMARY_MS, RefreshLog } from '../../src/server/refresh-log.js';
import { createLogger } from '../../src/shared/logger.js';
import { WeChatError } from '../../src/wechat/wechat-error.js';
import { FakeClock } from '../support/fake-clock.js';

/**
 * Issue 15 item 5 (100,000 authorizers on one leader): an authorizer's successful refresh is
 * counted into one line per platform a minute, not a line each; everything an operator must
 * see one by one (configured apps, component tokens, every failure) keeps its own line.
 */
const PLATFORM = 'wxcomponent00001';
const AUTHORIZER = (i: number) => `wxauthorizer${String(i).padStart(5, '0')}`;

function setup(level = 'info') {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    level,
    destination: {
      write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>),
    },
  });
  const clock = new FakeClock();
  const refreshLog = new RefreshLog(
    log,
    (appId) => (appId.startsWith('wxauthorizer') ? PLATFORM : undefined),
    clock,
  );
  return { lines, clock, refreshLog };
}

const event = (appId: string, over: Partial<RefreshEvent> = {}): RefreshEvent => ({
  kind: 'access_token',
  appId,
  trigger: 'schedule',
  result: 'fetched',
  generation: 2,
  durationMs: 51.2,
  ...over,
});

describe('RefreshLog', () => {
  it('1,000 authorizer refreshes make one summary line a minute, with counts by credential, trigger and outcome', async () => {
    const { lines, clock, refreshLog } = setup();
    for (let i = 0; i < 1000; i++) {
      refreshLog.record(event(AUTHORIZER(i), i < 100 ? { trigger: 'startup' } : {}));
    }
    refreshLog.record(event(AUTHORIZER(1), { kind: 'jsapi_ticket' }));
    expect(lines).toEqual([]);
    await clock.advance(AUTHORIZER_SUMMARY_MS);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      msg: 'authorizer refreshes',
      component: PLATFORM,
      refreshed: 1001,
      by: {
        'access_token startup fetched': 100,
        'access_token schedule fetched': 900,
        'jsapi_ticket schedule fetched': 1,
      },
    });
    // A quiet minute logs nothing; the next refresh starts a new count.
    await clock.advance(AUTHORIZER_SUMMARY_MS);
    expect(lines).toHaveLength(1);
    refreshLog.record(event(AUTHORIZER(7)));
    await clock.advance(AUTHORIZER_SUMMARY_MS);
    expect(lines[1]).toMatchObject({ refreshed: 1, by: { 'access_token schedule fetched': 1 } });
  });

  it('a configured app and every failure keep their own line at once', () => {
    const { lines, refreshLog } = setup();
    refreshLog.record(event('wxconfigured0001', { trigger: 'force' }));
    const error = new WeChatError('token', 61023, 'invalid refresh token');
    refreshLog.record(event(AUTHORIZER(3), { result: 'error', error, generation: undefined }));
    refreshLog.record(event(AUTHORIZER(4), { result: 'fenced' }));
    expect(lines.map((l) => [l.msg, l.appId, l.level])).toEqual([
      ['refresh', 'wxconfigured0001', 30],
      ['refresh failed', AUTHORIZER(3), 40],
      ['refresh failed', AUTHORIZER(4), 40],
    ]);
    expect(lines[1]).toMatchObject({ errcode: 61023, kind: error.kind });
  });

  it('at debug level each authorizer refresh has its line too', () => {
    const { lines, refreshLog } = setup('debug');
    refreshLog.record(event(AUTHORIZER(1)));
    expect(lines).toMatchObject([{ level: 20, msg: 'refresh', appId: AUTHORIZER(1) }]);
  });

  it('close() logs what was counted and leaves no timer behind', () => {
    const { lines, clock, refreshLog } = setup();
    refreshLog.record(event(AUTHORIZER(1)));
    expect(clock.pendingTimers()).toBe(1);
    refreshLog.close();
    expect(lines).toMatchObject([{ msg: 'authorizer refreshes', refreshed: 1 }]);
    expect(clock.pendingTimers()).toBe(0);
  });
});
