import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTicket, listApps, signJsapi, tokenClient } from '../../src/cli/grpc-client.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { loginClient } from '../support/login-client.js';
import { runCli, startServe, startSim, type Spawned } from '../support/processes.js';
import { SimControl } from '../support/sim-control.js';
import { until } from '../support/until.js';
import { sha256 } from '../support/key-digest.js';

/**
 * Issue 12 from the outside: tickets and the token-backed login exchanges through a real
 * `wxtoken serve` (embedded store) and the simulator over HTTP.
 */
const TICKETS = 'wxe2etickets0001';
const PLAIN = 'wxe2eplain000001';
const SECRET = 'e2e-ticket-secret-never-printed';
const KEY_A = 'shop-a-key-0123456789abcdef';
const KEY_B = 'shop-b-key-0123456789abcdef';

let sim: Spawned & { url: string };
let server: Spawned & { addr: string };
let control: SimControl;
let client: TokenServiceClient;

beforeAll(async () => {
  sim = await startSim();
  control = new SimControl(sim.url);
  // Tickets of 4 s refreshed 1.2 s ahead: a rotation every ~3 s.
  await control.configureApp({
    appId: TICKETS,
    secret: SECRET,
    expiresInSeconds: 7200,
    ticketLifetimeSeconds: 4,
  });
  await control.configureApp({ appId: PLAIN, secret: SECRET, expiresInSeconds: 7200 });
  server = await startServe(
    `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
refresh: { aheadSeconds: 1.2, retryMinMs: 100, retryMaxMs: 1000, forceMinIntervalMs: 1000 }
auth:
  callers:
    - { name: shop-a, keySha256: "${sha256(KEY_A)}", apps: ["*"], scopes: [token:read, admin, login] }
    - { name: shop-b, keySha256: "${sha256(KEY_B)}", apps: ["*"], scopes: [login] }
apps:
  - { appId: ${TICKETS}, mode: classic, secretEnv: E2E_SECRET, tickets: [jsapi, wx_card] }
  - { appId: ${PLAIN}, mode: classic, secretEnv: E2E_SECRET }
`,
    { E2E_SECRET: SECRET },
  );
  client = tokenClient(server.addr, KEY_A);
});

afterAll(async () => {
  client?.close();
  await server?.stop();
  await sim?.stop();
});

describe('GetTicket and SignJsapi (issue 12; invariants 1, 3, 4 per credential)', () => {
  it('every ticket served over three rotations is alive at the simulator; one getticket per lifetime, never two in flight, never with a dead token', async () => {
    const served = new Set<string>();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      for (const type of ['TICKET_TYPE_JSAPI', 'TICKET_TYPE_WX_CARD'] as const) {
        const t = await getTicket(client, TICKETS, type);
        const simType = type === 'TICKET_TYPE_JSAPI' ? 'jsapi' : 'wx_card';
        const verdict = await control.checkTicket(TICKETS, simType, t.ticket);
        expect(verdict.alive, `${simType} ticket served dead`).toBe(true);
        expect(t.type).toBe(type);
        served.add(t.ticket);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const type of ['jsapi', 'wx_card'] as const) {
      const c = await control.ticketCounters(TICKETS, type);
      // 10 s of 4 s tickets refreshed ~1.2 s ahead: 3 to 5 fetches, each one used.
      expect(c.calls).toBeGreaterThanOrEqual(3);
      expect(c.calls).toBeLessThanOrEqual(5);
      expect(c.maxInFlight).toBe(1);
      expect(c.rejectedDeadToken).toBe(0);
    }
    expect(served.size).toBeGreaterThanOrEqual(6);
  });

  it("SignJsapi verifies against the simulator's current jsapi ticket (SHA-1 of the documented string)", async () => {
    const url = 'https://m.example.com/pay?order=42&x=%E4%B8%AD#/step/2';
    const s = await signJsapi(client, TICKETS, url);
    const newest = await control.newestTicket(TICKETS, 'jsapi');
    const page = 'https://m.example.com/pay?order=42&x=%E4%B8%AD';
    const plain = `jsapi_ticket=${newest.ticket}&noncestr=${s.nonce_str}&timestamp=${s.timestamp}&url=${page}`;
    expect(s.signature).toBe(createHash('sha1').update(plain).digest('hex'));
    expect(s.nonce_str).toMatch(/^[A-Za-z0-9]{16}$/);
    expect(Math.abs(Number(s.timestamp) - Date.now() / 1000)).toBeLessThan(5);
  });

  it.each([
    [
      'an app without tickets',
      PLAIN,
      'TICKET_TYPE_JSAPI',
      grpc.status.FAILED_PRECONDITION,
      'apps[].tickets',
    ],
    ['an unknown app', 'wxnosuchapp', 'TICKET_TYPE_JSAPI', grpc.status.NOT_FOUND, 'not configured'],
    ['no type', TICKETS, 'TICKET_TYPE_UNSPECIFIED', grpc.status.INVALID_ARGUMENT, 'type:'],
  ] as const)(
    'GetTicket for %s: a precise status (invariant 9)',
    async (_label, app, type, code, text) => {
      const err = (await getTicket(client, app, type).catch(
        (e: unknown) => e,
      )) as grpc.ServiceError;
      expect(err.code).toBe(code);
      expect(err.details).toContain(text);
    },
  );

  it('SignJsapi refuses a url that is not http(s), naming the field', async () => {
    const err = (await signJsapi(client, TICKETS, 'javascript:alert(1)').catch(
      (e: unknown) => e,
    )) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^url: /);
  });

  it('a caller without token:read gets PERMISSION_DENIED for GetTicket and SignJsapi', async () => {
    const b = tokenClient(server.addr, KEY_B);
    try {
      for (const call of [
        () => getTicket(b, TICKETS, 'TICKET_TYPE_JSAPI'),
        () => signJsapi(b, TICKETS, 'https://example.com/'),
      ]) {
        const err = (await call().catch((e: unknown) => e)) as grpc.ServiceError;
        expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
      }
    } finally {
      b.close();
    }
  });

  it('ListApps reports each ticket with its own generation and expiry; CLI get --ticket prints the ticket', async () => {
    const apps = await listApps(client);
    const row = apps.apps.find((a) => a.app_id === TICKETS)!;
    expect(row.tickets.map((t) => t.kind)).toEqual(['jsapi_ticket', 'wx_card_ticket']);
    for (const t of row.tickets) {
      expect(Number(t.generation)).toBeGreaterThanOrEqual(1);
      expect(t.state).toBe('APP_STATE_HEALTHY');
    }
    expect(apps.apps.find((a) => a.app_id === PLAIN)!.tickets).toEqual([]);
    const out = await runCli(['get', TICKETS, '--ticket', 'jsapi', '--addr', server.addr], {
      WXTOKEN_KEY: KEY_A,
    });
    expect(out.code).toBe(0);
    const printed = out.out.split('\n')[0]!.trim();
    expect((await control.checkTicket(TICKETS, 'jsapi', printed)).alive).toBe(true);
  });

  it('a token killed at WeChat: the next getticket answers 40001, the token is recovered and the ticket still rotates', async () => {
    await control.rotate(TICKETS, true); // another system fetched; our token is dead at once
    const before = await control.ticketCounters(TICKETS, 'jsapi');
    await until('a ticket fetched after the token died', async () => {
      const c = await control.ticketCounters(TICKETS, 'jsapi');
      return c.accepted > before.accepted;
    });
    const t = await getTicket(client, TICKETS, 'TICKET_TYPE_JSAPI');
    await until(
      'the newest ticket is served',
      async () =>
        (
          await control.checkTicket(
            TICKETS,
            'jsapi',
            (await getTicket(client, TICKETS, 'TICKET_TYPE_JSAPI')).ticket,
          )
        ).newest,
    );
    expect((await control.checkTicket(TICKETS, 'jsapi', t.ticket)).alive).toBe(true);
  });
});

describe('token-backed exchanges (issue 12 §3)', () => {
  it('GetPhoneNumber: one upstream call per code, a retry by the same caller gets the same number, another caller is told the code is used', async () => {
    const a = loginClient(server.addr, KEY_A);
    const b = loginClient(server.addr, KEY_B);
    try {
      const { code } = await control.phoneCode(TICKETS, '+86 13800138000');
      const first = await a.getPhoneNumber({ app_id: TICKETS, code });
      expect(first).toEqual({
        phone_number: '13800138000',
        pure_phone_number: '13800138000',
        country_code: '86',
      });
      expect(await a.getPhoneNumber({ app_id: TICKETS, code })).toEqual(first);
      const err = (await b
        .getPhoneNumber({ app_id: TICKETS, code })
        .catch((e: unknown) => e)) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
      const bad = (await a
        .getPhoneNumber({ app_id: TICKETS, code: 'not-a-code' })
        .catch((e: unknown) => e)) as grpc.ServiceError;
      expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(bad.details).toMatch(/^code: /);
    } finally {
      a.close();
      b.close();
    }
  });

  it('GetPaidUnionId by transaction id and by mch_id + out_trade_no; neither is INVALID_ARGUMENT', async () => {
    const a = loginClient(server.addr, KEY_A);
    try {
      await control.payment(TICKETS, {
        openid: 'oPAYER1',
        unionid: 'uPAYER1',
        transactionId: 'tx-1',
      });
      await control.payment(TICKETS, {
        openid: 'oPAYER2',
        unionid: 'uPAYER2',
        mchId: 'm-9',
        outTradeNo: 'order-9',
      });
      expect(
        await a.getPaidUnionId({ app_id: TICKETS, openid: 'oPAYER1', transaction_id: 'tx-1' }),
      ).toEqual({ unionid: 'uPAYER1' });
      expect(
        await a.getPaidUnionId({
          app_id: TICKETS,
          openid: 'oPAYER2',
          mch_id: 'm-9',
          out_trade_no: 'order-9',
        }),
      ).toEqual({ unionid: 'uPAYER2' });
      const err = (await a
        .getPaidUnionId({ app_id: TICKETS, openid: 'oPAYER1' })
        .catch((e: unknown) => e)) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    } finally {
      a.close();
    }
  });

  it('the phone number and the tickets never appear in the logs (invariant 8)', async () => {
    const newest = await control.newestTicket(TICKETS, 'jsapi');
    expect(server.output()).not.toContain('13800138000');
    expect(server.output()).not.toContain(newest.ticket);
    expect(server.output()).not.toContain(SECRET);
  });
});
