import { WxTokenClient, WxTokenError } from 'wxtoken-client';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComponentSim, componentYaml, newTestComponent } from '../support/component-sim.js';
import { startInProcess, type InProcess } from '../support/in-process.js';

/**
 * wxtoken-client's third-party platform calls (ComponentService) against the whole server
 * in-process and the simulator over loopback: a SaaS vendor's backend builds its authorization
 * link, lists its customers' authorizers and recovers them after a lost store with the client
 * alone, and serves an authorizer's token like any app's.
 */
const COMPONENT = newTestComponent('wxnodecomponent1');
const ID = COMPONENT.componentAppId;

let h: InProcess;
let sim: ComponentSim;
let client: WxTokenClient;
const authorizerIds: string[] = [];

beforeAll(async () => {
  h = await startInProcess(
    `
grpc: { listen: "127.0.0.1:0" }
gateway: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "SIM_URL", timeoutMs: 2000 }
refresh: { retryMinMs: 50, retryMaxMs: 200 }
components:
${componentYaml(COMPONENT)}
`,
    {},
    async () => undefined,
  );
  sim = new ComponentSim(h.control, COMPONENT);
  await sim.configure(`http://127.0.0.1:${h.server.gatewayPort}/wechat/component/${ID}/events`);
  await sim.pushVerifyTicket();
  for (let i = 0; i < 5; i++) authorizerIds.push((await sim.authorize()).appId);
  authorizerIds.sort();
  client = new WxTokenClient({ address: h.addr });
});

afterAll(async () => {
  client?.close();
  await h?.stop();
});

describe('wxtoken-client: third-party platforms (ComponentService)', () => {
  it('preAuthCode gives a code for the authorization page, with its expiry', async () => {
    const before = Date.now();
    const pre = await client.preAuthCode(ID);
    expect(pre.preAuthCode).not.toBe('');
    expect(pre.expiresAt).toBeGreaterThan(before);
  });

  it('an authorizer is an app: token() serves its live access_token', async () => {
    const token = await client.token(authorizerIds[0]!);
    expect((await h.control.check(token)).valid).toBe(true);
  });

  it('componentToken is the platform token WeChat issued', async () => {
    const token = await client.componentToken(ID);
    expect(token).not.toBe('');
    expect(token).not.toBe(await client.token(authorizerIds[0]!));
  });

  it('listAuthorizers pages in app-id order; authorizers() walks every page', async () => {
    const first = await client.listAuthorizers(ID, { pageSize: 2 });
    expect(first.authorizers.map((a) => a.authorizerAppId)).toEqual(authorizerIds.slice(0, 2));
    expect(first.nextPageToken).not.toBe('');
    const all = [];
    for await (const a of client.authorizers(ID, 2)) all.push(a);
    expect(all.map((a) => a.authorizerAppId)).toEqual(authorizerIds);
    for (const a of all) {
      expect(a.authorizedAt).toBeGreaterThan(0);
      expect(['warming', 'healthy']).toContain(a.state);
    }
    // The one asked for a token above is healthy with a future expiry.
    const served = all.find((a) => a.authorizerAppId === authorizerIds[0])!;
    expect(served.state).toBe('healthy');
    expect(served.expiresAt).toBeGreaterThan(Date.now());
  });

  it('refuses a page size over 1,000 before calling, and reports the server refusing an unknown platform', async () => {
    await expect(client.listAuthorizers(ID, { pageSize: 1001 })).rejects.toThrow(/pageSize/);
    const err = await client.listAuthorizers('wxnosuchcomponent').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WxTokenError);
    expect((err as WxTokenError).code).toBe(grpc.status.NOT_FOUND);
    expect((err as WxTokenError).appId).toBe('wxnosuchcomponent');
  });

  it("recoverAuthorizers rebuilds every authorizer from WeChat's list and says how many", async () => {
    expect(await client.recoverAuthorizers(ID)).toBe(authorizerIds.length);
  });
});
