import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcess } from '../support/in-process.js';

/**
 * What one app or one flood can take of the gateway's pass-through (issue 13 §4, "bound what
 * others control"): a per-app rate (the SDK sends no caller key, only the app's token) and a
 * cap on calls forwarded at once, each held body counted against memory.
 */
const FAST = 'wxgwlimitsfast01';
const SLOW = 'wxgwlimitsslow01';
const SECRET = 'gateway-limits-secret-5e1a';
const PER_SECOND = 3;
const IN_FLIGHT = 2;

let h: InProcess;
let gw: string;

beforeAll(async () => {
  h = await startInProcess(
    `
grpc: { listen: "127.0.0.1:0" }
gateway: { listen: "127.0.0.1:0", passThrough: true, maxInFlight: ${IN_FLIGHT}, timeoutMs: 5000 }
metrics: { listen: "" }
wechat: { baseUrl: "SIM_URL", timeoutMs: 2000 }
limits: { passThroughPerSecond: ${PER_SECOND} }
apps:
  - { appId: ${FAST}, mode: classic, secretEnv: APP_SECRET }
  - { appId: ${SLOW}, mode: classic, secretEnv: APP_SECRET }
`,
    { APP_SECRET: SECRET },
    async (control) => {
      await control.configureApp({ appId: FAST, secret: SECRET, expiresInSeconds: 7200 });
      await control.configureApp({ appId: SLOW, secret: SECRET, expiresInSeconds: 7200 });
    },
  );
  gw = `http://127.0.0.1:${h.server.gatewayPort!}`;
});

afterAll(async () => {
  await h?.stop();
});

const get = async (path: string): Promise<Record<string, unknown>> =>
  (await (await fetch(`${gw}${path}`)).json()) as Record<string, unknown>;
const tokenOf = async (appId: string): Promise<string> =>
  String(
    (await get(`/cgi-bin/token?grant_type=client_credential&appid=${appId}&secret=x`)).access_token,
  );

describe('gateway pass-through limits', () => {
  it(`limits.passThroughPerSecond: a burst of ${PER_SECOND * 3} calls of one app forwards ${PER_SECOND}, answers the rest 45011, and leaves other apps alone`, async () => {
    const token = await tokenOf(FAST);
    const before = (await h.control.counters(FAST)).callbackIpCalls;
    // One after another (maxInFlight is 2 here): only the rate limit answers.
    const replies: Record<string, unknown>[] = [];
    for (let i = 0; i < PER_SECOND * 3; i++) {
      replies.push(await get(`/cgi-bin/getcallbackip?access_token=${token}`));
    }
    const ok = replies.filter((r) => Array.isArray(r.ip_list));
    const limited = replies.filter((r) => r.errcode === 45011);
    // A refill of 3/s can add one call while the burst is answered; never more.
    expect(ok.length).toBeGreaterThanOrEqual(PER_SECOND);
    expect(ok.length).toBeLessThanOrEqual(PER_SECOND + 1);
    expect(ok.length + limited.length).toBe(replies.length);
    expect(String(limited[0]?.errmsg)).toMatch(/wxtoken: .*app/);
    expect((await h.control.counters(FAST)).callbackIpCalls - before).toBe(ok.length);
    const other = await get(`/cgi-bin/getcallbackip?access_token=${await tokenOf(SLOW)}`);
    expect(Array.isArray(other.ip_list)).toBe(true);
  });

  it(`gateway.maxInFlight: with ${IN_FLIGHT} calls held upstream, more are answered -1 at once; then calls pass again`, async () => {
    const token = await tokenOf(SLOW);
    const before = (await h.control.counters(SLOW)).callbackIpCalls;
    await h.control.configureApp({
      appId: SLOW,
      secret: SECRET,
      expiresInSeconds: 7200,
      latencyMs: 1500,
    });
    try {
      const held = Array.from({ length: IN_FLIGHT }, () =>
        get(`/cgi-bin/getcallbackip?access_token=${token}`),
      );
      // Both held calls must have reached the simulator before the extra one is sent.
      const deadline = Date.now() + 5_000;
      while ((await h.control.counters(SLOW)).callbackIpCalls < before + IN_FLIGHT) {
        if (Date.now() > deadline) throw new Error('the held calls never reached the simulator');
        await new Promise((r) => setTimeout(r, 20));
      }
      const refused = await get(`/cgi-bin/getcallbackip?access_token=${token}`);
      expect(refused.errcode).toBe(-1);
      expect(String(refused.errmsg)).toMatch(/gateway\.maxInFlight/);
      for (const r of await Promise.all(held)) expect(Array.isArray(r.ip_list)).toBe(true);
    } finally {
      await h.control.configureApp({ appId: SLOW, secret: SECRET, expiresInSeconds: 7200 });
    }
    await new Promise((r) => setTimeout(r, 1_100)); // the per-app bucket refills
    const again = await get(`/cgi-bin/getcallbackip?access_token=${token}`);
    expect(Array.isArray(again.ip_list)).toBe(true);
  });
});
