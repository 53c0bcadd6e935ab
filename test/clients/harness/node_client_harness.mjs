/* global process, console, fetch, setTimeout, setImmediate, URL */
// An independent program using only the published API of wxtoken-client (issue 14, "Done
// means"): it imports the built package through the workspace, as a business server would
// import it from npm, and nothing else of this repository. A test drives it over a small HTTP
// control port (printed at start) and reads its figures as JSON.
//
// Environment: WXTOKEN_ADDR (host:port of wxtoken serve), APP_ID, WECHAT_URL (the WeChat API
// base the business calls go to: the simulator in tests).
import { createServer } from 'node:http';
import { WxTokenClient } from 'wxtoken-client';

const { WXTOKEN_ADDR, APP_ID, WECHAT_URL } = process.env;
if (!WXTOKEN_ADDR || !APP_ID || !WECHAT_URL) {
  console.error('WXTOKEN_ADDR, APP_ID and WECHAT_URL are required');
  process.exit(2);
}

const client = new WxTokenClient({ address: WXTOKEN_ADDR });

/** A WeChat call as a business server makes it: WeChat's errcode is thrown. */
async function callbackIp(token) {
  const res = await fetch(`${WECHAT_URL}/cgi-bin/getcallbackip?access_token=${token}`);
  const body = await res.json();
  if (body.errcode) throw Object.assign(new Error(body.errmsg), { errcode: body.errcode });
  return body;
}

let loop;

async function runLoop(state) {
  while (!state.stop) {
    try {
      const token = await client.token(APP_ID);
      state.tokens.add(token);
      state.last = token;
      state.calls++;
      try {
        await callbackIp(token);
        state.valid++;
      } catch (err) {
        state.invalid.push(`${err.errcode}: ${err.message}`);
      }
    } catch (err) {
      state.errors.push(`${err.name}: ${err.message}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

const routes = {
  'POST /loop/start': async () => {
    loop = { stop: false, calls: 0, valid: 0, invalid: [], errors: [], tokens: new Set() };
    loop.done = runLoop(loop);
    return { started: true };
  },
  'POST /loop/peek': async () => ({ calls: loop.calls, last: loop.last }),
  'POST /loop/stop': async () => {
    loop.stop = true;
    await loop.done;
    const { calls, valid, invalid, errors, tokens, last } = loop;
    return { calls, valid, invalid, errors, distinctTokens: tokens.size, last };
  },
  'POST /herd': async (url) => {
    const n = Number(url.searchParams.get('n') ?? 100);
    const results = await Promise.allSettled(
      Array.from({ length: n }, () =>
        client.withToken(APP_ID, async (token) => {
          await callbackIp(token);
          return token;
        }),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    const failed = results.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
    return { ok: ok.length, failed, distinctTokens: new Set(ok).size };
  },
  'POST /close': async () => {
    client.close();
    setImmediate(() => process.exit(0));
    return { closed: true };
  },
};

const control = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://harness');
  const route = routes[`${req.method} ${url.pathname}`];
  if (!route) {
    res.writeHead(404).end();
    return;
  }
  route(url).then(
    (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
    (err) => res.writeHead(500).end(String(err)),
  );
});
control.listen(0, '127.0.0.1', () => {
  console.log(`harness listening on http://127.0.0.1:${control.address().port}`);
});
