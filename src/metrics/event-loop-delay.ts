import type { Histogram } from 'prom-client';

/** How often the event loop is sampled: 50 samples a second, a negligible cost. */
export const EVENT_LOOP_SAMPLE_MS = 20;

/**
 * Feeds `histogram` with how late a timer armed every EVENT_LOOP_SAMPLE_MS fires: the time the
 * event loop could not run anything (GetToken included). A stall of any length shows as one
 * sample of its length. Never reset, unlike prom-client's nodejs_eventloop_lag_*: those reset
 * perf_hooks.monitorEventLoopDelay at every scrape, and its first interval after a reset is not
 * recorded, so they miss exactly the delay a scrape causes (issue 15 item 5). Returns stop().
 */
export function sampleEventLoopDelay(
  histogram: Histogram,
  intervalMs = EVENT_LOOP_SAMPLE_MS,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  let due = performance.now() + intervalMs;
  const tick = (): void => {
    const now = performance.now();
    histogram.observe(Math.max(0, now - due) / 1000);
    due = now + intervalMs;
    timer = setTimeout(tick, intervalMs).unref();
  };
  timer = setTimeout(tick, intervalMs).unref();
  return () => clearTimeout(timer);
}
