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

export interface SelectionOptions {
  /** Kind name of each ticket report (jsapi_ticket...). */
  readonly ticketKind: (t: TicketStatusReport) => string;
  /** Apps with a failure event (refresh, gateway recovery, code2session) and when (ms). */
  readonly troubleAt: ReadonlyMap<string, number>;
  readonly limit: number;
  readonly now: number;
}

/**
 * The selection, fed apps a batch at a time (a scrape reads 100,000 apps in pages, letting
 * the event loop run between them): each batch's tickets, then its apps.
 */
export class AppSeriesSelection {
  readonly #kinds = new Map<string, KindAggregate>();
  readonly #access = newAggregate();
  readonly #best: BoundedMax;
  /** Tickets by app, and each app's most urgent ticket rank. */
  readonly #tickets = new Map<string, TicketStatusReport[]>();
  readonly #ticketRank = new Map<string, number>();
  #forceBudgetMin: number | undefined;
  #apps = 0;

  constructor(private readonly o: SelectionOptions) {
    this.#kinds.set('access_token', this.#access);
    this.#best = new BoundedMax(o.limit);
  }

  addTickets(tickets: readonly TicketStatusReport[]): void {
    for (const t of tickets) {
      const kind = this.o.ticketKind(t);
      let k = this.#kinds.get(kind);
      if (!k) this.#kinds.set(kind, (k = newAggregate()));
      count(k, t);
      const r = rankOf(t, this.o.now);
      if (r < (this.#ticketRank.get(t.appId) ?? 2)) this.#ticketRank.set(t.appId, r);
      const list = this.#tickets.get(t.appId);
      if (list) list.push(t);
      else this.#tickets.set(t.appId, [t]);
    }
  }

  addApps(apps: readonly AppStatusReport[]): void {
    const { now, troubleAt } = this.o;
    const access = this.#access;
    const ticketed = this.#ticketRank.size > 0;
    for (const a of apps) {
      this.#apps++;
      count(access, a);
      if (this.#forceBudgetMin === undefined || a.forceBudgetRemaining < this.#forceBudgetMin) {
        this.#forceBudgetMin = a.forceBudgetRemaining;
      }
      let rank = rankOf(a, now);
      if (ticketed) rank = Math.min(rank, this.#ticketRank.get(a.appId) ?? 2);
      if (rank === 2) {
        const troubled = troubleAt.size > 0 ? troubleAt.get(a.appId) : undefined;
        if (
          (troubled !== undefined && now - troubled < ATTENTION.troubleMemoryMs) ||
          a.forceBudgetRemaining < ATTENTION.forceBudgetBelow
        ) {
          rank = 1;
        }
      }
      this.#best.offer(rank, a);
    }
  }

  result(): AppSeriesSnapshot {
    const apps = this.#best.items();
    const shown = new Set(apps.map((a) => a.appId));
    return {
      apps,
      tickets: apps.flatMap((a) => this.#tickets.get(a.appId) ?? []),
      shown,
      omitted: this.#apps - apps.length,
      kinds: this.#kinds,
      forceBudgetMin: this.#forceBudgetMin,
    };
  }
}

/** All apps at once (tests, small fleets). */
export function selectAppSeries(
  input: SelectionOptions & {
    readonly apps: readonly AppStatusReport[];
    readonly tickets: readonly TicketStatusReport[];
  },
): AppSeriesSnapshot {
  const selection = new AppSeriesSelection(input);
  selection.addTickets(input.tickets);
  selection.addApps(input.apps);
  return selection.result();
}

function count(k: KindAggregate, v: AppStatusView): void {
  k.states[v.state]++;
  const expiresAt = v.token?.expiresAt;
  if (expiresAt !== undefined && (k.earliestExpiry === undefined || expiresAt < k.earliestExpiry)) {
    k.earliestExpiry = expiresAt;
  }
  if (v.fetchesToday > k.maxFetchesToday) k.maxFetchesToday = v.fetchesToday;
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
