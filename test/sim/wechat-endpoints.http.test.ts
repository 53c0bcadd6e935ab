import { describe, expect, it } from 'vitest';
import type { SimFaultKind } from '../../src/sim/wechat-simulator.js';
import { APP, useSimulator } from './sim-http.js';

const h = useSimulator();

const STABLE = '/cgi-bin/stable_token';
const stableBody = { grant_type: 'client_credential', appid: APP.appId, secret: APP.secret };

describe('WeChat endpoints over HTTP (wechat-api.md §0-3, §9, §10)', () => {
  it('issues a classic token: HTTP 200, WeChat’s content type, no errcode (§0, §1)', async () => {
    const res = await h.get(h.tokenPath());
    expect(res.status).toBe(200);
    expect(res.contentType).toBe('application/json; encoding=utf-8');
    const body = res.json<{ access_token: string; expires_in: number }>();
    expect(body).toEqual({ access_token: expect.stringMatching(/^\d{2}_/), expires_in: 7200 });
    expect(body.access_token).toHaveLength(136);
  });

  it.each([
    ['a wrong secret → 40125', { secret: 'bad' }, 40125, 'invalid appsecret'],
    ['an unknown appid → 40013', { appid: 'wxnope' }, 40013, 'invalid appid'],
    ['a missing appid → 41002', { appid: '' }, 41002, 'appid missing'],
    ['a missing secret → 41004', { secret: '' }, 41004, 'appsecret missing'],
    ['a wrong grant_type → 40002', { grant_type: 'password' }, 40002, 'invalid grant_type'],
  ])('/cgi-bin/token with %s with HTTP 200 (§1)', async (_name, params, errcode, text) => {
    const res = await h.get(h.tokenPath(params));
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({
      errcode,
      errmsg: expect.stringMatching(new RegExp(`^${text} rid: \\w{8}-\\w{8}-\\w{8}$`)),
    });
  });

  it('refuses a caller outside the IP whitelist with 40164 naming its IP (§9)', async () => {
    h.sim.configureApp({ ...APP, ipWhitelist: ['10.1.2.3', '192.168.0.0/16'] });
    const res = await h.get(h.tokenPath());
    expect(res.json()['errcode']).toBe(40164);
    expect(res.json()['errmsg']).toMatch(
      /^invalid ip 127\.0\.0\.1 ipv6 ::ffff:127\.0\.0\.1, not in whitelist rid: /,
    );
    const stable = await h.send('POST', STABLE, stableBody);
    expect(stable.json()['errcode']).toBe(40164);
    h.sim.configureApp({ ...APP, ipWhitelist: ['127.0.0.1'] });
    expect((await h.get(h.tokenPath())).json()).toHaveProperty('access_token');
  });

  it('answers GET on stable_token with 43002 and a non-JSON body with 47001 (§2)', async () => {
    expect((await h.get(STABLE)).json()['errcode']).toBe(43002);
    expect((await h.send('POST', STABLE, 'appid=wx&secret=x')).json()['errcode']).toBe(47001);
  });

  it('serves the same stable token to every caller in normal mode, a new one on force (§2)', async () => {
    const first = (await h.send('POST', STABLE, stableBody)).json();
    const again = (await h.send('POST', STABLE, { ...stableBody, force_refresh: false })).json();
    expect(again['access_token']).toBe(first['access_token']);
    const forced = (await h.send('POST', STABLE, { ...stableBody, force_refresh: true })).json();
    expect(forced['access_token']).not.toBe(first['access_token']);
  });

  it('validates tokens through get_api_domain_ip (§10)', async () => {
    const token = (await h.get(h.tokenPath())).json()['access_token'] as string;
    const ok = await h.get(`/cgi-bin/get_api_domain_ip?access_token=${encodeURIComponent(token)}`);
    expect(ok.json()).toEqual({ ip_list: ['101.89.47.18', '101.91.34.103'] });
    expect((await h.get('/cgi-bin/get_api_domain_ip?access_token=2')).json()['errcode']).toBe(
      40001,
    );
    expect((await h.get('/cgi-bin/get_api_domain_ip')).json()['errcode']).toBe(41001);
  });

  it('answers an unknown path with 404 and errcode -1', async () => {
    const res = await h.get('/cgi-bin/nope');
    expect(res.status).toBe(404);
    expect(res.json()['errcode']).toBe(-1);
  });
});

describe('faults over HTTP (design.md "Simulator")', () => {
  it.each<[SimFaultKind, number]>([
    ['system_error', -1],
    ['minute_quota', 45011],
    ['daily_quota', 45009],
  ])('%s answers HTTP 200 with errcode %i, consumed by `count` calls', async (kind, errcode) => {
    h.sim.injectFault(APP.appId, { kind, count: 2 });
    expect((await h.get(h.tokenPath())).json()['errcode']).toBe(errcode);
    expect((await h.send('POST', STABLE, stableBody)).json()['errcode']).toBe(errcode);
    expect((await h.get(h.tokenPath())).json()).toHaveProperty('access_token');
  });

  it.each<[SimFaultKind, number, string]>([
    ['html', 200, 'text/html; charset=utf-8'],
    ['http_502', 502, 'text/html'],
    ['malformed', 200, 'application/json; encoding=utf-8'],
  ])('%s answers HTTP %i with a body that is not JSON', async (kind, status, contentType) => {
    h.sim.injectFault(APP.appId, { kind, count: 1 });
    const res = await h.get(h.tokenPath());
    expect(res.status).toBe(status);
    expect(res.contentType).toBe(contentType);
    expect(() => JSON.parse(res.text)).toThrow(SyntaxError);
    expect((await h.get(h.tokenPath())).json()).toHaveProperty('access_token');
  });

  it('timeout never answers: the client’s own timeout fires, and the next call succeeds', async () => {
    h.sim.injectFault(APP.appId, { kind: 'timeout', count: 1 });
    const call = fetch(h.url + h.tokenPath(), { signal: AbortSignal.timeout(200) });
    await expect(call).rejects.toMatchObject({ name: 'TimeoutError' });
    expect((await h.get(h.tokenPath())).json()).toHaveProperty('access_token');
  });

  it('close() destroys a socket held by a timeout fault', async () => {
    h.sim.injectFault(APP.appId, { kind: 'timeout', count: 1 });
    const call = fetch(h.url + h.tokenPath());
    await expect.poll(() => h.sim.backend.calls().length).toBe(1);
    await h.sim.close();
    await expect(call).rejects.toThrow();
  });

  it('applies latencyMs before answering', async () => {
    h.sim.configureApp({ ...APP, latencyMs: 300 });
    const call = fetch(h.url + h.tokenPath(), { signal: AbortSignal.timeout(50) });
    await expect(call).rejects.toMatchObject({ name: 'TimeoutError' });
    // The slow answer still minted: a lost response is a real case for the refresher.
    expect(h.sim.backend.counters(APP.appId).tokenIssued).toBe(1);
  });
});
