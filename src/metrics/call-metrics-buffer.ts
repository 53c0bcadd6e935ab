/** Where buffered calls go: prom-client's counter and histogram (see WxtokenMetrics). */
export interface CallMetricsSink {
  count(method: string, code: string, calls: number): void;
  observe(method: string, seconds: number): void;
}

/**
 * Finished gRPC calls waiting to be added to the prom-client metrics. Recording one costs three
 * array writes; prom-client's inc and observe (label validation, label hashing, bucket search)
 * run in a tight batch when the buffer is full or a scrape collects. On a busy server this
 * costs a fraction of calling prom-client on every call among grpc-js's own work (the
 * GetToken hot path, issue 7), and a scrape still sees every finished call.
 */
export class CallMetricsBuffer {
  readonly #methods: string[];
  readonly #codes: string[];
  readonly #seconds: Float64Array;
  #length = 0;

  constructor(
    private readonly sink: CallMetricsSink,
    private readonly capacity = 512,
  ) {
    this.#methods = new Array<string>(capacity).fill('');
    this.#codes = new Array<string>(capacity).fill('');
    this.#seconds = new Float64Array(capacity);
  }

  add(method: string, code: string, seconds: number): void {
    const i = this.#length;
    this.#methods[i] = method;
    this.#codes[i] = code;
    this.#seconds[i] = seconds;
    this.#length = i + 1;
    if (this.#length === this.capacity) this.flush();
  }

  /** Hands every buffered call to the sink; calls of one method and code in a row are counted at once. */
  flush(): void {
    const n = this.#length;
    this.#length = 0;
    let run = 0;
    for (let i = 0; i < n; i++) {
      const method = this.#methods[i]!;
      const code = this.#codes[i]!;
      this.sink.observe(method, this.#seconds[i]!);
      run++;
      if (i + 1 === n || this.#methods[i + 1] !== method || this.#codes[i + 1] !== code) {
        this.sink.count(method, code, run);
        run = 0;
      }
    }
  }
}
