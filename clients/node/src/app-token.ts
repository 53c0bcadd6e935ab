import { backoffDelay, type BackoffPolicy } from './backoff.js';
import {
  ClientClosedError,
  fromGrpcError,
  TokenUnavailableError,
  type WxTokenError,
} from './errors.js';
import type { Token__Output } from './generated/wxtoken/v1/Token.js';
import type { Logger } from './logger.js';
import { timestampMs } from './timestamp.js';

/** One token as the cache holds it. */
export interface CachedToken {
  readonly token: string;
  /** ms since the epoch, as the server computed it. */
  readonly expiresAt: number;
  readonly generation: bigint;
  /** When the server fetched it (ms since the epoch; 0 when absent). */
  readonly fetchedAt: number;
}

/** An open WatchToken stream, as AppToken sees it. */
export interface StreamHandle {
  cancel(): void;
}

/** What one app's cache needs from the client: narrow, so it stays testable without gRPC. */
export interface AppTokenDeps {
  readonly appId: string;
  readonly now: () => number;
  readonly random: () => number;
  readonly backoff: BackoffPolicy;
  /** A token within this many ms of its expiry is not handed out. */
  readonly marginMs: number;
  /** While the stream is down, at most one background GetToken per this many ms. */
  readonly fallbackIntervalMs: number;
  readonly log: Logger;
  openStream(onToken: (t: Token__Output) => void, onEnd: (err: unknown) => void): StreamHandle;
  getToken(): Promise<Token__Output>;
}

/** Where the stream of one app stands, for status() and tests. */
export interface AppTokenStatus {
  readonly appId: string;
  /** True once the current stream delivered a token (and until it ends). */
  readonly streaming: boolean;
  readonly expiresAt: number | null;
  readonly generation: string | null;
  /** Streams opened so far (1 + reconnects). */
  readonly streamsOpened: number;
  /** GetToken calls made so far (first use, fallbacks while the stream is down). */
  readonly getTokenCalls: number;
  readonly lastError: WxTokenError | null;
}

/**
 * The cache of one app: fed by one WatchToken stream opened on first use and reopened after it
 * ends (capped exponential backoff with full jitter); GetToken while the stream is not up.
 * Guarantee: peek() and get() never return a token at or past `expiresAt - marginMs` by the
 * injected clock, whatever the server or the network do.
 */
export class AppToken {
  #cached: CachedToken | undefined;
  #stream: StreamHandle | undefined;
  #streaming = false;
  #reconnect: NodeJS.Timeout | undefined;
  #attempt = 0;
  #fetching: Promise<void> | undefined;
  #lastFetchAt = -Infinity;
  #lastError: WxTokenError | undefined;
  #streamsOpened = 0;
  #getTokenCalls = 0;
  #closed = false;

  constructor(private readonly deps: AppTokenDeps) {}

  /** The cached token if it is live now; never does I/O (the hot path). */
  peek(): string | undefined {
    const c = this.#cached;
    return c !== undefined && this.deps.now() < c.expiresAt - this.deps.marginMs
      ? c.token
      : undefined;
  }

  /** peek(), but only while the stream is up (then the cache is the server's current token). */
  peekStreaming(): string | undefined {
    return this.#streaming ? this.peek() : undefined;
  }

  /** Starts the stream on first use (and after close of a previous one, once its backoff ran). */
  ensureStream(): void {
    if (this.#closed || this.#stream !== undefined || this.#reconnect !== undefined) return;
    this.#open();
  }

  /**
   * 1. A live cached token is returned at once; while the stream is down a background GetToken
   *    (at most one per fallbackIntervalMs) refreshes the cache behind it.
   * 2. No live token: callers wait on one shared GetToken; then the cache answers or the call
   *    fails with TokenUnavailableError naming the cause.
   */
  async get(): Promise<string> {
    this.ensureStream();
    const live = this.peek();
    if (live !== undefined) {
      if (!this.#streaming && this.deps.now() - this.#lastFetchAt >= this.deps.fallbackIntervalMs) {
        void this.#fetch();
      }
      return live;
    }
    await this.#fetch();
    if (this.#closed) throw new ClientClosedError();
    const fresh = this.peek();
    if (fresh !== undefined) return fresh;
    throw this.unavailable();
  }

  /**
   * Takes a token the server sent. Stream messages are the server's current token, in order,
   * and always win; a unary reply (GetToken, ForceRefresh) replaces the cache only when it is
   * not older than it (generation, or fetched_at: a restarted embedded-store server starts its
   * generations again), or the cache holds `replaces` or nothing live.
   */
  accept(t: Token__Output | null | undefined, source: 'stream' | 'reply', replaces?: string): void {
    const expiresAt = timestampMs(t?.expires_at);
    if (!t || !t.access_token || expiresAt === null) return;
    const generation = parseGeneration(t.generation);
    const fetchedAt = timestampMs(t.fetched_at) ?? 0;
    const cur = this.#cached;
    const take =
      source === 'stream' ||
      cur === undefined ||
      generation >= cur.generation ||
      fetchedAt > cur.fetchedAt ||
      cur.token === replaces ||
      this.deps.now() >= cur.expiresAt - this.deps.marginMs;
    if (take) this.#cached = { token: t.access_token, expiresAt, generation, fetchedAt };
  }

  /** The cached token, live or not (for withToken's "was it already replaced?"). */
  current(): CachedToken | undefined {
    return this.#cached;
  }

  status(): AppTokenStatus {
    return {
      appId: this.deps.appId,
      streaming: this.#streaming,
      expiresAt: this.#cached?.expiresAt ?? null,
      generation: this.#cached?.generation.toString() ?? null,
      streamsOpened: this.#streamsOpened,
      getTokenCalls: this.#getTokenCalls,
      lastError: this.#lastError ?? null,
    };
  }

  /** The error for "no live token", saying why. */
  unavailable(): TokenUnavailableError {
    const { appId, marginMs } = this.deps;
    const c = this.#cached;
    const why = this.#lastError
      ? `wxtoken is unreachable or refused (${this.#lastError.message})`
      : "the server's token is at or within the margin of its expiry by this client's clock";
    const cachedPart = c
      ? `; the cached token expires at ${new Date(c.expiresAt).toISOString()} (within the ${marginMs} ms margin or past)`
      : '; no token was ever cached';
    return new TokenUnavailableError(`no live token for ${appId}: ${why}${cachedPart}`, {
      appId,
      code: this.#lastError?.code ?? null,
      errcode: this.#lastError?.errcode ?? null,
      errmsg: this.#lastError?.errmsg ?? null,
      cause: this.#lastError,
      cachedExpiresAt: c?.expiresAt ?? null,
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#reconnect) clearTimeout(this.#reconnect);
    this.#reconnect = undefined;
    const s = this.#stream;
    this.#stream = undefined;
    this.#streaming = false;
    s?.cancel();
  }

  /** One GetToken at a time for this app, shared by every waiting caller. */
  #fetch(): Promise<void> {
    this.#fetching ??= (async () => {
      this.#lastFetchAt = this.deps.now();
      this.#getTokenCalls++;
      try {
        this.accept(await this.deps.getToken(), 'reply');
        if (!this.#streaming) this.#lastError = undefined;
      } catch (err) {
        this.#lastError = fromGrpcError(err, 'GetToken', this.deps.appId);
      } finally {
        this.#fetching = undefined;
      }
    })();
    return this.#fetching;
  }

  #open(): void {
    this.#streamsOpened++;
    let ended = false;
    const handle = this.deps.openStream(
      (t) => {
        if (ended || this.#closed) return;
        this.#streaming = true;
        this.#attempt = 0;
        this.#lastError = undefined;
        this.accept(t, 'stream');
      },
      (err) => {
        if (ended) return;
        ended = true;
        if (this.#stream === handle) this.#stream = undefined;
        this.#streaming = false;
        if (this.#closed) return;
        if (err !== undefined) this.#lastError = fromGrpcError(err, 'WatchToken', this.deps.appId);
        this.#scheduleReconnect();
      },
    );
    if (!ended) this.#stream = handle;
  }

  #scheduleReconnect(): void {
    const delay = backoffDelay(this.deps.backoff, this.#attempt++, this.deps.random);
    this.deps.log.debug?.('wxtoken-client: WatchToken ended; reconnecting', {
      appId: this.deps.appId,
      delayMs: delay,
      error: this.#lastError?.message,
    });
    this.#reconnect = setTimeout(() => {
      this.#reconnect = undefined;
      if (!this.#closed) this.#open();
    }, delay);
    this.#reconnect.unref();
  }
}

function parseGeneration(g: string | number | null | undefined): bigint {
  try {
    return BigInt(g ?? 0);
  } catch {
    return 0n;
  }
}
