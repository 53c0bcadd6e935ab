import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { TlsFileProvider, type TlsFiles } from '../grpc/tls-files.js';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../shared/logger.js';
import type { ComponentEvents } from '../component/component-events.js';
import type { ComponentRoutes } from './component-routes.js';
import { answerEvent, EVENTS_PATH, MAX_EVENT_BYTES } from './component-events-route.js';
import type { PassThrough } from './pass-through.js';
import { EncodedBody, sendJson } from './json-reply.js';
import type { TokenRoutes } from './token-routes.js';
import { QueryReader } from './query-reader.js';
import type { Reply } from './token-routes.js';
import { answer, resultOf } from './wechat-answers.js';

export interface GatewayServerOptions {
  readonly listen: string;
  readonly maxRequestBytes: number;
  /** Pass-through calls forwarded at once; more are answered -1 at once, never queued. */
  readonly maxInFlight: number;
  /** Absent: only the token paths (gateway.passThrough false). */
  readonly passThrough?: PassThrough;
  readonly routes: TokenRoutes;
  /** Third-party platforms' event URLs; absent: no `components[]`. */
  readonly events?: ComponentEvents;
  /** Third-party platforms' credential paths (`/cgi-bin/component/...`); absent: no `components[]`. */
  readonly components?: ComponentRoutes;
  readonly log: Logger;
  readonly observer?: { onRequest?(route: string, result: string): void };
  /**
   * HTTPS from the same `tls:` files as gRPC, re-read on the same schedule: SDKs send their
   * caller key as `secret` in the URL, so anywhere off loopback it must not travel in clear.
   * With `clientCaFile`, clients must present a certificate that CA issued.
   */
  readonly tls?: TlsFiles;
  /** How often the TLS files are re-read (a renewed certificate is served without a restart). */
  readonly tlsReloadMs?: number;
}

/** Which route a request takes, for metrics (bounded label values). */
type RouteKind =
  'token' | 'stable_token' | 'getticket' | 'jscode2session' | ComponentRouteKind | 'pass_through';

/** The Open Platform credential paths, served when `components[]` is configured. */
type ComponentRouteKind = 'component_token' | 'authorizer_token' | 'preauthcode';

const COMPONENT_PATHS: ReadonlyMap<string, ComponentRouteKind> = new Map([
  ['/cgi-bin/component/api_component_token', 'component_token'],
  ['/cgi-bin/component/api_authorizer_token', 'authorizer_token'],
  ['/cgi-bin/component/api_create_preauthcode', 'preauthcode'],
]);

/**
 * The WeChat-compatible HTTP/1.1 listener (node:http, keep-alive). Token paths are answered
 * from memory; with pass-through every other WeChat path whose access_token wxtoken holds is
 * forwarded. Request bodies are bounded (gateway.maxRequestBytes); every answer is WeChat's
 * JSON. Nothing here logs a query string: it carries secrets, keys and tokens.
 */
export class GatewayServer {
  readonly #server: Server;
  readonly #tls: TlsFileProvider | undefined;
  #port = 0;
  #stopping = false;
  /** Pass-through calls between admission and answer. */
  #forwarding = 0;
  readonly #query = new QueryReader();

  constructor(private readonly o: GatewayServerOptions) {
    const fail = (req: IncomingMessage, res: ServerResponse, err: unknown): void => {
      o.log.error({ err: (err as Error).message, path: pathOf(req) }, 'gateway: request failed');
      if (!res.headersSent) sendJson(res, answer('busy'), 'error');
      else res.destroy();
    };
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      try {
        this.#handle(req, res)?.catch((err: unknown) => fail(req, res, err));
      } catch (err) {
        fail(req, res, err);
      }
    };
    const http = { keepAlive: true, requestTimeout: 60_000 };
    if (o.tls) {
      const files = o.tls;
      const tls = new TlsFileProvider(files, {
        reloaded: (cert) => o.log.info({ tls: cert }, 'gateway: TLS certificate reloaded'),
        rejected: (problem) =>
          o.log.warn({ problem }, 'gateway: TLS files not reloaded; keeping the current ones'),
      });
      this.#tls = tls;
      let context = tls.secureContextOptions();
      const server = createTlsServer(
        {
          ...http,
          ...context,
          ...(files.clientCaFile ? { requestCert: true, rejectUnauthorized: true } : {}),
        },
        handler,
      );
      tls.addIdentityCertificateListener(() => {
        context = tls.secureContextOptions();
        server.setSecureContext(context);
      });
      this.#server = server;
    } else {
      this.#server = createServer(http, handler);
    }
    this.#server.keepAliveTimeout = 65_000;
    this.#server.headersTimeout = 20_000;
    this.#server.maxHeadersCount = 100;
  }

  get port(): number {
    return this.#port;
  }

  async start(): Promise<number> {
    const match = /^(\[[^\]]*\]|[^:]*):(\d+)$/.exec(this.o.listen)!;
    const host = match[1]!.replace(/^\[|\]$/g, '');
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(Number(match[2]), host, () => resolve());
    });
    this.#port = (this.#server.address() as AddressInfo).port;
    this.#tls?.watch(this.o.tlsReloadMs ?? 5_000);
    return this.#port;
  }

  /**
   * Stops taking requests and drains: calls in flight finish (their replies carry
   * `Connection: close`), idle keep-alive connections are closed as they become idle, and
   * whatever is still open after `drainMs` is cut, like gRPC's shutdown. The upstream agent goes
   * last, so a forwarded call in flight is not cut after WeChat already received it.
   */
  async stop(drainMs = 5_000): Promise<void> {
    this.#stopping = true;
    this.#tls?.stop();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    const sweep = setInterval(() => this.#server.closeIdleConnections(), 50);
    const deadline = setTimeout(() => this.#server.closeAllConnections(), drainMs);
    try {
      await closed;
    } finally {
      clearInterval(sweep);
      clearTimeout(deadline);
      this.o.passThrough?.close();
    }
  }

  /**
   * One request. The common case (a GET of a token path whose token is in memory) is answered
   * synchronously, without a promise: this is the gateway's hot path, measured against a bare
   * node:http server. Anything that waits (a body, a warming app, WeChat) returns a promise.
   */
  #handle(req: IncomingMessage, res: ServerResponse): Promise<void> | undefined {
    // Shutting down: answer, then let the client go (it reconnects to another replica).
    if (this.#stopping) res.setHeader('connection', 'close');
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    // Token paths are matched on the raw path (exactly as SDKs send it); any other shape is
    // normalised by URL first, so a path with dot segments is judged as the upstream would see it.
    const exact = exactRoute(q < 0 ? raw : raw.slice(0, q));
    // A GET's body (HTTP gives it no meaning here) is never read: node:http discards it.
    if (exact && req.method === 'GET') {
      const query = this.#query.read(q < 0 ? '' : raw.slice(q + 1));
      const reply =
        exact === 'token'
          ? this.o.routes.token(query, req.socket)
          : exact === 'getticket'
            ? this.o.routes.ticket(query.access_token ?? '', query.type ?? '')
            : exact === 'jscode2session'
              ? this.o.routes.jscode2session(query)
              : answer('forbidden', 'stable_token takes a JSON POST');
      if (!(reply instanceof Promise)) {
        this.#answer(res, exact, reply);
        return undefined;
      }
      return reply.then((r) => this.#answer(res, exact, r));
    }
    return this.#handleSlow(req, res);
  }

  async #handleSlow(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gateway.invalid');
    const event = this.o.events && EVENTS_PATH.exec(url.pathname);
    if (event) {
      const done = (result: string): void =>
        this.o.observer?.onRequest?.('component_events', result);
      const body = hasBody(req) ? await readBody(req, MAX_EVENT_BYTES) : NO_BODY;
      if (body === 'too_large') {
        res.writeHead(413, { 'content-type': 'text/plain; charset=utf-8' }).end('too large');
        return done('too_large');
      }
      done(await answerEvent(this.o.events!, this.o.log, req, res, url, event[1]!, body));
      return;
    }
    const route = routeOf(url.pathname);
    const done = (result: string): void => this.o.observer?.onRequest?.(route ?? 'none', result);
    if (
      !route ||
      (route === 'pass_through' && !this.o.passThrough) ||
      (isComponentRoute(route) && !this.o.components)
    ) {
      done(
        sendJson(
          res,
          answer('forbidden', 'this path is not served by the gateway'),
          'no_route',
          404,
        ),
      );
      req.resume();
      return;
    }
    if (route === 'pass_through') {
      // Bounded before the body is read: each call in flight may hold maxRequestBytes.
      if (this.#forwarding >= this.o.maxInFlight) {
        req.resume();
        done(sendJson(res, answer('busy', 'gateway.maxInFlight calls in flight'), 'overloaded'));
        return;
      }
      this.#forwarding++;
      try {
        const body = await this.#body(req, res, done);
        if (body) done(await this.o.passThrough!.forward(req, res, url, body));
      } finally {
        this.#forwarding--;
      }
      return;
    }
    const body = await this.#body(req, res, done);
    if (!body) return;
    const query = this.#query.read(url.search.slice(1));
    let reply: Reply;
    if (isComponentRoute(route)) {
      const params = req.method === 'POST' ? parseJson(body) : undefined;
      reply = params
        ? await this.#component(route, query.component_access_token ?? '', params)
        : answer('badJson', 'takes a JSON POST');
    } else if (route === 'getticket') {
      reply = await this.o.routes.ticket(query.access_token ?? '', query.type ?? '');
    } else if (route === 'jscode2session') {
      reply = await this.o.routes.jscode2session(query);
    } else if (req.method === 'POST') {
      const params = parseJson(body);
      reply = params ? await this.o.routes.token(params, req.socket) : answer('badJson');
    } else if (route === 'token') {
      reply = await this.o.routes.token(query, req.socket);
    } else reply = answer('forbidden', 'stable_token takes a JSON POST');
    this.#answer(res, route, reply);
  }

  #component(route: ComponentRouteKind, token: string, params: Record<string, unknown>) {
    const c = this.o.components!;
    if (route === 'component_token') return c.componentToken(params);
    if (route === 'authorizer_token') return c.authorizerToken(token, params);
    return c.preAuthCode(token, params);
  }

  /** The request body; undefined once a body too large has been answered 413. */
  async #body(
    req: IncomingMessage,
    res: ServerResponse,
    done: (result: string) => void,
  ): Promise<Buffer | undefined> {
    // A request without a body (the usual GET) has nothing to wait for.
    const body = hasBody(req) ? await readBody(req, this.o.maxRequestBytes) : NO_BODY;
    if (body !== 'too_large') return body;
    done(sendJson(res, answer('tooLarge', 'gateway.maxRequestBytes'), 'too_large', 413));
    return undefined;
  }

  #answer(res: ServerResponse, route: RouteKind, reply: Reply): void {
    if (reply instanceof EncodedBody) {
      this.o.observer?.onRequest?.(route, sendJson(res, reply, 'ok'));
      return;
    }
    const errcode = reply.errcode;
    const result = typeof errcode === 'number' && errcode !== 0 ? resultOf(errcode) : 'ok';
    this.o.observer?.onRequest?.(route, sendJson(res, reply, result));
  }
}

/** The token paths, matched exactly (the fast path); undefined for anything else. */
function exactRoute(path: string): Exclude<RouteKind, 'pass_through'> | undefined {
  switch (path) {
    case '/cgi-bin/token':
      return 'token';
    case '/cgi-bin/stable_token':
      return 'stable_token';
    case '/cgi-bin/ticket/getticket':
      return 'getticket';
    case '/sns/jscode2session':
      return 'jscode2session';
    default:
      return undefined;
  }
}

function routeOf(path: string): RouteKind | undefined {
  // WeChat's API tree: forwarded when pass-through is on (and the token is ours).
  return (
    exactRoute(path) ??
    COMPONENT_PATHS.get(path) ??
    (/^\/(cgi-bin|wxa|datacube|card|customservice|merchant|shop|semantic|tcb|wxaapi|union|product|channels|express|intp)\//.test(
      path,
    )
      ? 'pass_through'
      : undefined)
  );
}

const COMPONENT_ROUTES: ReadonlySet<RouteKind> = new Set(COMPONENT_PATHS.values());

function isComponentRoute(route: RouteKind): route is ComponentRouteKind {
  return COMPONENT_ROUTES.has(route);
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '').split('?', 1)[0]!.slice(0, 200);
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

const NO_BODY = Buffer.alloc(0);

/** Whether the request announces a body (a length other than 0, or chunks). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The request body, or 'too_large' past `max` (announced or actual); the rest is discarded. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too_large'> {
  const announced = Number(req.headers['content-length'] ?? NaN);
  if (announced > max) {
    req.resume();
    return Promise.resolve('too_large');
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) over = true;
      if (!over) chunks.push(chunk);
    });
    req.once('end', () => resolve(over ? 'too_large' : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}
