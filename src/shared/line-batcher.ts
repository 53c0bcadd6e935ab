import type { Clock, TimerHandle } from './clock.js';

/** Where batches go: pino's asynchronous stdout (SonicBoom) in the server. */
export interface LineSink {
  write(chunk: string): boolean;
  flushSync?(): void;
}

/**
 * Groups log lines into fewer writes when they come fast, and adds no delay when they do not.
 *
 * The first line after a quiet `windowMs` is written at once (a log tailed by an operator, or
 * read by a test, shows it when it happens); lines that follow inside the window are joined and
 * written when it ends, or as soon as `maxBytes` are waiting. One asynchronous write per line
 * cost ~35 µs of CPU each in thread-pool round trips: at the 1,200 refreshes a second of a
 * 100,000-authorizer wave that was 45 % of the server's busy time (CPU profile of the
 * scale-authorizers benchmark). Batched, a wave costs one write per window.
 */
export class LineBatcher {
  #waiting: string[] = [];
  #bytes = 0;
  #window: TimerHandle | undefined;

  constructor(
    private readonly sink: LineSink,
    private readonly clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>,
    private readonly windowMs = 25,
    private readonly maxBytes = 16 * 1024,
  ) {}

  write(line: string): boolean {
    if (this.#window === undefined) {
      this.#open();
      return this.sink.write(line);
    }
    this.#waiting.push(line);
    this.#bytes += line.length;
    if (this.#bytes >= this.maxBytes) this.#drain();
    return true;
  }

  /** Everything waiting goes to the sink now (shutdown, a fatal error, the process exit). */
  flush(): void {
    if (this.#window !== undefined) this.clock.clearTimeout(this.#window);
    this.#window = undefined;
    this.#drain();
  }

  flushSync(): void {
    this.flush();
    this.sink.flushSync?.();
  }

  #open(): void {
    const handle = this.clock.setTimeout(() => {
      this.#window = undefined;
      // Lines arrived during the window: write them, and keep batching while they keep coming.
      if (this.#waiting.length > 0) {
        this.#drain();
        this.#open();
      }
    }, this.windowMs);
    handle.unref?.();
    this.#window = handle;
  }

  #drain(): void {
    if (this.#waiting.length === 0) return;
    const chunk = this.#waiting.join('');
    this.#waiting = [];
    this.#bytes = 0;
    this.sink.write(chunk);
  }
}
