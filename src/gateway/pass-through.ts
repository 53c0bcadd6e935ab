import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { CallerRateLimiter } from '../auth/caller-rate-limiter.js';
import type { TokenService } from '../service/token-service.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { TokenIndex } from './token-index.js';
import { sendJson } from './json-reply.js';
import { answer } from './wechat-answers.js';

/** Replies up to this size whose type may be JSON are read whole, to see a token error in them. */
const INSPECT_BYTES = 64 * 1024;
/** WeChat's answers to a token it refuses (wechat-api.md §3); it refused before acting. */
const TOKEN_REFUSED = new Set([40001, 40014, 42001]);
/** Request headers passed on: what the call means, nothing of the caller's connection. */
const FORWARDED_REQUEST_HEADERS = ['content-type', 'accept', 'user-agent'];
/** Reply headers passed back. */
const FORWARDED_REPLY_HEADERS = ['content-type', 'content-disposition', 'cache-control'];

export interface PassThroughDeps {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly index: TokenIndex;
  readonly tokens: Pick<TokenService, 'forceRefresh' | 'peek'>;
  readonly clock: Clock;
  readonly log: Logger;
  /** Per app (the token's): `PassThrough` calls a second (limits.passThroughPerSecond). */
  readonly limiter?: Pick<CallerRateLimiter, 'take'>;
  readonly observer?: {
    onForwarded?(result: string, durationMs: number): void;
    onRecovery?(appId: string, result: 'recovered' | 'failed'): void;
  };
}

/** #call's answer when the reply was already sent to the SDK. */
const ANSWERED = Symbol('answered');

interface Upstream {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  /** The whole body when it was small and possibly JSON; otherwise the stream to pipe. */
  readonly body: Buffer | IncomingMessage;
}

/**
 * Forwards a WeChat call whose access_token wxtoken holds, and only such a call: an unknown
 * token is answered 40001 here and never sent anywhere (no open proxy). The request body is
 * held (bounded by the server) so the call can be repeated once: when WeChat refuses the
 * token, the gateway runs compare-and-refresh with that exact token and repeats the call with
 * the token now current, so the SDK never sees the rotation. Binary replies (QR codes, media)
 * are streamed through byte for byte, bounded in size and time.
 */
export class PassThrough {
  readonly #base: URL;
  readonly #agent: HttpAgent;

  constructor(private readonly d: PassThroughDeps) {
    this.#base = new URL(d.baseUrl);
    this.#agent =
      this.#base.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true, maxSockets: 256 })
        : new HttpAgent({ keepAlive: true, maxSockets: 256 });
  }

  async forward(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    body: Buffer,
  ): Promise<string> {
    const started = performance.now();
    const token = url.searchParams.get('access_token') ?? '';
    if (token === '') return sendJson(res, answer('noToken'), 'no_token');
    const appId = this.d.index.appOf(token, this.d.clock.now());
    if (!appId)
      return sendJson(res, answer('badToken', 'not a token this server holds'), 'unknown_token');
    try {
      // Per app: one runaway service cannot spend an app's WeChat quota for all the others.
      this.d.limiter?.take(appId, 'PassThrough');
    } catch (err) {
      return sendJson(res, answer('minuteQuota', (err as Error).message), 'rate_limited');
    }
    let result: string;
    // An SDK still holding the token wxtoken replaced (alive during the overlap) is sent on with
    // the current one: the call never costs WeChat's refusal and a repeat later on.
    const current = this.d.tokens.peek(appId);
    let sentToken = token;
    if (current && current.value !== token) {
      url = new URL(url);
      url.searchParams.set('access_token', current.value);
      sentToken = current.value;
    }
    // The usual reply (small, whole, not a refusal) is answered inside the upstream's data event:
    // awaiting it would first let every pending tick of node:http run (30-60 µs a call, measured).
    const answerNow = (up: Upstream): boolean => {
      if (!Buffer.isBuffer(up.body) || refusedToken(up) !== undefined) return false;
      this.#replyWhole(res, up, up.body);
      return true;
    };
    try {
      let up = await this.#call(req, url, body, answerNow);
      if (up === ANSWERED) {
        this.d.observer?.onForwarded?.('forwarded', performance.now() - started);
        return 'forwarded';
      }
      const refused = refusedToken(up);
      if (refused !== undefined) {
        const fresh = await this.d.tokens
          .forceRefresh(appId, sentToken, `gateway pass-through: WeChat answered ${refused}`)
          .catch(() => undefined);
        if (fresh && fresh.token.value !== sentToken) {
          const again = new URL(url);
          again.searchParams.set('access_token', fresh.token.value);
          up = (await this.#call(req, again, body)) as Upstream;
          const stillRefused = refusedToken(up) !== undefined;
          this.d.observer?.onRecovery?.(appId, stillRefused ? 'failed' : 'recovered');
          this.d.log.info(
            { appId, path: url.pathname, errcode: refused, recovered: !stillRefused },
            'gateway: WeChat refused the token; refreshed it and repeated the call',
          );
        } else this.d.observer?.onRecovery?.(appId, 'failed');
      }
      result = await this.#reply(res, up);
    } catch (err) {
      this.d.log.warn(
        { appId, path: url.pathname, err: (err as Error).message },
        'gateway: forward failed',
      );
      result = res.headersSent
        ? (res.destroy(), 'cut')
        : sendJson(res, answer('busy', 'upstream did not answer in time'), 'upstream_error');
    }
    this.d.observer?.onForwarded?.(result, performance.now() - started);
    return result;
  }

  /**
   * Sends the call upstream. When the reply is whole in memory and `answerNow` answers it there
   * and then, resolves ANSWERED; otherwise resolves the reply.
   */
  #call(
    req: IncomingMessage,
    url: URL,
    body: Buffer,
    answerNow?: (up: Upstream) => boolean,
  ): Promise<Upstream | typeof ANSWERED> {
    const target = new URL(url.pathname + url.search, this.#base);
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const v = req.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    if (body.length > 0 || req.method === 'POST') headers['content-length'] = String(body.length);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const up = send(target, { method: req.method ?? 'GET', headers, agent: this.#agent });
      // The whole call, reply streamed through included, within gateway.timeoutMs. A plain
      // timer: AbortSignal.timeout() costs ~0.1 ms per call on this path (measured).
      const deadline = setTimeout(
        () => up.destroy(new Error(`no complete answer in ${this.d.timeoutMs} ms`)),
        this.d.timeoutMs,
      );
      const settle = (): void => clearTimeout(deadline);
      up.once('close', settle);
      up.once('error', (err) => {
        settle();
        reject(err);
      });
      up.once('response', (r) => {
        r.once('close', settle);
        const type = String(r.headers['content-type'] ?? '');
        const length = Number(r.headers['content-length'] ?? NaN);
        const mayBeJson = type === '' || /json|text\/plain|text\/html/.test(type);
        if (!mayBeJson || length > INSPECT_BYTES) {
          resolve({ status: r.statusCode ?? 502, headers: r.headers, body: r });
          return;
        }
        readUpTo(r, INSPECT_BYTES, length, (err, read) => {
          if (err || !read) {
            reject(err ?? new Error('reply unreadable'));
            return;
          }
          const up: Upstream = {
            status: r.statusCode ?? 502,
            headers: r.headers,
            // Longer than announced or than the bound: pass on what was read, then the rest.
            body: read.complete ? read.data : prepend(read.data, r),
          };
          // Inside a stream event: a throw here must reach forward(), not the process.
          try {
            resolve(answerNow?.(up) ? ANSWERED : up);
          } catch (e) {
            reject(e as Error);
          }
        });
      });
      up.end(body);
    });
  }

  #replyWhole(res: ServerResponse, up: Upstream, body: Buffer): string {
    const headers = replyHeaders(up);
    headers['content-length'] = String(body.length);
    res.writeHead(up.status, headers);
    res.end(body);
    return 'forwarded';
  }

  async #reply(res: ServerResponse, up: Upstream): Promise<string> {
    if (Buffer.isBuffer(up.body)) return this.#replyWhole(res, up, up.body);
    const headers = replyHeaders(up);
    const announced = Number(up.headers['content-length'] ?? NaN);
    if (announced > this.d.maxResponseBytes) {
      up.body.destroy();
      return sendJson(
        res,
        answer('tooLarge', 'the reply is larger than gateway.maxResponseBytes'),
        'too_large',
      );
    }
    if (Number.isFinite(announced)) headers['content-length'] = String(announced);
    res.writeHead(up.status, headers);
    let seen = 0;
    const source = up.body;
    return new Promise((resolve) => {
      source.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > this.d.maxResponseBytes) {
          source.destroy();
          res.destroy();
          resolve('cut');
          return;
        }
        if (!res.write(chunk)) source.pause();
      });
      res.on('drain', () => source.resume());
      source.once('end', () => {
        res.end();
        resolve('forwarded');
      });
      source.once('error', () => {
        res.destroy();
        resolve('cut');
      });
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** The errcode of a small JSON reply refusing the token, if it is one. */
function refusedToken(up: Upstream): number | undefined {
  if (!Buffer.isBuffer(up.body) || up.body.length === 0) return undefined;
  try {
    const parsed = JSON.parse(up.body.toString('utf8')) as { errcode?: unknown };
    return typeof parsed.errcode === 'number' && TOKEN_REFUSED.has(parsed.errcode)
      ? parsed.errcode
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads a reply up to `limit` bytes, then calls `done` (from inside the stream's event, not a
 * tick later). Complete as soon as the announced length has arrived, or at 'end' without one.
 */
function readUpTo(
  stream: IncomingMessage,
  limit: number,
  announced: number,
  done: (err: Error | undefined, read?: { data: Buffer; complete: boolean }) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const stop = (complete: boolean): void => {
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('error', onError);
    done(undefined, {
      data: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
      complete,
    });
  };
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    size += chunk.length;
    // Everything announced is here: the stream's 'end' is drained unheard.
    if (size === announced) stop(true);
    else if (size > limit) {
      stream.pause();
      stop(false);
    }
  };
  const onEnd = (): void => stop(true);
  const onError = (err: Error): void => done(err);
  stream.on('data', onData);
  stream.once('end', onEnd);
  stream.once('error', onError);
}

/** The reply headers passed back to the SDK. */
function replyHeaders(up: Upstream): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_REPLY_HEADERS) {
    const v = up.headers[name];
    if (typeof v === 'string') headers[name] = v;
  }
  return headers;
}

/** A stream that yields `head` and then the rest of `rest` (what readUpTo left unread). */
function prepend(head: Buffer, rest: IncomingMessage): IncomingMessage {
  rest.unshift(head);
  return rest;
}
