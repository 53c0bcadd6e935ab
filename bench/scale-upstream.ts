import type { WeChatSimulator } from '../src/sim/wechat-simulator.js';

/** One /cgi-bin/token call as the simulator logged it. */
interface TokenCall {
  readonly at: number;
  readonly appId: string;
  readonly errcode: number;
}

export interface WaveStats {
  /** 0 = startup (each app's first token), k = each app's k-th scheduled refresh. */
  readonly index: number;
  readonly fetches: number;
  /** Time from the wave's 1st to its 99th percentile fetch (ms). */
  readonly spreadMs: number;
  readonly peakPerSecond: number;
}

export interface RateStats {
  readonly calls: number;
  readonly peakPerSecond: number;
  readonly meanPerSecond: number;
}

/**
 * Every upstream token call the simulator sees, read from its call log. The log keeps only
 * the last 10,000 calls, so it is drained every 100 ms: each poll takes the calls logged in
 * [cursor, now) and leaves those of the current millisecond for the next poll, so none is
 * counted twice or missed. `missed()` cross-checks the total against the per-app counters.
 */
export class UpstreamTally {
  readonly #calls: TokenCall[] = [];
  readonly #timer: NodeJS.Timeout;
  #cursor = 0;

  constructor(
    private readonly sim: WeChatSimulator,
    private readonly appIds: readonly string[],
  ) {
    this.#timer = setInterval(() => this.poll(), 100);
  }

  poll(): void {
    const now = Date.now();
    for (const c of this.sim.backend.calls({ since: this.#cursor })) {
      if (c.at >= now) continue;
      if (c.endpoint === 'token') {
        this.#calls.push({ at: c.at, appId: c.appId, errcode: c.errcode });
      }
    }
    this.#cursor = now;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.poll();
  }

  /** Calls the counters saw that the drained log did not (0 unless the log overflowed). */
  missed(): number {
    let total = 0;
    for (const id of this.appIds) total += this.sim.backend.counters(id).tokenCalls;
    return total - this.#calls.length;
  }

  get errors(): number {
    return this.#calls.filter((c) => c.errcode !== 0).length;
  }

  /** When every app first had a token at WeChat (ms), or undefined if some never did. */
  allServedAt(): number | undefined {
    const first = new Map<string, number>();
    for (const c of this.#calls)
      if (c.errcode === 0 && !first.has(c.appId)) first.set(c.appId, c.at);
    if (first.size < this.appIds.length) return undefined;
    return Math.max(...first.values());
  }

  firstCallAt(): number | undefined {
    return this.#calls[0]?.at;
  }

  /** Peak and mean calls per second over calls logged in [from, to). */
  rate(from: number, to: number): RateStats {
    const inside = this.#calls.filter((c) => c.at >= from && c.at < to).map((c) => c.at);
    return {
      calls: inside.length,
      peakPerSecond: peakPerSecond(inside),
      meanPerSecond: inside.length / Math.max(0.001, (to - from) / 1000),
    };
  }

  /** Groups each app's successful fetches by their ordinal: wave k holds every app's k-th. */
  waves(): WaveStats[] {
    const perApp = new Map<string, number>();
    const byWave: number[][] = [];
    for (const c of this.#calls) {
      if (c.errcode !== 0) continue;
      const k = perApp.get(c.appId) ?? 0;
      perApp.set(c.appId, k + 1);
      (byWave[k] ??= []).push(c.at);
    }
    return byWave.map((ats, index) => {
      const sorted = [...ats].sort((a, b) => a - b);
      const at = (q: number): number =>
        sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
      return {
        index,
        fetches: sorted.length,
        spreadMs: at(0.99) - at(0.01),
        peakPerSecond: peakPerSecond(sorted),
      };
    });
  }

  /**
   * Apps whose token expired before the next one was fetched (WeChat-side times; wxtoken's
   * expires_at is computed from its send time, a little earlier still), up to `end`.
   */
  expiredUnserved(expiresInMs: number, end: number): number {
    const last = new Map<string, number>();
    const lapsed = new Set<string>();
    for (const c of this.#calls) {
      if (c.errcode !== 0) continue;
      const prev = last.get(c.appId);
      if (prev !== undefined && c.at >= prev + expiresInMs) lapsed.add(c.appId);
      last.set(c.appId, c.at);
    }
    for (const [appId, at] of last) if (end >= at + expiresInMs) lapsed.add(appId);
    return lapsed.size;
  }
}

/** Most calls in any one wall-clock second. */
function peakPerSecond(ats: readonly number[]): number {
  const buckets = new Map<number, number>();
  let peak = 0;
  for (const at of ats) {
    const s = Math.floor(at / 1000);
    const n = (buckets.get(s) ?? 0) + 1;
    buckets.set(s, n);
    if (n > peak) peak = n;
  }
  return peak;
}
