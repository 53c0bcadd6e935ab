import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { quantiles } from './report.js';

/**
 * HTTP/1.1 clients for the gateway scenario: HttpClient (node:http's own client, keep-alive
 * connections held by an Agent, as a business server's SDK holds them) for timed single
 * calls, and runHttpLoad for closed-loop load: each connection sends its next request as soon
 * as an answer is complete, keeping `inflight` requests in flight on it.
 */

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

/** A keep-alive client of at most `sockets` connections to one origin. */
export class HttpClient {
  readonly #agent: Agent;

  constructor(
    readonly origin: string,
    sockets: number,
  ) {
    this.#agent = new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  }

  get(path: string): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      const req = request(`${this.origin}${path}`, { agent: this.#agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.once('error', reject);
      });
      req.once('error', reject);
      req.end();
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** A WeChat success: HTTP 200 and JSON without a non-zero errcode. */
export function wechatOk(a: HttpAnswer): boolean {
  if (a.status !== 200) return false;
  try {
    const v = JSON.parse(a.body) as { errcode?: unknown };
    return v.errcode === undefined || v.errcode === 0;
  } catch {
    return false;
  }
}

export interface HttpLoadOptions {
  /** e.g. http://127.0.0.1:8080 */
  readonly origin: string;
  /** Path and query of every request. */
  readonly path: string;
  readonly connections: number;
  /**
   * Requests in flight per connection (pipelined, HTTP/1.1 §9.3.2), default 1. More than 1
   * costs the generator fewer writes and reads per call, so that one load core can keep the
   * server's core busy; the answers still come one by one, in order.
   */
  readonly inflight?: number;
  readonly durationMs: number;
  /** Untimed first (connections opened, JIT warm on both sides). */
  readonly warmupMs: number;
  /** Whether an answer counts as a success; default wechatOk. */
  readonly ok?: (a: HttpAnswer) => boolean;
  /** Keep every timed call's start, end and outcome (the recovery trials need them). */
  readonly keepCalls?: boolean;
}

/** One timed call; times are epoch milliseconds (fractional), comparable with Date.now(). */
export interface CallRecord {
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
}

export interface HttpLoadResult {
  readonly calls: number;
  readonly errors: number;
  readonly callsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Up to 3 answers counted as errors, for the log. */
  readonly errorSamples: readonly string[];
  /** With keepCalls: every timed call, successes and errors. */
  readonly records: readonly CallRecord[];
}

/**
 * Closed-loop GET load on `connections` keep-alive connections. The client is raw sockets
 * (node:net) writing one prepared request and reading the answer by its content-length: on
 * this 2-core machine node:http's client, on the load core, drives a bare node:http server to
 * only about 40 % of its core, so it would measure itself. Every answer must carry a
 * content-length (the gateway's and the baselines' all do; chunked answers count as errors).
 */
export async function runHttpLoad(o: HttpLoadOptions): Promise<HttpLoadResult> {
  const ok = o.ok ?? wechatOk;
  const target = new URL(o.path, o.origin);
  const requestBytes = Buffer.from(
    `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n` +
      'Connection: keep-alive\r\n\r\n',
  );
  const latencies: number[] = [];
  const records: CallRecord[] = [];
  const errorSamples: string[] = [];
  let errors = 0;
  let recording = false;
  const start = performance.now();
  const end = start + o.warmupMs + o.durationMs;
  const origin = performance.timeOrigin;
  const record = (t0: number, a: HttpAnswer | Error): void => {
    const t1 = performance.now();
    if (!recording) return;
    const good = !(a instanceof Error) && ok(a);
    if (good) latencies.push(t1 - t0);
    else {
      errors++;
      if (errorSamples.length < 3) {
        errorSamples.push(
          a instanceof Error ? String(a) : `HTTP ${a.status} ${a.body.slice(0, 200)}`,
        );
      }
    }
    if (o.keepCalls) records.push({ start: origin + t0, end: origin + t1, ok: good });
  };
  const inflight = o.inflight ?? 1;
  const connection = (): Promise<void> =>
    new Promise((resolve) => {
      const socket = connect(Number(target.port), target.hostname);
      socket.setNoDelay(true);
      let buffered: Buffer = Buffer.alloc(0);
      /** Send times of the requests in flight, oldest first (answers come in order). */
      const sent: number[] = [];
      const send = (n: number): void => {
        if (performance.now() >= end) {
          // The last answers are in: done.
          if (sent.length === 0) socket.end();
          return;
        }
        const t0 = performance.now();
        for (let i = 0; i < n; i++) sent.push(t0);
        socket.write(n === 1 ? requestBytes : Buffer.concat(Array(n).fill(requestBytes)));
      };
      socket.once('connect', () => send(inflight));
      socket.on('data', (chunk: Buffer) => {
        buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
        let answered = 0;
        for (;;) {
          const parsed = parseAnswer(buffered);
          if (!parsed) break;
          buffered = buffered.subarray(parsed.size);
          record(sent.shift()!, parsed.answer);
          answered++;
        }
        if (answered) send(answered);
      });
      socket.once('error', (err) => {
        for (const t0 of sent) record(t0, err);
        sent.length = 0;
      });
      socket.once('close', () => resolve());
    });
  const timer = setTimeout(() => (recording = true), o.warmupMs);
  try {
    await Promise.all(Array.from({ length: o.connections }, connection));
  } finally {
    clearTimeout(timer);
  }
  const { p50, p99 } = quantiles(latencies);
  return {
    calls: latencies.length,
    errors,
    callsPerSecond: latencies.length / (o.durationMs / 1000),
    p50Ms: p50,
    p99Ms: p99,
    errorSamples,
    records,
  };
}

const HEADERS_END = Buffer.from('\r\n\r\n');

/**
 * The complete HTTP/1.1 answer at the start of `buf` (by content-length) and its size in
 * bytes, or undefined while it is incomplete.
 */
function parseAnswer(buf: Buffer): { answer: HttpAnswer; size: number } | undefined {
  const headEnd = buf.indexOf(HEADERS_END);
  if (headEnd < 0) return undefined;
  const head = buf.toString('latin1', 0, headEnd);
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (!length) {
    const answer = { status: -1, body: `no content-length in ${head.slice(0, 200)}` };
    return { answer, size: buf.length };
  }
  const bodyStart = headEnd + 4;
  const bodyEnd = bodyStart + Number(length[1]);
  if (buf.length < bodyEnd) return undefined;
  return {
    answer: { status: Number(head.slice(9, 12)), body: buf.toString('utf8', bodyStart, bodyEnd) },
    size: bodyEnd,
  };
}
