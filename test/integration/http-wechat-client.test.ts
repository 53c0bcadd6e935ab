import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../src/shared/clock.js';
import { Secret } from '../../src/shared/secret.js';
import {
  HttpWeChatClient,
  type UpstreamEvent,
  type UpstreamObserver,
} from '../../src/wechat/http-wechat-client.js';
import { sessionSignature } from '../../src/login/wechat-crypto.js';
import { redact } from '../../src/wechat/redact-url.js';
import { WeChatSimulator } from '../../src/sim/wechat-simulator.js';
import type { SimFaultKind, SimIssuedPhoneCode } from '../../src/sim/wechat-simulator.js';
import { FakeClock } from '../support/fake-clock.js';
import {
  isTokenInvalid,
  loginErrorKind,
  WeChatError,
  type LoginErrorKind,
  type WeChatErrorKind,
} from '../../src/wechat/wechat-error.js';

/**
 * HttpWeChatClient against a small real HTTP server answering canned bodies. The full
 * simulator (src/sim) is tested elsewhere; here only the client's wire behaviour matters.
 */

const APP_ID = 'wxdemo0000000001';
const SECRET = 'c0ffee00c0ffee00c0ffee00c0ffee00';
const TOKEN = '86_' + 'tOkEnVaLuE0123456789_-'.repeat(6);
const APP = { appId: APP_ID, secret: new Secret(SECRET) };
const T0 = Date.UTC(2026, 10, 25, 4, 0, 0);
/** Login credentials: like the secret and the token, never in a message or an event. */
const JS_CODE = '0c3Xq8Ga1Yk2pR9Lm4Tz0Wb7Nd6Vh5Jx';
const SESSION_KEY = 'HyVFkGl5F5OQWJZZaNzBBg==';
const NEW_SESSION_KEY = 'tiihtNczf5v6AKRyjwEUhQ==';
const SIGNATURE = sessionSignature(SESSION_KEY);
const OPENID = 'oGZUI0egBJY1zhBYw2KhdUfwVJJE';
const UNIONID = 'ocMvos6NjeKLIBqg5Mr9QjxrP1FA';
const CREDENTIALS = [SECRET, TOKEN, JS_CODE, SESSION_KEY, NEW_SESSION_KEY, SIGNATURE];

interface Recorded {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: string;
}
type Handler = (req: Recorded, res: ServerResponse) => void;

let server: Server;
let baseUrl: string;
let handler: Handler;
let requests: Recorded[];
const timers = new Set<NodeJS.Timeout>();

/** Every message and observer event produced by any test, checked for leaks at the end. */
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: Recorded = {
        method: req.method ?? '',
        url: new URL(req.url ?? '/', 'http://localhost'),
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(rec);
      handler(rec, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  // Invariant 8: no message or metrics event, in any test, carried a credential.
  expect(seen.length).toBeGreaterThan(20);
  for (const text of seen) {
    for (const credential of CREDENTIALS) {
      expect(text).not.toContain(credential);
      expect(text).not.toContain(credential.slice(0, 12));
    }
  }
});

beforeEach(() => {
  requests = [];
  handler = (_req, res) => reply(res, 200, '{"errcode":-1,"errmsg":"no handler"}');
});

afterEach(() => {
  for (const t of timers) clearTimeout(t);
  timers.clear();
});

function reply(res: ServerResponse, status: number, body: string, type = 'text/plain'): void {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
}

function later(ms: number, fn: () => void): void {
  const t = setTimeout(() => {
    timers.delete(t);
    fn();
  }, ms);
  timers.add(t);
}

/** A clock whose time the server handler moves, to prove sentAt is taken before sending. */
function steppedClock(): Clock & { t: number } {
  const clock = { ...systemClock, t: T0, now: () => clock.t };
  return clock;
}

function makeClient(opts: { timeoutMs?: number; url?: string; clock?: Clock } = {}) {
  const events: UpstreamEvent[] = [];
  const observer: UpstreamObserver = {
    onResponse: (e) => {
      events.push(e);
      seen.push(JSON.stringify(e));
    },
  };
  const client = new HttpWeChatClient({
    baseUrl: opts.url ?? baseUrl,
    timeoutMs: opts.timeoutMs ?? 2000,
    clock: opts.clock ?? steppedClock(),
    observer,
  });
  return { client, events };
}

async function failure(promise: Promise<unknown>): Promise<WeChatError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(WeChatError);
    const wx = err as WeChatError;
    seen.push(wx.message, String(wx.cause), inspect(wx, { depth: 5 }));
    return wx;
  }
  throw new Error('expected a WeChatError');
}

describe('getToken (classic)', () => {
  it('GETs /cgi-bin/token and returns the token with sentAt from the injected clock', async () => {
    const clock = steppedClock();
    handler = (_req, res) => {
      clock.t += 5_000; // the response "arrives" 5 s after sending
      reply(res, 200, JSON.stringify({ access_token: TOKEN, expires_in: 7200 }));
    };
    const { client, events } = makeClient({ clock });
    const token = await client.getToken(APP);

    expect(token).toEqual({ accessToken: TOKEN, expiresInSeconds: 7200, sentAt: T0 });
    // expires_at = sentAt + expires_in, based on when the request was SENT
    expect(token.sentAt + token.expiresInSeconds * 1000).toBe(T0 + 7_200_000);
    expect(requests).toHaveLength(1);
    const req = requests[0]!;
    expect(req.method).toBe('GET');
    expect(req.url.pathname).toBe('/cgi-bin/token');
    expect(Object.fromEntries(req.url.searchParams)).toEqual({
      grant_type: 'client_credential',
      appid: APP_ID,
      secret: SECRET,
    });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ endpoint: 'token', appId: APP_ID, errcode: 0 });
    expect(events[0]?.kind).toBeUndefined();
    expect(events[0]?.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('honours whatever expires_in WeChat returns, fractions included', async () => {
    handler = (_req, res) =>
      reply(res, 200, JSON.stringify({ access_token: TOKEN, expires_in: 2.5 }));
    const { client } = makeClient();
    expect((await client.getToken(APP)).expiresInSeconds).toBe(2.5);
  });

  it('ignores the Content-Type (WeChat sends odd ones)', async () => {
    handler = (_req, res) =>
      reply(res, 200, `{"access_token":"${TOKEN}","expires_in":7200}`, 'text/html; charset=gbk');
    const { client } = makeClient();
    expect((await client.getToken(APP)).accessToken).toBe(TOKEN);
  });
});

describe('errcode bodies become WeChatError with the right kind', () => {
  const cases: Array<[number, WeChatErrorKind, string]> = [
    [-1, 'retryable', 'system error'],
    [45011, 'retryable', 'api minute-quota reach limit mustslower retry next minute'],
    [45009, 'quota', 'reach max api daily quota limit'],
    [40013, 'config', 'invalid appid'],
    [40125, 'config', 'invalid appsecret'],
    [40164, 'config', 'invalid ip 10.0.0.1 ipv6 ::ffff:10.0.0.1, not in whitelist'],
    [89503, 'config', 'waiting for admin confirmation'],
    [40001, 'token_invalid', 'invalid credential, access_token is invalid or not latest'],
    [48001, 'unknown', 'api unauthorized'],
  ];

  it.each(cases)('errcode %i → %s', async (errcode, kind, text) => {
    const errmsg = `${text} rid: 652d44d0-1d0af18b-5b069232`;
    handler = (_req, res) =>
      reply(res, 200, JSON.stringify({ errcode, errmsg }), 'application/json; encoding=utf-8');
    const { client, events } = makeClient();
    for (const call of [() => client.getToken(APP), () => client.getStableToken(APP, false)]) {
      const err = await failure(call());
      expect(err.errcode).toBe(errcode);
      expect(err.kind).toBe(kind);
      expect(err.errmsg).toBe(errmsg);
    }
    expect(events.map((e) => [e.endpoint, e.errcode, e.kind])).toEqual([
      ['token', errcode, kind],
      ['stable_token', errcode, kind],
    ]);
  });

  it('scrubs a credential that an upstream errmsg echoes', async () => {
    handler = (req, res) =>
      reply(res, 200, JSON.stringify({ errcode: 40125, errmsg: `bad secret ${req.url.search}` }));
    const { client } = makeClient();
    const err = await failure(client.getToken(APP));
    expect(err.errmsg).toContain('secret=[REDACTED]');
  });
});

describe('transport failures are retryable WeChatErrors with errcode null', () => {
  it('HTML body → non-JSON body, described by length and a short head', async () => {
    handler = (req, res) =>
      reply(res, 200, `<html><body>Bad request ${req.url.pathname}${req.url.search}</body></html>`);
    const { client, events } = makeClient();
    const err = await failure(client.getToken(APP));
    expect(err.errcode).toBeNull();
    expect(err.kind).toBe('retryable');
    expect(err.message).toMatch(/^WeChat token: non-JSON body \(\d+ bytes, starts with "<html>/);
    expect(err.message.length).toBeLessThan(120);
    expect(events[0]).toMatchObject({ endpoint: 'token', errcode: null, kind: 'retryable' });
  });

  it.each([
    ['[]', 'non-JSON body (not a JSON object)'],
    ['"text"', 'non-JSON body (not a JSON object)'],
    ['', 'non-JSON body (0 bytes)'],
  ])('JSON that is not an object (%s)', async (body, message) => {
    handler = (_req, res) => reply(res, 200, body);
    const { client } = makeClient();
    expect((await failure(client.getToken(APP))).errmsg).toBe(message);
  });

  it.each([502, 503, 404, 302])('HTTP %i', async (status) => {
    handler = (req, res) => {
      res.writeHead(status, { location: `http://evil.test/${req.url.search}` });
      res.end(`<html>${status} ${req.url.search}</html>`);
    };
    const { client, events } = makeClient();
    const err = await failure(client.getToken(APP));
    expect(err.message).toBe(`WeChat token: HTTP ${status}`);
    expect(err.kind).toBe('retryable');
    expect(requests).toHaveLength(1); // a redirect is never followed with the secret
    expect(events[0]).toMatchObject({ errcode: null, kind: 'retryable' });
  });

  // Bound what the upstream controls: a 600 MiB body crashed the process before the cap.
  it.each([
    ['declared in Content-Length', true],
    ['chunked, no length', false],
  ])(
    'a reply body over 64 KiB (%s) → not read, retryable, the connection dropped',
    async (_name, declared) => {
      const body = `{"access_token":"${'A'.repeat(200 * 1024)}","expires_in":7200}`;
      let written = 0;
      handler = (_req, res) => {
        res.writeHead(200, {
          'content-type': 'application/json',
          ...(declared ? { 'content-length': Buffer.byteLength(body) } : {}),
        });
        // In 16 KiB pieces, so an undeclared body is cut while it streams.
        const step = (): void => {
          if (written >= body.length || res.destroyed) return void res.end();
          const piece = body.slice(written, written + 16 * 1024);
          written += piece.length;
          if (res.write(piece)) setImmediate(step);
          else res.once('drain', step);
        };
        step();
      };
      const { client, events } = makeClient();
      const err = await failure(client.getToken(APP));
      expect(err.message).toBe('WeChat token: reply body over 65536 bytes; not read');
      expect(err.kind).toBe('retryable');
      expect(events[0]).toMatchObject({ endpoint: 'token', errcode: null, kind: 'retryable' });
      // The same client still works: the next good reply is read.
      handler = (_req, res) =>
        reply(res, 200, JSON.stringify({ access_token: TOKEN, expires_in: 7200 }));
      expect((await client.getToken(APP)).accessToken).toBe(TOKEN);
    },
  );

  it.each([
    ['access_token of 2,049 characters', 'access_token longer than 2048 characters', 2049],
    ['access_token of 2,048 characters', undefined, 2048],
  ])('%s', async (_name, problem, length) => {
    const long = 'T'.repeat(length);
    handler = (_req, res) =>
      reply(res, 200, JSON.stringify({ access_token: long, expires_in: 7200 }));
    const { client } = makeClient();
    if (problem) {
      const err = await failure(client.getToken(APP));
      expect(err.errmsg).toBe(`malformed success body: ${problem}`);
      expect(err.kind).toBe('retryable');
    } else {
      expect((await client.getToken(APP)).accessToken).toBe(long);
    }
  });

  it('no response within timeoutMs → timeout', async () => {
    handler = (_req, res) => later(1000, () => reply(res, 200, '{"errcode":-1}'));
    const { client, events } = makeClient({ timeoutMs: 200 });
    const started = Date.now();
    const err = await failure(client.getToken(APP));
    expect(err.message).toBe('WeChat token: timeout after 200ms');
    expect(err.kind).toBe('retryable');
    expect(Date.now() - started).toBeLessThan(900);
    expect(events[0]).toMatchObject({ endpoint: 'token', errcode: null, kind: 'retryable' });
  });

  it('a body that stalls past timeoutMs → timeout', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"access_token":');
      later(1000, () => res.end(`"${TOKEN}","expires_in":7200}`));
    };
    const { client } = makeClient({ timeoutMs: 200 });
    const err = await failure(client.getStableToken(APP, false));
    expect(err.message).toBe('WeChat stable_token: timeout after 200ms');
  });

  it('connection refused → request failed, with a redacted cause', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { client, events } = makeClient({ url: `http://127.0.0.1:${port}` });
    const err = await failure(client.getToken(APP));
    expect(err.message).toMatch(/^WeChat token: request failed: .*ECONNREFUSED/);
    expect((err.cause as { code?: string }).code).toBe('ECONNREFUSED');
    expect(events[0]).toMatchObject({ errcode: null, kind: 'retryable' });
  });

  it('an unusable base URL (undici quotes the URL with the secret) → redacted', async () => {
    const { client } = makeClient({ url: 'http://127.0.0.1:99999' });
    const err = await failure(client.getToken(APP));
    expect(err.kind).toBe('retryable');
    expect(err.message).toMatch(/^WeChat token: request failed: /);
  });

  it.each([
    ['no access_token', { expires_in: 7200 }],
    ['empty access_token', { access_token: '', expires_in: 7200 }],
    ['access_token not a string', { access_token: 12, expires_in: 7200 }],
    ['access_token with spaces', { access_token: 'a b', expires_in: 7200 }],
    ['no expires_in', { access_token: TOKEN }],
    ['expires_in 0', { access_token: TOKEN, expires_in: 0 }],
    ['expires_in negative', { access_token: TOKEN, expires_in: -5 }],
    ['expires_in a string', { access_token: TOKEN, expires_in: '7200' }],
    ['expires_in null', { access_token: TOKEN, expires_in: null }],
    ['expires_in huge (1e999 → Infinity)', '{"access_token":"x","expires_in":1e999}'],
  ])('malformed success body: %s', async (_name, body) => {
    handler = (_req, res) =>
      reply(res, 200, typeof body === 'string' ? body : JSON.stringify(body));
    const { client, events } = makeClient();
    const err = await failure(client.getToken(APP));
    expect(err.errcode).toBeNull();
    expect(err.kind).toBe('retryable');
    expect(err.message).toMatch(/^WeChat token: malformed success body: /);
    expect(events[0]).toMatchObject({ errcode: null, kind: 'retryable' });
  });

  it('an observer that throws does not change the outcome', async () => {
    handler = (_req, res) =>
      reply(res, 200, JSON.stringify({ access_token: TOKEN, expires_in: 60 }));
    const client = new HttpWeChatClient({
      baseUrl,
      timeoutMs: 2000,
      clock: systemClock,
      observer: {
        onResponse: () => {
          throw new Error('metrics broke');
        },
      },
    });
    expect((await client.getToken(APP)).accessToken).toBe(TOKEN);
  });
});

describe('getStableToken', () => {
  it.each([false, true])('POSTs the JSON body with force_refresh=%s', async (force) => {
    const clock = steppedClock();
    handler = (_req, res) => {
      clock.t += 1234;
      reply(res, 200, JSON.stringify({ access_token: TOKEN, expires_in: 345 }));
    };
    const { client, events } = makeClient({ clock });
    const token = await client.getStableToken(APP, force);

    expect(token).toEqual({ accessToken: TOKEN, expiresInSeconds: 345, sentAt: T0 });
    const req = requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.url.pathname).toBe('/cgi-bin/stable_token');
    expect(req.url.search).toBe('');
    expect(req.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req.body)).toStrictEqual({
      grant_type: 'client_credential',
      appid: APP_ID,
      secret: SECRET,
      force_refresh: force,
    });
    expect(events[0]).toMatchObject({ endpoint: 'stable_token', appId: APP_ID, errcode: 0 });
  });
});

describe('checkToken', () => {
  it('GETs get_api_domain_ip with the token and resolves true on ip_list', async () => {
    handler = (_req, res) => reply(res, 200, JSON.stringify({ ip_list: ['101.89.47.18'] }));
    const { client, events } = makeClient();
    expect(await client.checkToken(TOKEN)).toBe(true);
    const req = requests[0]!;
    expect(req.method).toBe('GET');
    expect(req.url.pathname).toBe('/cgi-bin/get_api_domain_ip');
    expect(req.url.searchParams.get('access_token')).toBe(TOKEN);
    expect(events).toEqual([
      { endpoint: 'get_api_domain_ip', durationMs: expect.any(Number), errcode: 0 },
    ]);
  });

  it.each([40001, 40014, 42001])('resolves false on %i', async (errcode) => {
    handler = (_req, res) => reply(res, 200, JSON.stringify({ errcode, errmsg: 'x rid: 1' }));
    const { client, events } = makeClient();
    expect(await client.checkToken(TOKEN)).toBe(false);
    expect(events[0]).toMatchObject({ errcode, kind: 'token_invalid' });
  });

  it.each([
    ['-1 busy', JSON.stringify({ errcode: -1, errmsg: 'system error' }), -1],
    ['40013', JSON.stringify({ errcode: 40013, errmsg: 'invalid appid' }), 40013],
    ['45009', JSON.stringify({ errcode: 45009, errmsg: 'quota' }), 45009],
    ['no ip_list', JSON.stringify({ foo: 1 }), null],
    ['HTML', '<html>oops</html>', null],
  ])('throws on %s', async (_name, body, errcode) => {
    handler = (_req, res) => reply(res, 200, body);
    const { client } = makeClient();
    const err = await failure(client.checkToken(TOKEN));
    expect(err.endpoint).toBe('get_api_domain_ip');
    expect(err.errcode).toBe(errcode);
  });

  it('throws a timeout like the token calls', async () => {
    handler = (_req, res) => later(1000, () => reply(res, 200, '{"ip_list":[]}'));
    const { client } = makeClient({ timeoutMs: 200 });
    expect((await failure(client.checkToken(TOKEN))).message).toBe(
      'WeChat get_api_domain_ip: timeout after 200ms',
    );
  });

  it('never echoes the token, even when the upstream does', async () => {
    handler = (req, res) => reply(res, 200, `<pre>${req.url.search} ${TOKEN}</pre>`);
    const { client } = makeClient();
    const err = await failure(client.checkToken(TOKEN));
    expect(err.message).not.toContain(TOKEN.slice(0, 8));
  });
});

/** The query of the last request, as an object. */
function lastQuery(): Record<string, string> {
  return Object.fromEntries(requests.at(-1)!.url.searchParams);
}

describe('code2Session', () => {
  it('GETs /sns/jscode2session and parses a text/plain reply (with unionid)', async () => {
    handler = (_req, res) =>
      reply(
        res,
        200,
        JSON.stringify({ session_key: SESSION_KEY, openid: OPENID, unionid: UNIONID }),
        'text/plain',
      );
    const { client, events } = makeClient();
    const session = await client.code2Session(APP, JS_CODE);

    expect(session.openid).toBe(OPENID);
    expect(session.unionid).toBe(UNIONID);
    expect(session.sessionKey.reveal()).toBe(SESSION_KEY);
    expect(inspect(session)).not.toContain(SESSION_KEY);
    expect(JSON.stringify(session)).not.toContain(SESSION_KEY);
    const req = requests[0]!;
    expect(req.method).toBe('GET');
    expect(req.url.pathname).toBe('/sns/jscode2session');
    expect(lastQuery()).toEqual({
      appid: APP_ID,
      secret: SECRET,
      js_code: JS_CODE,
      grant_type: 'authorization_code',
    });
    expect(events).toEqual([
      { endpoint: 'jscode2session', appId: APP_ID, durationMs: expect.any(Number), errcode: 0 },
    ]);
  });

  it.each([
    ['no unionid', { openid: OPENID, session_key: SESSION_KEY }],
    ['an empty unionid', { openid: OPENID, session_key: SESSION_KEY, unionid: '' }],
    [
      'errcode 0 and expires_in',
      { openid: OPENID, session_key: SESSION_KEY, errcode: 0, expires_in: 7200 },
    ],
  ])('succeeds with %s, leaving unionid out', async (_name, body) => {
    handler = (_req, res) => reply(res, 200, JSON.stringify(body), 'application/json');
    const { client } = makeClient();
    const session = await client.code2Session(APP, JS_CODE);
    expect(session.openid).toBe(OPENID);
    expect('unionid' in session).toBe(false);
  });

  const errcodes: Array<[number, WeChatErrorKind, LoginErrorKind | undefined, string]> = [
    [40029, 'unknown', 'invalid_code', 'invalid code'],
    [40163, 'unknown', 'code_used', 'code been used'],
    [40226, 'unknown', 'blocked', 'code blocked'],
    [
      45011,
      'retryable',
      'rate_limited',
      'api minute-quota reach limit mustslower retry next minute',
    ],
    [-1, 'retryable', undefined, 'system error'],
    [40125, 'config', undefined, 'invalid appsecret'],
  ];

  it.each(errcodes)(
    'errcode %i → %s / %s, the code scrubbed',
    async (errcode, kind, login, text) => {
      // The upstream echoes the request (code and secret) into errmsg: both must be scrubbed.
      handler = (req, res) =>
        reply(
          res,
          200,
          JSON.stringify({ errcode, errmsg: `${text} ${JS_CODE} ${req.url.search}` }),
        );
      const { client, events } = makeClient();
      const err = await failure(client.code2Session(APP, JS_CODE));
      expect(err.endpoint).toBe('jscode2session');
      expect(err.errcode).toBe(errcode);
      expect(err.kind).toBe(kind);
      expect(loginErrorKind(err.errcode)).toBe(login);
      expect(err.errmsg).toContain('js_code=[REDACTED]');
      expect(err.errmsg).not.toContain(JS_CODE);
      expect(events).toEqual([
        {
          endpoint: 'jscode2session',
          appId: APP_ID,
          durationMs: expect.any(Number),
          errcode,
          kind,
        },
      ]);
    },
  );

  it.each([
    ['no openid', { session_key: SESSION_KEY }, 'openid missing or empty'],
    ['empty openid', { openid: '', session_key: SESSION_KEY }, 'openid missing or empty'],
    ['no session_key', { openid: OPENID }, 'session_key missing or empty'],
    ['session_key null', { openid: OPENID, session_key: null }, 'session_key missing or empty'],
    [
      'session_key with spaces',
      { openid: OPENID, session_key: `${SESSION_KEY} x` },
      'session_key has unexpected characters',
    ],
    [
      'unionid a number',
      { openid: OPENID, session_key: SESSION_KEY, unionid: 7 },
      'unionid is not a string',
    ],
  ])('malformed success body: %s', async (_name, body, problem) => {
    handler = (_req, res) => reply(res, 200, JSON.stringify(body));
    const { client, events } = makeClient();
    const err = await failure(client.code2Session(APP, JS_CODE));
    expect(err.errcode).toBeNull();
    expect(err.kind).toBe('retryable');
    expect(err.message).toBe(`WeChat jscode2session: malformed success body: ${problem}`);
    expect(events[0]).toMatchObject({ endpoint: 'jscode2session', errcode: null });
  });

  it.each([
    ['JSON cut short', `{"session_key":"${SESSION_KEY}","openid":"${OPENID}`],
    ['JSON with spaces, cut', `{ "session_key" : "${SESSION_KEY}" ,`],
    ['an HTML page quoting it', `<pre>session_key: ${SESSION_KEY}</pre>`],
  ])('a non-JSON body carrying a session_key never shows it (%s)', async (_name, body) => {
    handler = (_req, res) => reply(res, 200, body);
    const { client } = makeClient();
    const err = await failure(client.code2Session(APP, JS_CODE));
    expect(err.message).toMatch(/^WeChat jscode2session: non-JSON body \(\d+ bytes, starts with /);
    expect(err.message).toContain('[REDACTED]');
    expect(err.message).not.toContain(SESSION_KEY.slice(0, 4));
  });

  it('an errcode body that carries a session_key has it scrubbed from errmsg', async () => {
    handler = (_req, res) =>
      reply(
        res,
        200,
        JSON.stringify({
          errcode: -1,
          errmsg: `busy for ${SESSION_KEY}`,
          session_key: SESSION_KEY,
        }),
      );
    const { client } = makeClient();
    const err = await failure(client.code2Session(APP, JS_CODE));
    expect(err.errmsg).toBe('busy for [REDACTED]');
  });

  it('a refused connection names neither the code nor the secret', async () => {
    const { client } = makeClient({ url: 'http://127.0.0.1:99999' });
    const err = await failure(client.code2Session(APP, JS_CODE));
    expect(err.message).toMatch(/^WeChat jscode2session: request failed: /);
  });
});

describe('checkSessionKey', () => {
  it('GETs /wxa/checksession with the hmac_sha256 signature and resolves true on errcode 0', async () => {
    handler = (_req, res) => reply(res, 200, '{"errcode":0,"errmsg":"ok"}', 'text/plain');
    const { client, events } = makeClient();
    expect(await client.checkSessionKey(TOKEN, OPENID, SIGNATURE)).toBe(true);
    const req = requests[0]!;
    expect(req.method).toBe('GET');
    expect(req.url.pathname).toBe('/wxa/checksession');
    expect(lastQuery()).toEqual({
      access_token: TOKEN,
      openid: OPENID,
      signature: SIGNATURE,
      sig_method: 'hmac_sha256',
    });
    expect(events).toEqual([
      { endpoint: 'checksession', durationMs: expect.any(Number), errcode: 0 },
    ]);
  });

  it('resolves false on 87009 (stale, replaced or wrong key), reported as errcode 87009', async () => {
    handler = (_req, res) =>
      reply(res, 200, '{"errcode":87009,"errmsg":"invalid signature rid: 1-2-3"}');
    const { client, events } = makeClient();
    expect(await client.checkSessionKey(TOKEN, OPENID, SIGNATURE)).toBe(false);
    expect(events).toEqual([
      { endpoint: 'checksession', durationMs: expect.any(Number), errcode: 87009, kind: 'unknown' },
    ]);
  });

  it.each<[string, string, number | null, WeChatErrorKind]>([
    ['40001 (token)', '{"errcode":40001,"errmsg":"invalid credential"}', 40001, 'token_invalid'],
    ['42001 (token)', '{"errcode":42001,"errmsg":"access_token expired"}', 42001, 'token_invalid'],
    [
      '87007',
      '{"errcode":87007,"errmsg":"session_key is not existd or expired"}',
      87007,
      'unknown',
    ],
    ['87008', '{"errcode":87008,"errmsg":"invalid sig_method"}', 87008, 'unknown'],
    ['-1', '{"errcode":-1,"errmsg":"system error"}', -1, 'retryable'],
    ['errcode as a string', '{"errcode":"45011","errmsg":"slow down"}', 45011, 'retryable'],
    ['no errcode', '{"errmsg":"ok"}', null, 'retryable'],
    ['HTML', '<html>502</html>', null, 'retryable'],
  ])('throws on %s', async (_name, body, errcode, kind) => {
    handler = (_req, res) => reply(res, 200, body);
    const { client, events } = makeClient();
    const err = await failure(client.checkSessionKey(TOKEN, OPENID, SIGNATURE));
    expect(err.endpoint).toBe('checksession');
    expect(err.errcode).toBe(errcode);
    expect(err.kind).toBe(kind);
    expect(events[0]).toMatchObject({ endpoint: 'checksession', errcode, kind });
  });

  it('never echoes the token or the signature, even when the upstream does', async () => {
    for (const body of [
      (q: string) => JSON.stringify({ errcode: 40097, errmsg: `invalid args ${q} ${SIGNATURE}` }),
      (q: string) => `<pre>${q}\n${SIGNATURE} ${TOKEN}</pre>`,
      (q: string) => `{"signature":"${SIGNATURE}","access_token":"${TOKEN}" ${q}`,
    ]) {
      handler = (req, res) => reply(res, 200, body(req.url.search));
      const { client } = makeClient();
      const err = await failure(client.checkSessionKey(TOKEN, OPENID, SIGNATURE));
      expect(err.message).not.toContain(SIGNATURE.slice(0, 8));
      expect(err.message).not.toContain(TOKEN.slice(0, 8));
    }
  });
});

describe('resetSessionKey', () => {
  it('GETs /wxa/resetusersessionkey and returns the new key as a Secret', async () => {
    handler = (_req, res) =>
      reply(
        res,
        200,
        JSON.stringify({ errcode: 0, errmsg: 'ok', openid: OPENID, session_key: NEW_SESSION_KEY }),
        'text/plain',
      );
    const { client, events } = makeClient();
    const reset = await client.resetSessionKey(TOKEN, OPENID, SIGNATURE);
    expect(reset.openid).toBe(OPENID);
    expect(reset.sessionKey.reveal()).toBe(NEW_SESSION_KEY);
    expect(inspect(reset)).not.toContain(NEW_SESSION_KEY);
    expect(requests[0]!.url.pathname).toBe('/wxa/resetusersessionkey');
    expect(lastQuery()).toEqual({
      access_token: TOKEN,
      openid: OPENID,
      signature: SIGNATURE,
      sig_method: 'hmac_sha256',
    });
    expect(events).toEqual([
      { endpoint: 'resetusersessionkey', durationMs: expect.any(Number), errcode: 0 },
    ]);
  });

  it('keeps the new key when the reply leaves out openid (the old key is already dead)', async () => {
    handler = (_req, res) =>
      reply(res, 200, JSON.stringify({ errcode: 0, errmsg: 'ok', session_key: NEW_SESSION_KEY }));
    const { client } = makeClient();
    const reset = await client.resetSessionKey(TOKEN, OPENID, SIGNATURE);
    expect(reset.openid).toBe(OPENID);
    expect(reset.sessionKey.reveal()).toBe(NEW_SESSION_KEY);
  });

  it.each([
    [
      'no session_key',
      { errcode: 0, errmsg: 'ok', openid: OPENID },
      'session_key missing or empty',
    ],
    [
      'another openid',
      { errcode: 0, openid: 'oOTHER', session_key: NEW_SESSION_KEY },
      'openid is not the one asked for',
    ],
  ])('malformed success body: %s', async (_name, body, problem) => {
    handler = (_req, res) => reply(res, 200, JSON.stringify(body));
    const { client } = makeClient();
    const err = await failure(client.resetSessionKey(TOKEN, OPENID, SIGNATURE));
    expect(err.message).toBe(`WeChat resetusersessionkey: malformed success body: ${problem}`);
  });

  it.each<[number, WeChatErrorKind, LoginErrorKind | undefined]>([
    [87009, 'unknown', 'invalid_signature'],
    [87007, 'unknown', 'session_gone'],
    [87008, 'unknown', undefined],
    [40097, 'unknown', undefined],
    [45011, 'retryable', 'rate_limited'],
    [-1, 'retryable', undefined],
    [40001, 'token_invalid', undefined],
  ])('errcode %i → throws (%s / %s)', async (errcode, kind, login) => {
    handler = (req, res) =>
      reply(res, 200, JSON.stringify({ errcode, errmsg: `no ${req.url.search}` }));
    const { client, events } = makeClient();
    const err = await failure(client.resetSessionKey(TOKEN, OPENID, SIGNATURE));
    expect(err.endpoint).toBe('resetusersessionkey');
    expect(err.kind).toBe(kind);
    expect(loginErrorKind(err.errcode)).toBe(login);
    expect(err.errmsg).toContain('signature=[REDACTED]');
    expect(events[0]).toMatchObject({ endpoint: 'resetusersessionkey', errcode, kind });
  });
});

/**
 * The three token-taking calls against the real simulator over HTTP: its tickets, phone codes
 * and payments, its token verdicts and its faults, so client and simulator agree on the wire.
 */
describe('getTicket, getPhoneNumber, getPaidUnionId against the simulator', () => {
  const SIM_APP = { appId: 'wxsimclient00001', secret: 'sim-client-secret' };
  const PHONE = '13800138000';
  const simClock = new FakeClock();
  let sim: WeChatSimulator;
  let simUrl: string;
  /** Everything the simulator issued in these tests, checked against every message below. */
  const issued: string[] = [];
  const messages: string[] = [];

  beforeEach(async () => {
    sim = new WeChatSimulator({ clock: simClock, apps: [SIM_APP] });
    simUrl = (await sim.listen('127.0.0.1:0')).url;
  });

  afterEach(async () => {
    await sim.close();
  });

  afterAll(() => {
    // Invariant 8: no error or event carried a token, ticket, phone code or phone number.
    expect(messages.length).toBeGreaterThan(10);
    for (const text of messages) {
      for (const value of [...issued, PHONE]) expect(text).not.toContain(value);
    }
  });

  async function control<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${simUrl}/__sim/apps/${SIM_APP.appId}/${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    expect(res.status, `${method} ${path}`).toBe(200);
    return (await res.json()) as T;
  }

  function simClient(): ReturnType<typeof makeClient> {
    const made = makeClient({ url: simUrl });
    return made;
  }

  async function token(): Promise<string> {
    const app = { appId: SIM_APP.appId, secret: new Secret(SIM_APP.secret) };
    const { accessToken } = await simClient().client.getToken(app);
    issued.push(accessToken);
    return accessToken;
  }

  /** A token WeChat no longer takes: another system rotated and ended the overlap. */
  async function supersededToken(): Promise<string> {
    const t = await token();
    await control('POST', 'rotate', { endOverlap: true });
    return t;
  }

  async function rejected(promise: Promise<unknown>): Promise<WeChatError> {
    const err = await failure(promise);
    messages.push(err.message, String(err.cause), inspect(err, { depth: 5 }));
    return err;
  }

  async function fault(kind: SimFaultKind, endpoint: string): Promise<void> {
    await control('POST', 'faults', { kind, count: 1, endpoints: [endpoint] });
  }

  describe('getTicket', () => {
    it('returns a live, newest ticket with expires_in and sentAt from the injected clock', async () => {
      const t = await token();
      const { client, events } = simClient();
      const fetched = await client.getTicket(t, 'jsapi');
      issued.push(fetched.ticket);
      expect(fetched).toEqual({
        ticket: expect.stringMatching(/^[A-Za-z0-9_-]{86}$/),
        expiresInSeconds: 7200,
        sentAt: T0,
      });
      const verdict = await control('POST', 'tickets/jsapi/check', { ticket: fetched.ticket });
      expect(verdict).toMatchObject({ alive: true, newest: true });
      const card = await client.getTicket(t, 'wx_card');
      issued.push(card.ticket);
      expect(await control('GET', 'tickets/wx_card/newest')).toMatchObject({ ticket: card.ticket });
      expect(events.map((e) => [e.endpoint, e.errcode])).toEqual([
        ['getticket', 0],
        ['getticket', 0],
      ]);
      messages.push(...events.map((e) => JSON.stringify(e)));
    });

    it('honours a fractional ticket lifetime', async () => {
      sim.configureApp({ ...SIM_APP, ticketLifetimeSeconds: 1.5 });
      const fetched = await simClient().client.getTicket(await token(), 'jsapi');
      issued.push(fetched.ticket);
      expect(fetched.expiresInSeconds).toBe(1.5);
    });

    it.each([
      ['superseded', 40001],
      ['expired', 42001],
    ] as const)(
      'a %s token → token_invalid (errcode %i), counted as a dead-token call',
      async (how, errcode) => {
        const t = how === 'superseded' ? await supersededToken() : await token();
        if (how === 'expired') await simClock.advance(7_200_000);
        const { client, events } = simClient();
        const err = await rejected(client.getTicket(t, 'jsapi'));
        expect(err).toMatchObject({ endpoint: 'getticket', errcode, kind: 'token_invalid' });
        expect(isTokenInvalid(err)).toBe(true);
        expect(events[0]).toMatchObject({ endpoint: 'getticket', errcode, kind: 'token_invalid' });
        const counters = await control('GET', 'tickets/jsapi/counters');
        expect(counters).toMatchObject({ calls: 1, accepted: 0, rejectedDeadToken: 1 });
      },
    );

    it.each<[SimFaultKind, RegExp]>([
      [
        'long_token',
        /^WeChat getticket: malformed success body: ticket longer than 2048 characters$/,
      ],
      ['huge_body', /^WeChat getticket: reply body over 65536 bytes; not read$/],
      ['malformed', /^WeChat getticket: non-JSON body \(\d+ bytes, starts with /],
      ['html', /^WeChat getticket: non-JSON body/],
    ])('%s → a retryable transport error that names no ticket', async (kind, message) => {
      const t = await token();
      await fault(kind, 'getticket');
      const err = await rejected(simClient().client.getTicket(t, 'jsapi'));
      expect(err.errcode).toBeNull();
      expect(err.kind).toBe('retryable');
      expect(err.message).toMatch(message);
      // The simulator's cut-short ticket and its 4,096 L's are redacted, not quoted.
      expect(err.message).not.toContain('Xq3vT9kLmN0pR7');
      expect(err.message).not.toContain('LLLLLLLL');
    });

    it.each([
      ['system_error', -1, 'retryable'],
      ['daily_quota', 45009, 'quota'],
    ] as const)('%s → errcode %i (%s)', async (kind, errcode, errKind) => {
      const t = await token();
      await fault(kind, 'getticket');
      const err = await rejected(simClient().client.getTicket(t, 'jsapi'));
      expect(err).toMatchObject({ endpoint: 'getticket', errcode, kind: errKind });
    });
  });

  describe('getPhoneNumber', () => {
    async function phoneCode(phoneNumber = `+86 ${PHONE}`): Promise<string> {
      const { code } = await control<SimIssuedPhoneCode>('POST', 'phone-codes', { phoneNumber });
      issued.push(code);
      return code;
    }

    it('POSTs the code as JSON and returns the number; the code works once', async () => {
      const t = await token();
      const code = await phoneCode();
      const { client, events } = simClient();
      expect(await client.getPhoneNumber(t, code)).toEqual({
        phoneNumber: PHONE,
        purePhoneNumber: PHONE,
        countryCode: '86',
      });
      const again = await rejected(client.getPhoneNumber(t, code));
      expect(again).toMatchObject({ endpoint: 'getuserphonenumber', errcode: 40029 });
      expect(loginErrorKind(again.errcode)).toBe('invalid_code');
      expect(events.map((e) => [e.endpoint, e.errcode])).toEqual([
        ['getuserphonenumber', 0],
        ['getuserphonenumber', 40029],
      ]);
      messages.push(...events.map((e) => JSON.stringify(e)));
    });

    it('a foreign number keeps its area code in phoneNumber', async () => {
      const info = await simClient().client.getPhoneNumber(
        await token(),
        await phoneCode('+1 4155550100'),
      );
      expect(info).toEqual({
        phoneNumber: '+1 4155550100',
        purePhoneNumber: '4155550100',
        countryCode: '1',
      });
    });

    it('a dead token → token_invalid, and the code is still unused for the retry', async () => {
      const code = await phoneCode();
      const err = await rejected(simClient().client.getPhoneNumber(await supersededToken(), code));
      expect(err).toMatchObject({ errcode: 40001, kind: 'token_invalid' });
      const info = await simClient().client.getPhoneNumber(await token(), code);
      expect(info.purePhoneNumber).toBe(PHONE);
    });

    it('a cut-short reply names neither the code nor the number', async () => {
      const code = await phoneCode();
      await fault('malformed', 'getuserphonenumber');
      const err = await rejected(simClient().client.getPhoneNumber(await token(), code));
      expect(err.kind).toBe('retryable');
      // The simulator cuts its reply inside "phoneNumber":"+86 1380013.
      expect(err.message).toMatch(/^WeChat getuserphonenumber: non-JSON body \(67 bytes/);
      expect(err.message).not.toContain('1380013');
      // Past the excerpt's 40 characters too: the number is redacted, spaces and all.
      const cut = '{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"+86 1380013';
      expect(redact(cut)).toBe(cut.replace('+86 1380013', '[REDACTED]'));
      expect(err.message).not.toContain(code);
    });

    it('a 4,096-character phone number is refused, not returned', async () => {
      const code = await phoneCode();
      await fault('long_token', 'getuserphonenumber');
      const err = await rejected(simClient().client.getPhoneNumber(await token(), code));
      expect(err.message).toBe(
        'WeChat getuserphonenumber: malformed success body: phone_info.phoneNumber missing or too long',
      );
    });
  });

  describe('getPaidUnionId', () => {
    const OPENID_PAID = 'oPaidUser0000000000000000000';
    const UNIONID_PAID = 'oUnionOfPaidUser000000000000';

    it('finds the unionid by transaction_id and by mch_id + out_trade_no', async () => {
      await control('POST', 'payments', {
        openid: OPENID_PAID,
        unionid: UNIONID_PAID,
        transactionId: '4200001234202611250000000001',
        mchId: '1900000109',
        outTradeNo: 'order-1',
      });
      const t = await token();
      const { client, events } = simClient();
      expect(
        await client.getPaidUnionId(t, {
          openid: OPENID_PAID,
          transactionId: '4200001234202611250000000001',
        }),
      ).toEqual({ unionid: UNIONID_PAID });
      expect(
        await client.getPaidUnionId(t, {
          openid: OPENID_PAID,
          mchId: '1900000109',
          outTradeNo: 'order-1',
        }),
      ).toEqual({ unionid: UNIONID_PAID });
      expect(events.map((e) => [e.endpoint, e.errcode])).toEqual([
        ['getpaidunionid', 0],
        ['getpaidunionid', 0],
      ]);
    });

    it('an unknown trade → errcode 89300; a dead token → token_invalid', async () => {
      const { client } = simClient();
      const unknown = await rejected(
        client.getPaidUnionId(await token(), { openid: OPENID_PAID, transactionId: 'nope' }),
      );
      expect(unknown).toMatchObject({
        endpoint: 'getpaidunionid',
        errcode: 89300,
        kind: 'unknown',
      });
      const dead = await rejected(
        client.getPaidUnionId(await supersededToken(), { openid: OPENID_PAID, transactionId: 'x' }),
      );
      expect(dead).toMatchObject({ errcode: 40001, kind: 'token_invalid' });
    });
  });
});
