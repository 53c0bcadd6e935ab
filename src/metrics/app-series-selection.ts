import type { AppState, AppStatusView } from '../refresher/app-status-book.js';
import type { AppStatusReport } from '../service/token-service.js';
import type { TicketStatusReport } from '../service/ticket-service.js';

/**
 * Which apps get per-app series in one scrape (metrics.perAppSeries), and the aggregates
 * over all apps that every scrape carries whatever that limit. One pass over the apps, no
 * sort: the limit is what keeps a 100,000-app scrape small and short (issue 15 item 5).
 *
 * The apps that matter come first, so the per-app alerts keep naming them:
 *   rank 0: a credential is unavailable, or blocked (config_error, quota_exhausted);
 *   rank 1: degraded or warming, a credential with less than ATTENTION.expiringMs of life,
 *           a failed refresh/recovery/exchange in the last ATTENTION.troubleMemoryMs,
 *           fewer than ATTENTION.forceBudgetBelow forced refreshes left, or at least
 *           ATTENTION.fetchesToday upstream fetches today;
 *   rank 2: the others.
 * Ties go by app id, so a healthy fleet shows the same apps scrape after scrape (no series
 * churn in Prometheus).
 */
export const ATTENTION = Object.freeze({
  /** The WxtokenTokenNotRefreshed threshold: a working leader refreshes with 222 s or more left. */
  expiringMs: 200_000,
  /** Longer than the 10-minute windows of the refresh alerts. */
  troubleMemoryMs: 15 * 60_000,
  /** The WxtokenForceRefreshBudgetLow threshold. */
  forceBudgetBelow: 5,
  /** Half of WeChat's classic 2,000 a day: WxtokenUpstreamQuotaNearlySpent fires at 1,500. */
  fetchesToday: 1000,
});

export const CREDENTIAL_STATES: readonly AppState[] = [
  'warming',
  'healthy',
  'degraded',
  'unavailable',
  'config_error',
  'quota_exhausted',
];

/** One credential kind (access_token, jsapi_ticket...) over all apps. */
export interface KindAggregate {
  readonly states: Record<AppState, number>;
  /** Earliest expiry among the credentials that have one (ms), or undefined. */
  earliestExpiry: number | undefined;
  maxFetchesToday: number;
}

export interface AppSeriesSnapshot {
  /** The apps shown per app, and their tickets. */
  readonly apps: readonly AppStatusReport[];
  readonly tickets: readonly TicketStatusReport[];
  readonly shown: ReadonlySet<string>;
  /** Apps left without per-app series. */
  readonly omitted: number;
  /** By credential kind name. */
  readonly kinds: ReadonlyMap<string, KindAggregate>;
  /** Fewest forced refreshes any app has left today, or undefined without apps. */
  readonly forceBudgetMin: number | undefined;
}

export interface SelectionInput {
  readonly apps: readonly AppStatusReport[];
  readonly tickets: readonly TicketStatusReport[];
  /** Kind name of each ticket report (jsapi_ticket...). */
  readonly ticketKind: (t: TicketStatusReport) => string;
  /** Apps with a failure event (refresh, gateway recovery, code2session) and when (ms). */
  readonly troubleAt: ReadonlyMap<string, number>;
  readonly limit: number;
  readonly now: number;
}

export function selectAppSeries(input: SelectionInput): AppSeriesSnapshot {
  const { now, limit } = input;
  const kinds = new Map<string, KindAggregate>();
  const count = (kind: string, v: AppStatusView): void => {
    let k = kinds.get(kind);
    if (!k) kinds.set(kind, (k = newAggregate()));
    k.states[v.state]++;
    if (v.token && (k.earliestExpiry === undefined || v.token.expiresAt < k.earliestExpiry)) {
      k.earliestExpiry = v.token.expiresAt;
    }
    if (v.fetchesToday > k.maxFetchesToday) k.maxFetchesToday = v.fetchesToday;
  };
  kinds.set('access_token', newAggregate());

  // Tickets first: an app ranks by its most urgent credential.
  const ticketRank = new Map<string, number>();
  for (const t of input.tickets) {
    count(input.ticketKind(t), t);
    const r = rankOf(t, now);
    if (r < (ticketRank.get(t.appId) ?? 2)) ticketRank.set(t.appId, r);
  }
  const best = new BoundedMax(limit);
  let forceBudgetMin: number | undefined;
  for (const a of input.apps) {
    count('access_token', a);
    if (forceBudgetMin === undefined || a.forceBudgetRemaining < forceBudgetMin) {
      forceBudgetMin = a.forceBudgetRemaining;
    }
    let rank = Math.min(rankOf(a, now), ticketRank.get(a.appId) ?? 2);
    if (rank === 2) {
      const troubled = input.troubleAt.get(a.appId);
      if (
        (troubled !== undefined && now - troubled < ATTENTION.troubleMemoryMs) ||
        a.forceBudgetRemaining < ATTENTION.forceBudgetBelow
      ) {
        rank = 1;
      }
    }
    best.offer(rank, a);
  }
  const apps = best.items();
  const shown = new Set(apps.map((a) => a.appId));
  return {
    apps,
    tickets: input.tickets.filter((t) => shown.has(t.appId)),
    shown,
    omitted: input.apps.length - apps.length,
    kinds,
    forceBudgetMin,
  };
}

function rankOf(v: AppStatusView, now: number): number {
  switch (v.state) {
    case 'unavailable':
    case 'config_error':
    case 'quota_exhausted':
      return 0;
    case 'degraded':
    case 'warming':
      return 1;
    default:
      if (v.token && v.token.expiresAt - now < ATTENTION.expiringMs) return 1;
      return v.fetchesToday >= ATTENTION.fetchesToday ? 1 : 2;
  }
}

function newAggregate(): KindAggregate {
  const states = {} as Record<AppState, number>;
  for (const s of CREDENTIAL_STATES) states[s] = 0;
  return { states, earliestExpiry: undefined, maxFetchesToday: 0 };
}

/**
 * The `limit` smallest apps by (rank, appId): a max-heap of at most `limit` entries. Most
 * apps are refused by one comparison with the heap's top, so a pass is O(n) in practice.
 */
class BoundedMax {
  readonly #heap: { rank: number; app: AppStatusReport }[] = [];

  constructor(private readonly limit: number) {}

  offer(rank: number, app: AppStatusReport): void {
    if (this.limit === 0) return;
    const h = this.#heap;
    if (h.length < this.limit) {
      h.push({ rank, app });
      this.#up(h.length - 1);
    } else if (before(rank, app.appId, h[0]!.rank, h[0]!.app.appId)) {
      h[0] = { rank, app };
      this.#down(0);
    }
  }

  /** In (rank, appId) order. */
  items(): AppStatusReport[] {
    return [...this.#heap]
      .sort((x, y) => (before(x.rank, x.app.appId, y.rank, y.app.appId) ? -1 : 1))
      .map((e) => e.app);
  }

  #up(i: number): void {
    const h = this.#heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!after(h[i]!, h[p]!)) return;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #down(i: number): void {
    const h = this.#heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < h.length && after(h[l]!, h[top]!)) top = l;
      if (r < h.length && after(h[r]!, h[top]!)) top = r;
      if (top === i) return;
      [h[i], h[top]] = [h[top]!, h[i]!];
      i = top;
    }
  }
}

function before(rankA: number, idA: string, rankB: number, idB: string): boolean {
  return rankA !== rankB ? rankA < rankB : idA < idB;
}

function after(
  a: { rank: number; app: { appId: string } },
  b: { rank: number; app: { appId: string } },
): boolean {
  return before(b.rank, b.app.appId, a.rank, a.app.appId);
}
