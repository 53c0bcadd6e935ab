import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/audit-log.js';
import { MemoryAuditLog } from '../../src/audit/memory-audit-log.js';
import { ANONYMOUS, type Caller } from '../../src/auth/authorizer.js';
import { UnauthenticatedRefusals } from '../../src/grpc/unauthenticated-refusals.js';
import { createRpcAuditor } from '../../src/grpc/rpc-audit.js';
import { createLogger } from '../../src/shared/logger.js';
import { FakeClock } from '../support/fake-clock.js';

/** Issue 6 point 4 (audit): what is recorded, and that the trail is capped and filtered. */

function event(i: number, appId = 'wxapp'): AuditEvent {
  return {
    id: `e${i}`,
    at: 1_000 + i,
    caller: 'ops',
    appId,
    action: 'operator_refresh',
    reason: `r${i}`,
    result: 'OK',
    detail: '',
    replica: 'h:1',
  };
}

describe('MemoryAuditLog', () => {
  it('keeps the newest maxEvents events, newest first', async () => {
    const log = new MemoryAuditLog(100);
    for (let i = 0; i < 1_000; i++) await log.append(event(i));
    const all = await log.list({ limit: 1_000 });
    expect(all).toHaveLength(100);
    expect(all[0]!.id).toBe('e999');
    expect(all[99]!.id).toBe('e900');
  });

  it('filters by app and by visibility before applying the limit', async () => {
    const log = new MemoryAuditLog(1_000);
    for (let i = 0; i < 30; i++) await log.append(event(i, i % 3 === 0 ? 'wxa' : 'wxb'));
    const a = await log.list({ appId: 'wxa', limit: 5 });
    expect(a.map((e) => e.id)).toEqual(['e27', 'e24', 'e21', 'e18', 'e15']);
    const visible = await log.list({ limit: 100, visible: (e) => e.appId === 'wxb' });
    expect(visible).toHaveLength(20);
    expect(visible.every((e) => e.appId === 'wxb')).toBe(true);
  });
});

describe('createRpcAuditor', () => {
  const caller: Caller = { name: 'oncall', apps: new Set(['*']), scopes: new Set(['admin']) };

  function setup() {
    const lines: string[] = [];
    const log = createLogger({
      level: 'info',
      destination: { write: (l: string) => void lines.push(l) },
    });
    const clock = new FakeClock(Date.UTC(2026, 10, 25, 4, 0, 0));
    const auditLog = new MemoryAuditLog(100);
    const recorded: AuditEvent[] = [];
    const refused: string[] = [];
    const unauthenticated = new UnauthenticatedRefusals({
      log,
      now: () => clock.now(),
      onRefused: (m) => refused.push(m),
    });
    const audit = createRpcAuditor({
      log,
      clock,
      auditLog,
      onRecorded: (e) => recorded.push(e),
      unauthenticated,
    });
    return { lines, auditLog, audit, recorded, refused, clock };
  }

  it('records an operator refresh with caller, app, reason, result, time and outcome', async () => {
    const { audit, auditLog, lines } = setup();
    audit({
      method: 'ForceRefresh',
      request: { app_id: 'wxapp', stale_token: '', reason: 'rotated secret' },
      caller,
      code: grpc.status.OK,
      details: '',
      reply: { refreshed: true, token: { generation: '7', access_token: 'SECRET-TOKEN' } },
    });
    const [e] = await auditLog.list({ limit: 10 });
    expect(e).toMatchObject({
      at: Date.UTC(2026, 10, 25, 4, 0, 0),
      caller: 'oncall',
      appId: 'wxapp',
      action: 'operator_refresh',
      reason: 'rotated secret',
      result: 'OK',
      detail: 'refreshed, generation 7',
    });
    expect(e!.replica).toMatch(/:\d+$/);
    expect(lines.join('')).toContain('"msg":"audit"');
    // Invariant 8: the token in the reply is never in the trail or the log.
    expect(JSON.stringify(e) + lines.join('')).not.toContain('SECRET-TOKEN');
  });

  it('a compare-and-refresh names the stale token by fingerprint only', async () => {
    const { audit, auditLog, lines } = setup();
    const stale = 'STALE-TOKEN-VALUE-123';
    audit({
      method: 'ForceRefresh',
      request: { app_id: 'wxapp', stale_token: stale, reason: '' },
      caller,
      code: grpc.status.OK,
      details: '',
      reply: { refreshed: false, token: { generation: '3' } },
    });
    const [e] = await auditLog.list({ limit: 1 });
    expect(e!.action).toBe('force_refresh');
    expect(e!.detail).toMatch(/^stale token [0-9a-f]{8}; unchanged, generation 3$/);
    expect(JSON.stringify(e) + lines.join('')).not.toContain(stale);
  });

  it('records refusals of authenticated callers with the status code name and the caller', async () => {
    const { audit, recorded } = setup();
    audit({
      method: 'ForceRefresh',
      request: { app_id: 'wxother', stale_token: '', reason: 'x' },
      caller,
      code: grpc.status.PERMISSION_DENIED,
      details: 'caller oncall may not use app wxother',
    });
    expect(recorded.map((e) => [e.action, e.result, e.caller, e.appId])).toEqual([
      ['operator_refresh', 'PERMISSION_DENIED', 'oncall', 'wxother'],
    ]);
  });

  it('keeps unauthenticated refusals out of the trail: counted, one log line per peer per 10 s (issue 11)', async () => {
    const { audit, auditLog, recorded, refused, lines, clock } = setup();
    const unauthenticated = { ...ANONYMOUS, name: 'unauthenticated' };
    const flood = (peer: string, n: number): void => {
      for (let i = 0; i < n; i++) {
        audit({
          method: 'ForceRefresh',
          request: { app_id: `wxattacker${i}`, stale_token: '', reason: 'attacker-chosen' },
          caller: unauthenticated,
          code: grpc.status.UNAUTHENTICATED,
          details: 'missing credentials',
          peer: `ipv4:${peer}:${40000 + i}`,
        });
      }
    };
    flood('10.0.0.7', 150);
    flood('10.0.0.8', 3);
    expect(recorded).toEqual([]);
    expect(await auditLog.list({ limit: 1000 })).toEqual([]);
    expect(refused).toHaveLength(153);
    const logged = () => lines.filter((l) => l.includes('rpc refused: unauthenticated'));
    expect(logged()).toHaveLength(2);
    expect(lines.join('')).not.toContain('attacker-chosen');
    await clock.advance(10_000);
    flood('10.0.0.7', 1);
    expect(logged()).toHaveLength(3);
    expect(logged()[2]).toContain('"suppressedBefore":149');
  });

  it('ignores methods that are not audited (GetToken, login)', async () => {
    const { audit, recorded } = setup();
    for (const method of ['GetToken', 'WatchToken', 'Code2Session']) {
      audit({ method, request: { app_id: 'wxapp' }, caller, code: grpc.status.OK, details: '' });
    }
    expect(recorded).toEqual([]);
  });

  it('a failed append is reported, not thrown into the call', async () => {
    const failures: unknown[] = [];
    const log = createLogger({ level: 'silent' });
    const audit = createRpcAuditor({
      unauthenticated: new UnauthenticatedRefusals({ log, now: () => 0 }),
      log,
      clock: new FakeClock(0),
      auditLog: {
        append: () => Promise.reject(new Error('down')),
        list: () => Promise.resolve([]),
      },
      onWriteFailed: (err) => failures.push(err),
    });
    expect(() =>
      audit({ method: 'ListApps', request: {}, caller, code: grpc.status.OK, details: '' }),
    ).not.toThrow();
    await new Promise((r) => setImmediate(r));
    expect(failures).toHaveLength(1);
  });
});
