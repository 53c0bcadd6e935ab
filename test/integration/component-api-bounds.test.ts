import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/shared/clock.js';
import { Secret } from '../../src/shared/secret.js';
import { ComponentApi } from '../../src/wechat/component-api.js';
import { HttpWeChatClient } from '../../src/wechat/http-wechat-client.js';
import { WeChatError } from '../../src/wechat/wechat-error.js';

/**
 * What an upstream (or anything on its path) can push on us through the component endpoints is
 * bounded: every credential is checked with a token's bounds before it is stored or served, a
 * list page holds at most 500 well-formed entries, and no error message carries a credential.
 * A loopback server answers each call with the body the test chose.
 */
let server: Server;
let reply: unknown = {};
let api: ComponentApi;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(typeof reply === 'string' ? reply : JSON.stringify(reply));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const http = new HttpWeChatClient({
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    timeoutMs: 2_000,
    clock: systemClock,
  });
  api = new ComponentApi((c, v) => http.call(c, v));
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function failure(call: () => Promise<unknown>): Promise<WeChatError> {
  try {
    await call();
  } catch (err) {
    expect(err).toBeInstanceOf(WeChatError);
    return err as WeChatError;
  }
  throw new Error('expected a WeChatError');
}

const SECRET = new Secret('component-secret-value');
const entry = (i: number) => ({
  authorizer_appid: `wx${i}`,
  refresh_token: `refreshtoken${i}`,
  auth_time: 1,
});

describe('component endpoints: bounds on what comes back', () => {
  it.each([
    [{ component_access_token: 'x'.repeat(2049), expires_in: 7200 }, 'longer than 2048'],
    [{ component_access_token: 'has space', expires_in: 7200 }, 'unexpected characters'],
    [{ component_access_token: 'ok', expires_in: -1 }, 'expires_in'],
    [{ expires_in: 7200 }, 'missing'],
  ])('component token %j is refused (%s)', async (body, says) => {
    reply = body;
    const err = await failure(() => api.componentToken('wxc', SECRET, 'verify-ticket-value'));
    expect(err.message).toContain(says);
    expect(err.kind).toBe('retryable');
  });

  it('an authorizer token without a well-formed refresh token is refused', async () => {
    reply = { authorizer_access_token: 'tok', expires_in: 7200, authorizer_refresh_token: '' };
    expect((await failure(() => api.authorizerToken('ct', 'wxc', 'wxa', 'rt'))).message).toContain(
      'authorizer_refresh_token',
    );
  });

  it('api_query_auth naming a malformed authorizer appid is refused', async () => {
    reply = {
      authorization_info: {
        authorizer_appid: '../etc',
        authorizer_access_token: 'tok',
        expires_in: 7200,
        authorizer_refresh_token: 'rt',
      },
    };
    expect((await failure(() => api.queryAuth('ct', 'wxc', 'code'))).message).toContain(
      'authorizer_appid',
    );
  });

  it('a list page over 500 entries, a bad entry or an absurd total is refused; a good page parses', async () => {
    reply = { total_count: 501, list: Array.from({ length: 501 }, (_, i) => entry(i)) };
    expect((await failure(() => api.authorizerList('ct', 'wxc', 0))).message).toContain(
      'longer than 500',
    );
    reply = { total_count: 1, list: [{ authorizer_appid: 'wx1', refresh_token: 7 }] };
    expect((await failure(() => api.authorizerList('ct', 'wxc', 0))).message).toContain(
      'refresh_token',
    );
    reply = { total_count: 1e12, list: [] };
    expect((await failure(() => api.authorizerList('ct', 'wxc', 0))).message).toContain(
      'total_count',
    );
    reply = { total_count: 2, list: [entry(1), entry(2)] };
    const page = await api.authorizerList('ct', 'wxc', 0);
    expect(page).toEqual({
      totalCount: 2,
      list: [
        { authorizerAppId: 'wx1', refreshToken: 'refreshtoken1', authTime: 1 },
        { authorizerAppId: 'wx2', refreshToken: 'refreshtoken2', authTime: 1 },
      ],
    });
  });

  it('a full page of 500 entries with real-sized refresh tokens (~70 KiB, over the 64 KiB default) is read; a body past the list cap is not', async () => {
    const rt = (i: number) => `refreshtoken@@@${String(i).padStart(90, 'x')}`;
    reply = {
      total_count: 500,
      list: Array.from({ length: 500 }, (_, i) => ({
        authorizer_appid: `wx${i}`,
        refresh_token: rt(i),
        auth_time: 1,
      })),
    };
    expect(JSON.stringify(reply).length).toBeGreaterThan(64 * 1024);
    expect((await api.authorizerList('ct', 'wxc', 0)).list).toHaveLength(500);
    reply = JSON.stringify({ total_count: 1, list: [], pad: 'x'.repeat(2_000_000) });
    expect((await failure(() => api.authorizerList('ct', 'wxc', 0))).message).toMatch(
      /reply body over \d+ bytes/,
    );
  });

  it('errcodes map to their kinds and messages never carry the secret, ticket or tokens', async () => {
    reply = {
      errcode: 61005,
      errmsg: 'verify ticket expired component-secret-value verify-ticket-value',
    };
    const err = await failure(() => api.componentToken('wxc', SECRET, 'verify-ticket-value'));
    expect(err.errcode).toBe(61005);
    expect(err.kind).toBe('config');
    expect(err.message).not.toContain('component-secret-value');
    expect(err.message).not.toContain('verify-ticket-value');
    reply = { errcode: 61023, errmsg: 'invalid refresh token the-refresh-token' };
    const rt = await failure(() => api.authorizerToken('ct', 'wxc', 'wxa', 'the-refresh-token'));
    expect(rt.kind).toBe('config');
    expect(rt.message).not.toContain('the-refresh-token');
  });
});
