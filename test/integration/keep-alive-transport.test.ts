import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { KeepAliveTransport, UpstreamTimeoutError } from '../../src/wechat/keep-alive-transport.js';

/**
 * The wire behaviour HttpWeChatClient relies on beyond its own tests: connections are pooled
 * and reused, a pooled connection the server dropped is not a failed call, and the timeout
 * covers the whole exchange. A real HTTP server on a loopback port answers.
 */

type Handler = (req: IncomingMessage, res: ServerResponse, nthOnSocket: number) => void;

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A server counting requests per connection; `handler` answers (or not). */
async function serve(handler: Handler): Promise<{ url: string; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const perSocket = new WeakMap<Socket, number>();
  server = createServer((req, res) => {
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    sockets.add(req.socket);
    req.resume();
    req.on('end', () => handler(req, res, n));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets };
}

const ok =
  (body = '{"ok":1}') =>
  (_req: IncomingMessage, res: ServerResponse) =>
    res.end(body);

describe('KeepAliveTransport', () => {
  it('sends sequential requests over one kept-alive connection', async () => {
    const { url, sockets } = await serve(ok());
    const transport = new KeepAliveTransport(url, 2000);
    for (let i = 0; i < 5; i++) {
      expect(await transport.request('/x?i=' + i)).toEqual({ status: 200, text: '{"ok":1}' });
    }
    expect(sockets.size).toBe(1);
  });

  it('resends once on a new connection when a pooled one was dropped by the server', async () => {
    const seen: number[] = [];
    const { url, sockets } = await serve((req, res, n) => {
      seen.push(n);
      // The second request on a connection finds it "closed while idle": reset, no reply.
      if (n === 2) req.socket.destroy();
      else res.end('{"ok":1}');
    });
    const transport = new KeepAliveTransport(url, 2000);
    await transport.request('/first');
    expect(await transport.request('/second')).toEqual({ status: 200, text: '{"ok":1}' });
    expect(seen).toEqual([1, 2, 1]);
    expect(sockets.size).toBe(2);
  });

  it('does not resend when a fresh connection fails', async () => {
    let calls = 0;
    const { url } = await serve((req) => {
      calls++;
      req.socket.destroy();
    });
    const err = await new KeepAliveTransport(url, 2000).request('/x').catch((e: unknown) => e);
    expect((err as NodeJS.ErrnoException).code).toBe('ECONNRESET');
    expect(calls).toBe(1);
  });

  it('POSTs JSON with its length', async () => {
    let got = '';
    const { url } = await serve((req, res) => {
      got = `${req.method} ${req.headers['content-type']} ${req.headers['content-length']}`;
      res.end('{}');
    });
    await new KeepAliveTransport(url, 2000).request('/p', '{"a":"é"}');
    expect(got).toBe('POST application/json 10');
  });

  it('does not read the body of a non-2xx reply, and never follows a redirect', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(302, { location: '/elsewhere' });
      res.end('moved');
    });
    expect(await new KeepAliveTransport(url, 2000).request('/x')).toEqual({ status: 302 });
  });

  it('drops a leading BOM, keeps a multi-byte body whole across chunks', async () => {
    const { url } = await serve((_req, res) => {
      const bytes = Buffer.from('\ufeff{"名":"值"}');
      res.write(bytes.subarray(0, 5));
      setTimeout(() => res.end(bytes.subarray(5)), 10);
    });
    expect((await new KeepAliveTransport(url, 2000).request('/x')).text).toBe('{"名":"值"}');
  });

  it('times out a body that stalls, the whole exchange counted', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(200);
      res.write('{"partial":');
    });
    const started = Date.now();
    const err = await new KeepAliveTransport(url, 150).request('/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamTimeoutError);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('fails a reply whose connection closes mid-body, at once and not by the timeout', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('{"partial":', () => res.socket?.destroy());
    });
    const started = Date.now();
    const err = await new KeepAliveTransport(url, 5000).request('/x').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ECONNRESET' });
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('reports an unusable base URL on each request, not at construction', async () => {
    const transport = new KeepAliveTransport('http://127.0.0.1:99999', 2000);
    await expect(transport.request('/x')).rejects.toThrow();
  });
});
