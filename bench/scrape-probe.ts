import { setTimeout as sleep } from 'node:timers/promises';

/** What one scrape cost the server: its size and time, and the event-loop delay it caused. */
export interface ScrapeCost {
  readonly bytes: number;
  readonly ms: number;
  /** nodejs_eventloop_lag_p99/max_seconds of the interval that holds the scrape (seconds). */
  readonly loopP99: number;
  readonly loopMax: number;
}

/** The value of an unlabelled sample `name` in an exposition text, or NaN. */
export function sampleValue(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/**
 * Scrapes `url` `count` times, `gapMs` apart. prom-client resets its event-loop delay
 * histogram (perf_hooks.monitorEventLoopDelay, 10 ms resolution) at every scrape and reads it
 * before rendering, so scrape k+1 reports the delay of the interval that held scrape k: that is
 * the delay a scrape inflicts on every other call on the loop.
 */
export async function scrapeCosts(url: string, count: number, gapMs = 1000): Promise<ScrapeCost[]> {
  const get = async (): Promise<{ text: string; ms: number }> => {
    const t0 = performance.now();
    const res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
    const text = await res.text();
    return { text, ms: performance.now() - t0 };
  };
  await get(); // starts a fresh interval
  await sleep(gapMs);
  let prev = await get();
  const out: ScrapeCost[] = [];
  for (let i = 0; i < count; i++) {
    await sleep(gapMs);
    const next = await get();
    out.push({
      bytes: Buffer.byteLength(prev.text),
      ms: prev.ms,
      loopP99: sampleValue(next.text, 'nodejs_eventloop_lag_p99_seconds'),
      loopMax: sampleValue(next.text, 'nodejs_eventloop_lag_max_seconds'),
    });
    prev = next;
  }
  return out;
}
