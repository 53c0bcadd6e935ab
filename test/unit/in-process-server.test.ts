import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  getTicket,
  getToken,
  listApps,
  signJsapi,
  tokenClient,
} from '../../src/cli/grpc-client.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { startInProcess, type InProcess } from '../support/in-process.js';
import { loginClient } from '../support/login-client.js';

/**
 * The whole server in this process (in-process tier): gRPC on loopback, the engine, the
 * simulator over HTTP. The same behaviours as the e2e files, in milliseconds.
 */
const APP = 'wxinproc00000001';
const PLAIN = 'wxinprocplain001';
const SECRET = 'in-process-secret-9a1c';

let h: InProcess;
let client: TokenServiceClient;

beforeAll(async () => {
  h = await startInProcess(
    `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "SIM_URL", timeoutMs: 2000 }
refresh: { forceMinIntervalMs: 1 }
apps:
  - { appId: ${APP}, mode: classic, secretEnv: APP_SECRET, tickets: [jsapi, wx_card] }
  - { appId: ${PLAIN}, mode: classic, secretEnv: APP_SECRET }
`,
    { APP_SECRET: SECRET },
    async (control) => {
      for (const appId of [APP, PLAIN]) {
        await control.configureApp({ appId, secret: SECRET, expiresInSeconds: 7200 });
      }
    },
  );
  client = tokenClient(h.addr);
});

afterAll(async () => {
  client?.close();
  await h?.stop();
});

describe('the server in process (invariants 3 and 9 per credential)', () => {
  it('GetTicket answers live tickets of both types; SignJsapi signs with the jsapi one', async () => {
    const jsapi = await getTicket(client, APP, 'TICKET_TYPE_JSAPI');
    const card = await getTicket(client, APP, 'TICKET_TYPE_WX_CARD');
    expect((await h.control.checkTicket(APP, 'jsapi', jsapi.ticket)).alive).toBe(true);
    expect((await h.control.checkTicket(APP, 'wx_card', card.ticket)).alive).toBe(true);
    const s = await signJsapi(client, APP, 'https://example.com/a?b=c#d');
    expect(s.signature).toMatch(/^[0-9a-f]{40}$/);
    const rows = (await listApps(client)).apps.find((a) => a.app_id === APP)!;
    expect(rows.tickets.map((t) => t.kind)).toEqual(['jsapi_ticket', 'wx_card_ticket']);
  });

  it('GetTicket of an app without tickets is FAILED_PRECONDITION; GetToken for it still works', async () => {
    const err = (await getTicket(client, PLAIN, 'TICKET_TYPE_WX_CARD').catch(
      (e: unknown) => e,
    )) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect((await getToken(client, PLAIN)).access_token).not.toBe('');
  });

  it('GetPhoneNumber and GetPaidUnionId recover a token that died at WeChat, once, by compare-and-refresh', async () => {
    const login = loginClient(h.addr);
    try {
      const before = (await getToken(client, PLAIN)).access_token;
      await h.control.rotate(PLAIN, true); // another system fetched: ours is dead at once
      const { code } = await h.control.phoneCode(PLAIN, '+1 2025550123');
      const phone = await login.getPhoneNumber({ app_id: PLAIN, code });
      expect(phone.country_code).toBe('1');
      expect(phone.pure_phone_number).toBe('2025550123');
      const after = (await getToken(client, PLAIN)).access_token;
      expect(after).not.toBe(before);
      expect((await h.control.check(after)).valid).toBe(true);

      await h.control.rotate(PLAIN, true);
      await h.control.payment(PLAIN, { openid: 'oP', unionid: 'uP', transactionId: 't-1' });
      expect(
        await login.getPaidUnionId({ app_id: PLAIN, openid: 'oP', transaction_id: 't-1' }),
      ).toEqual({ unionid: 'uP' });
    } finally {
      login.close();
    }
  });
});
