import * as grpc from '@grpc/grpc-js';
import { Agent, createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadProto } from '../src/grpc/proto.js';

/**
 * The floors the gateway scenario (gateway.ts) measures wxtoken against: the least a server
 * on the same stack must do for each path. One process per floor, started pinned like the
 * server under test; each prints `<mode> listening on 127.0.0.1:PORT`.
 *
 * - `token`: a bare node:http server answering every request with the gateway's
 *   `/cgi-bin/token` JSON (the same token, `expires_in` counted down, the same headers), built
 *   per request like the gateway's, without parsing the query or checking a key.
 * - `proxy UPSTREAM`: a bare node:http forwarding proxy: method, path and query sent on to
 *   UPSTREAM over a keep-alive pool (node:http, like the gateway's), the reply piped back with
 *   its type and length. No token lookup, no inspection, no repeat.
 * - `login UPSTREAM`: a bare grpc-js LoginService whose Code2Session does one
 *   `/sns/jscode2session` GET at UPSTREAM with node:http over a keep-alive pool and answers
 *   openid and unionid (no session is kept): the stack cost of gRPC in, HTTP out. The AppSecret comes
 *   from BARE_SECRET.
 *
 * Like the gateway (gateway-server.ts): HTTP/1.1 keep-alive, keepAliveTimeout 65 s.
 */
const [mode, upstream] = process.argv.slice(2);

const listening = (port: number): void => console.log(`${mode} listening on 127.0.0.1:${port}`);

if (mode === 'token') {
  const token = process.env.BARE_TOKEN ?? '';
  const expiresAt = Number(process.env.BARE_EXPIRES_AT ?? Date.now() + 7_200_000);
  const server = createServer({ keepAlive: true }, (req, res) => {
    const text = JSON.stringify({
      access_token: token,
      expires_in: Math.max(0, Math.floor((expiresAt - Date.now()) / 1000)),
    });
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
    });
    res.end(text);
    req.resume();
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => listening((server.address() as AddressInfo).port));
  process.on('SIGTERM', () => process.exit(0));
} else if (mode === 'proxy') {
  const base = new URL(upstream!);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const server = createServer({ keepAlive: true }, (req, res) => {
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'accept', 'user-agent', 'content-length']) {
      const v = req.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    const up = request(
      new URL(req.url ?? '/', base),
      { method: req.method ?? 'GET', headers, agent },
      (r: IncomingMessage) => {
        const out: Record<string, string> = {};
        for (const name of ['content-type', 'content-length']) {
          const v = r.headers[name];
          if (typeof v === 'string') out[name] = v;
        }
        res.writeHead(r.statusCode ?? 502, out);
        r.pipe(res);
      },
    );
    up.once('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => listening((server.address() as AddressInfo).port));
  process.on('SIGTERM', () => process.exit(0));
} else if (mode === 'login') {
  const base = new URL(upstream!);
  const secret = process.env.BARE_SECRET ?? '';
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const jscode2session = (appId: string, code: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const qs = new URLSearchParams({
        appid: appId,
        secret,
        js_code: code,
        grant_type: 'authorization_code',
      });
      const req = request(new URL(`/sns/jscode2session?${qs}`, base), { agent }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.once('end', () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
          } catch (err) {
            reject(err as Error);
          }
        });
        r.once('error', reject);
      });
      req.once('error', reject);
      req.end();
    });
  const proto = loadProto();
  const unimplemented = (_c: unknown, cb: grpc.sendUnaryData<unknown>): void =>
    cb({ code: grpc.status.UNIMPLEMENTED });
  const server = new grpc.Server();
  server.addService(proto.wxtoken.v1.LoginService.service, {
    Code2Session: (
      call: grpc.ServerUnaryCall<{ app_id: string; js_code: string }, unknown>,
      cb: grpc.sendUnaryData<unknown>,
    ) => {
      jscode2session(call.request.app_id, call.request.js_code).then(
        (body) =>
          typeof body.openid === 'string'
            ? cb(null, { openid: body.openid, unionid: body.unionid ?? '' })
            : cb({
                code: grpc.status.INVALID_ARGUMENT,
                details: `errcode ${String(body.errcode)}`,
              }),
        (err: Error) => cb({ code: grpc.status.UNAVAILABLE, details: err.message }),
      );
    },
    GetSession: unimplemented,
    DecryptUserData: unimplemented,
    CheckSession: unimplemented,
    ResetSessionKey: unimplemented,
    GetPhoneNumber: unimplemented,
    GetPaidUnionId: unimplemented,
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    listening(port);
  });
  process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
} else {
  console.error('usage: gateway-baselines.js token | proxy UPSTREAM | login UPSTREAM');
  process.exit(2);
}
