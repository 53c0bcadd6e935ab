import {
  Agent as HttpAgent,
  request as httpRequest,
  type ClientRequest,
  type OutgoingHttpHeaders,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/**
 * Idle pooled connections are closed after this long, or sooner when the server's
 * `Keep-Alive: timeout=N` says it closes them first (Node's agent honours the hint, less 1 s),
 * so a request is not sent on a connection the server is closing. undici's default, too.
 */
const IDLE_SOCKET_MS = 4_000;

/**
 * The largest reply body read from WeChat. Its real answers are a few hundred bytes (a token
 * body ~200, an IP list ~10 KiB); without a cap a broken or hostile upstream's 600 MiB body
 * crashed the process, and the next leader fetched it and crashed too.
 */
export const DEFAULT_MAX_REPLY_BYTES = 64 * 1024;

/** What one request gave: the status, and the body text of a 2xx reply. */
export interface TransportReply {
  readonly status: number;
  /** UTF-8, a leading BOM dropped; undefined for a non-2xx reply (its body is never read). */
  readonly text?: string;
}

/** No complete reply within the timeout (connect, headers and body together). */
export class UpstreamTimeoutError extends Error {
  override readonly name = 'UpstreamTimeoutError';

  constructor(readonly timeoutMs: number) {
    super(`no complete reply within ${timeoutMs}ms`);
  }
}

/** The reply body grew past the cap: the connection is dropped, nothing of it is kept. */
export class ReplyTooLargeError extends Error {
  override readonly name = 'ReplyTooLargeError';

  constructor(readonly maxBytes: number) {
    super(`reply body over ${maxBytes} bytes`);
  }
}

type Target =
  | {
      readonly request: typeof httpRequest;
      readonly agent: HttpAgent;
      readonly hostname: string;
      readonly port: string;
      readonly basePath: string;
    }
  | { readonly error: unknown };

/**
 * HTTP/1.1 requests to one base URL over a keep-alive connection pool (node:http or
 * node:https). Chosen over fetch for the upstream hot path: per request it costs a fraction of
 * undici's fetch (no WHATWG Request/Response/streams, no AbortSignal per call), a large part
 * of the latency wxtoken added to Code2Session. Redirects are never followed (a 3xx is just a
 * status), and nothing here ever puts the URL into an error message.
 */
export class KeepAliveTransport {
  readonly #target: Target;
  readonly #timeoutMs: number;
  readonly #maxReplyBytes: number;

  constructor(baseUrl: string, timeoutMs: number, maxReplyBytes = DEFAULT_MAX_REPLY_BYTES) {
    this.#timeoutMs = Math.max(1, Math.ceil(timeoutMs));
    this.#maxReplyBytes = maxReplyBytes;
    this.#target = target(baseUrl);
  }

  /**
   * GET `path`, or POST `json` to it; rejects with the socket's error or a timeout. The
   * timeout covers everything, the one resend below included.
   */
  request(path: string, json?: string, maxReplyBytes?: number): Promise<TransportReply> {
    const t = this.#target;
    if ('error' in t) return Promise.reject(t.error);
    return new Promise<TransportReply>((resolve, reject) => {
      let settled = false;
      let req: ClientRequest | undefined;
      const finish = (err: unknown, reply?: TransportReply): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (reply) resolve(reply);
        else reject(err);
      };
      const timer = setTimeout(() => {
        finish(new UpstreamTimeoutError(this.#timeoutMs));
        req?.destroy();
      }, this.#timeoutMs);
      const send = (mayResend: boolean): void => {
        const r = (req = t.request({
          hostname: t.hostname,
          port: t.port,
          path: t.basePath + path,
          method: json === undefined ? 'GET' : 'POST',
          headers: json === undefined ? {} : jsonHeaders(json),
          agent: t.agent,
        }));
        let answered = false;
        // `on`, not `once`: a destroyed request may emit more than one error.
        r.on('error', (err: NodeJS.ErrnoException) => {
          // A pooled connection the server closed while it sat idle fails before any reply
          // without the server having taken the request: send it once more, on another
          // connection (the retry Node's docs prescribe for keep-alive agents).
          if (mayResend && r.reusedSocket && !answered && STALE_CODES.has(err.code ?? '')) {
            send(false);
            return;
          }
          finish(err);
        });
        r.on('response', (res) => {
          answered = true;
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) {
            res.destroy();
            finish(undefined, { status });
            return;
          }
          const max = maxReplyBytes ?? this.#maxReplyBytes;
          const tooLarge = (): void => {
            finish(new ReplyTooLargeError(max));
            res.destroy();
          };
          // A declared length over the cap is refused before a byte of the body is read.
          if (Number(res.headers['content-length'] ?? 0) > max) return tooLarge();
          const chunks: Buffer[] = [];
          let bytes = 0;
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (bytes > max) return tooLarge();
            chunks.push(chunk);
          });
          res.on('error', (err) => finish(err));
          res.on('end', () =>
            finish(undefined, {
              status,
              text: withoutBom(Buffer.concat(chunks, bytes).toString('utf8')),
            }),
          );
          // 'close' follows 'end' on every reply: the error (a stack trace) is made only when
          // the reply did not finish, not on each of a wave's thousand fetches a second.
          res.on('close', () => {
            if (!settled) finish(closedMidReply());
          });
        });
        r.end(json);
      };
      send(true);
    });
  }
}

/** How a write to, or a read from, a connection the peer already closed fails. */
const STALE_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE']);

function jsonHeaders(json: string): OutgoingHttpHeaders {
  return { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) };
}

/** Like fetch's text(): a leading UTF-8 BOM is not part of the body. */
function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function closedMidReply(): Error {
  return Object.assign(new Error('connection closed mid-reply'), { code: 'ECONNRESET' });
}

/** The pool for `baseUrl`, or the reason it cannot be used (reported on each request). */
function target(baseUrl: string): Target {
  try {
    const url = new URL(baseUrl);
    const https = url.protocol === 'https:';
    if (!https && url.protocol !== 'http:') {
      return { error: new TypeError(`unsupported protocol ${url.protocol}`) };
    }
    const agentOptions = { keepAlive: true, timeout: IDLE_SOCKET_MS };
    return {
      request: https ? httpsRequest : httpRequest,
      agent: https ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions),
      // WHATWG keeps IPv6 brackets; node:http wants the bare address.
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port,
      basePath: url.pathname.replace(/\/$/, ''),
    };
  } catch (err) {
    return { error: err };
  }
}
