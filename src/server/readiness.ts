import type { GrpcServer } from '../grpc/grpc-server.js';
import type { Clock, TimerHandle } from '../shared/clock.js';
import { DueQueue } from '../refresher/due-queue.js';
import type { TokenCache } from '../token/token-cache.js';

export interface ReadinessDeps {
  readonly clock: Clock;
  readonly grpc: Pick<GrpcServer, 'setServing' | 'setAppServing'>;
  readonly appIds: readonly string[];
  readonly cache: TokenCache;
  /** Whether the app has a live token this replica would serve. */
  readonly hasLiveToken: (appId: string) => boolean;
  /** Whether this replica can serve at all (cache warm, or embedded). */
  readonly isReady: () => boolean;
  readonly onReady: (ready: boolean) => void;
}

/** How often readiness and every app's health are re-derived (a token expires without an event). */
export const READINESS_INTERVAL_MS = 1_000;

/** GetToken stops serving a token this long before its expiry at most (isServable's margin). */
const MAX_SERVING_MARGIN_MS = 1_000;

/**
 * Readiness ("") = this replica can serve: gRPC is up and the cache is warm. It never depends
 * on one app's token: an app without one is NOT_SERVING under its own name, an alert and a
 * ListApps state, not an outage. Set once at once (before the port is announced, so the first
 * probe sees the real state), again on every token applied, and on a timer of the injected clock.
 */
export function startReadiness(d: ReadinessDeps): { stop(): void } {
  // Each app is looked at again when its token may stop being servable (its expiry less the
  // largest serving margin, 1 s), not every app every second: that pass held the event loop of
  // a 100,000-app server ~80 ms each second (issue 15 item 5). The tick stays 1 s, so an app
  // still turns NOT_SERVING within a second of its token, with or without any event.
  const due = new DueQueue<string>();
  const updateApp = (appId: string): void => {
    const serving = d.hasLiveToken(appId);
    d.grpc.setAppServing(appId, serving ? 'SERVING' : 'NOT_SERVING');
    const expiresAt = serving ? d.cache.get(appId)?.expiresAt : undefined;
    if (expiresAt === undefined) due.delete(appId);
    else due.set(appId, Math.max(expiresAt - MAX_SERVING_MARGIN_MS, d.clock.now() + 1));
  };
  const update = (): void => {
    const ready = d.isReady();
    d.onReady(ready);
    d.grpc.setServing(ready ? 'SERVING' : 'NOT_SERVING');
    const now = d.clock.now();
    for (let appId = due.popDue(now); appId !== undefined; appId = due.popDue(now)) {
      updateApp(appId);
    }
  };
  for (const appId of d.appIds) updateApp(appId);
  update();
  const unsubscribe = d.appIds.map((appId) => d.cache.subscribe(appId, () => updateApp(appId)));
  let timer: TimerHandle | undefined;
  let stopped = false;
  const tick = (): void => {
    if (stopped) return;
    update();
    arm();
  };
  const arm = (): void => {
    timer = d.clock.setTimeout(tick, READINESS_INTERVAL_MS);
    timer.unref?.();
  };
  arm();
  return {
    stop: () => {
      stopped = true;
      if (timer) d.clock.clearTimeout(timer);
      for (const u of unsubscribe) u();
    },
  };
}
