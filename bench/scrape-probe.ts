import { setTimeout as sleep } from 'node:timers/promises';

/** What one scrape cost the server: its size and time, and the event-loop delay it caused. */
export interface ScrapeCost {
  readonly bytes: number;
  readonly ms: number;
  /** Event-loop delay p99 and max of the interval that holds the scrape (seconds, bucket bounds). */
  readonly loopP99: number;
  readonly loopMax: number;
}

/** Cumulative wxtoken_event_loop_delay_seconds buckets of one scrape: [le, count]. */
export type LoopBuckets = readonly (readonly [number, number])[];

export function loopBuckets(text: string): LoopBuckets {
  const out: [number, number][] = [];
  for (const m of text.matchAll(
    /^wxtoken_event_loop_delay_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm,
  )) {
    out.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  }
  return out;
}

/**
 * The event-loop delay between two scrapes of wxtoken_event_loop_delay_seconds (a timer's
 * lateness, sampled every 20 ms in the server): p99 and max as the upper bounds of their
 * buckets, in seconds. The histogram is read at the start of a scrape, so the interval between
 * scrape k and k+1 holds the delay scrape k caused.
 */
export function delayBetween(prev: LoopBuckets, next: LoopBuckets): { p99: number; max: number } {
  const delta = next.map(([le, n], i) => [le, n - (prev[i]?.[1] ?? 0)] as const);
  const total = delta.at(-1)?.[1] ?? 0;
  if (total === 0) return { p99: NaN, max: NaN };
  const p99 = delta.find(([, n]) => n >= 0.99 * total)![0];
  const max = delta.find(([, n]) => n >= total)![0];
  return { p99, max };
}

/**
 * Scrapes `url` `count` times, `gapMs` apart, and reports for each scrape its size, its time
 * and the event-loop delay of the interval that held it.
 */
export async function scrapeCosts(url: string, count: number, gapMs = 1000): Promise<ScrapeCost[]> {
  const get = async (): Promise<{ text: string; ms: number }> => {
    const t0 = performance.now();
    const res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
    const text = await res.text();
    return { text, ms: performance.now() - t0 };
  };
  let prev = await get();
  const out: ScrapeCost[] = [];
  for (let i = 0; i < count; i++) {
    await sleep(gapMs);
    const next = await get();
    const d = delayBetween(loopBuckets(prev.text), loopBuckets(next.text));
    out.push({ bytes: Buffer.byteLength(prev.text), ms: prev.ms, loopP99: d.p99, loopMax: d.max });
    prev = next;
  }
  return out;
}

/** Garbage-collector pauses by kind (major, minor, incremental, weakcb) from prom-client's default histogram. */
export type GcTotals = ReadonlyMap<string, { count: number; sum: number; buckets: LoopBuckets }>;

export function gcTotals(text: string): GcTotals {
  const out = new Map<string, { count: number; sum: number; buckets: [number, number][] }>();
  const of = (kind: string) => {
    let t = out.get(kind);
    if (!t) out.set(kind, (t = { count: 0, sum: 0, buckets: [] }));
    return t;
  };
  for (const m of text.matchAll(
    /^nodejs_gc_duration_seconds_(bucket|sum|count)\{([^}]*)\} (\S+)$/gm,
  )) {
    const labels = Object.fromEntries(
      [...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!] as const),
    );
    const t = of(labels.kind ?? '?');
    if (m[1] === 'sum') t.sum = Number(m[3]);
    else if (m[1] === 'count') t.count = Number(m[3]);
    else t.buckets.push([labels.le === '+Inf' ? Infinity : Number(labels.le), Number(m[3])]);
  }
  return out;
}

/** Per kind between two scrapes: pauses, their total seconds and the longest (bucket bound). */
export function gcBetween(prev: GcTotals, next: GcTotals): string {
  const parts: string[] = [];
  for (const [kind, n] of next) {
    const p = prev.get(kind);
    const count = n.count - (p?.count ?? 0);
    if (count === 0) continue;
    const max = delayBetween(p?.buckets ?? [], n.buckets).max;
    parts.push(
      `${kind} ${count}× ${((n.sum - (p?.sum ?? 0)) * 1000).toFixed(0)} ms (max ≤ ${max * 1000} ms)`,
    );
  }
  return parts.join(', ') || 'none';
}
