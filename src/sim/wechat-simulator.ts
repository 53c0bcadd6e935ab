import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { systemClock, type Clock } from '../shared/clock.js';
import { CONTROL_PREFIX, handleControlRequest } from './control-routes.js';
import { sendJson } from './http-io.js';
import { SimBackend } from './sim-backend.js';
import { SimInputError } from './sim-errors.js';
import type { SimAppSettings, SimCodeRequest, SimFault, SimIssuedCode } from './types.js';
import { handleWeChatRequest } from './wechat-routes.js';

export { SimInputError, SimUnknownAppError, SimUnknownUserError } from './sim-errors.js';
export type {
  SimAppSettings,
  SimCall,
  SimCheckResult,
  SimCodeRequest,
  SimCounters,
  SimEncryptedData,
  SimEndpoint,
  SimFault,
  SimFaultKind,
  SimIssuedCode,
  SimIssuedPhoneCode,
  SimMessage,
  SimNewestTicket,
  SimPayment,
  SimPaymentRequest,
  SimPhoneCodeRequest,
  SimTicketCheck,
  SimTicketCounters,
  SimUserView,
} from './types.js';

export interface WeChatSimulatorOptions {
  /** Drives token lifetimes, quota days, latency and held sockets. Default: the system clock. */
  clock?: Clock;
  /** Apps configured from the start, as `POST /__sim/apps` would. */
  apps?: SimAppSettings[];
}

/**
 * A plain-HTTP stand-in for api.weixin.qq.com (design.md "Simulator"): the WeChat endpoints of
 * wechat-api.md plus the `/__sim/` control API. The behaviour lives in SimBackend; this class
 * owns the socket side, and `close()` destroys every connection, held 'timeout' sockets
 * included, so tests end at once.
 */
export class WeChatSimulator {
  /** The state model, for in-process callers that want counters or checks without HTTP. */
  readonly backend: SimBackend;
  readonly #clock: Clock;
  readonly #sockets = new Set<Socket>();
  readonly #closing = new AbortController();
  #server: Server | undefined;

  constructor(opts: WeChatSimulatorOptions = {}) {
    this.#clock = opts.clock ?? systemClock;
    this.backend = new SimBackend(this.#clock);
    for (const app of opts.apps ?? []) this.backend.configureApp(app);
  }

  /** Creates or updates an app; throws SimInputError naming a bad key. */
  configureApp(settings: SimAppSettings): void {
    this.backend.configureApp(settings);
  }

  /** Throws SimUnknownAppError for an app that is not configured. */
  injectFault(appId: string, fault: SimFault): void {
    this.backend.injectFault(appId, fault);
  }

  /** What wx.login() would return on a device of `request.user`; see SimCodeRequest. */
  issueCode(appId: string, request: SimCodeRequest = {}): SimIssuedCode {
    return this.backend.login.issueCode(appId, request);
  }

  /** Listens on `host:port` (`[::1]:0` for IPv6; port 0 picks a free one). */
  async listen(address: string): Promise<{ url: string; port: number }> {
    if (this.#server) throw new Error('the simulator is already listening');
    if (this.#closing.signal.aborted) throw new Error('the simulator is closed');
    const { host, port } = parseAddress(address);
    const server = createServer((req, res) => void this.#dispatch(req, res));
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const bound = server.address();
    const boundPort = typeof bound === 'object' && bound ? bound.port : port;
    return { url: `http://${urlHost(host)}:${boundPort}`, port: boundPort };
  }

  /** Stops listening and destroys every open connection. */
  async close(): Promise<void> {
    this.#closing.abort();
    this.backend.close();
    const server = this.#server;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    // `/__sim` without its slash is the control index too: WeChat has no such path (issue 17).
    if (url.pathname === CONTROL_PREFIX.slice(0, -1)) url.pathname = CONTROL_PREFIX;
    try {
      if (url.pathname.startsWith(CONTROL_PREFIX)) {
        await handleControlRequest(req, res, url, this.backend);
        return;
      }
      const gone = new AbortController();
      res.once('close', () => gone.abort());
      const signal = AbortSignal.any([this.#closing.signal, gone.signal]);
      await handleWeChatRequest(req, res, url, {
        backend: this.backend,
        clock: this.#clock,
        signal,
      });
    } catch (err) {
      // A simulator bug: answer like WeChat's "busy" rather than leaving the client hanging.
      console.error('wechat simulator: unexpected error', err);
      if (!res.headersSent) sendJson(res, 500, { errcode: -1, errmsg: 'system error' });
      else res.destroy();
    }
  }
}

function parseAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  const port = Number(match?.[3]);
  if (!match || port > 65_535) {
    throw new SimInputError(`listen address must be host:port, got ${JSON.stringify(address)}`);
  }
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

/** A wildcard bind is reachable on loopback; IPv6 literals need brackets in a URL. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
