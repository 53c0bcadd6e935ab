import type { AppState } from '../refresher/app-status-book.js';
import type { TicketType } from '../shared/tickets.js';
import type { AppFacts, AppStatusReport } from '../service/token-service.js';
import type { TicketFacts, TicketStatusReport } from '../service/ticket-service.js';

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

/** An app shown with per-app series: its report and its tickets' reports. */
export interface ShownApp {
  readonly app: AppStatusReport;
  readonly tickets: readonly TicketStatusReport[];
}

export interface SelectionOptions {
  /** Kind name of each ticket type (jsapi_ticket...). */
  readonly ticketKind: (type: TicketType) => string;
  /** Apps with a failure event (refresh, gateway recovery, code2session) and when (ms). */
  readonly troubleAt: ReadonlyMap<string, number>;
  readonly limit: number;
  readonly now: number;
  /** The reports of an app that is shown; undefined once it left. */
  readonly shown: (appId: string) => ShownApp | undefined;
}

/**
 * The selection, fed facts a batch at a time (a scrape reads 100,000 apps in pages, letting
 * the event loop run between them): each app's tickets, then the app. It keeps nothing per
 * app that is not shown: facts may be one object refilled for every app, and the reports
 * are built in `result()`, for the shown apps only, so a scrape builds at most `limit`
 * reports whatever the state of the fleet (their state is read then, a moment after the
 * counts).
 */
export class AppSeriesSelection {
  readonly #kinds = new Map<string, KindAggregate>();
  readonly #access = newAggregate();
  readonly #best: BoundedMax;
  /** The most urgent ticket rank of the app being fed, when below 2. */
  #ticketRank: { appId: string; rank: number } | undefined;
  #forceBudgetMin: number | undefined;
  #apps = 0;

  constructor(private readonly o: SelectionOptions) {
    this.#kinds.set('access_token', this.#access);
    this.#best = new BoundedMax(o.limit);
  }

  /** One ticket of the app whose `addApp` comes next. */
  addTicket(t: TicketFacts): void {
    const kind = this.o.ticketKind(t.type);
    let k = this.#kinds.get(kind);
    if (!k) this.#kinds.set(kind, (k = newAggregate()));
    count(k, t);
    const r = rankOf(t, this.o.now);
    if (r < 2 && (this.#ticketRank?.appId !== t.appId || r < this.#ticketRank.rank)) {
      this.#ticketRank = { appId: t.appId, rank: r };
    }
  }

  addApp(a: AppFacts): void {
    const { now, troubleAt } = this.o;
    this.#apps++;
    count(this.#access, a);
    if (this.#forceBudgetMin === undefined || a.forceBudgetRemaining < this.#forceBudgetMin) {
      this.#forceBudgetMin = a.forceBudgetRemaining;
    }
    let rank = rankOf(a, now);
    if (this.#ticketRank?.appId === a.appId) rank = Math.min(rank, this.#ticketRank.rank);
    this.#ticketRank = undefined;
    if (rank === 2) {
      const troubled = troubleAt.size > 0 ? troubleAt.get(a.appId) : undefined;
      if (
        (troubled !== undefined && now - troubled < ATTENTION.troubleMemoryMs) ||
        a.forceBudgetRemaining < ATTENTION.forceBudgetBelow
      ) {
        rank = 1;
      }
    }
    this.#best.offer(rank, a.appId);
  }

  result(): AppSeriesSnapshot {
    const shown = this.#best.items().flatMap((appId) => this.o.shown(appId) ?? []);
    return {
      apps: shown.map((s) => s.app),
      tickets: shown.flatMap((s) => s.tickets),
      shown: new Set(shown.map((s) => s.app.appId)),
      omitted: this.#apps - shown.length,
      kinds: this.#kinds,
      forceBudgetMin: this.#forceBudgetMin,
    };
  }
}

/** Receives a scan's facts: an app's tickets, then the app. */
export interface ScanVisitor {
  ticket(t: TicketFacts): void;
  app(a: AppFacts): void;
}

/** Where a scrape reads every app from, a page at a time. */
export interface AppScan {
  /**
   * At most `limit` apps after `after` (exclusive; from the first when undefined), in a
   * stable order, to `visit`; facts objects may be refilled between calls. Returns the last
   * app visited and whether more follow.
   */
  scan(
    after: string | undefined,
    limit: number,
    visit: ScanVisitor,
  ): { last: string | undefined; more: boolean };
  shown(appId: string): ShownApp | undefined;
}

/** A scan over reports already built (tests and the callers without a paged source). */
export function listScan(
  apps: readonly AppStatusReport[],
  tickets: readonly TicketStatusReport[],
): AppScan {
  const ticketsOf = new Map<string, TicketStatusReport[]>();
  for (const t of tickets) {
    const list = ticketsOf.get(t.appId);
    if (list) list.push(t);
    else ticketsOf.set(t.appId, [t]);
  }
  const index = new Map(apps.map((a, i) => [a.appId, i]));
  return {
    scan(after, limit, visit) {
      const from = after === undefined ? 0 : (index.get(after) ?? apps.length) + 1;
      const page = apps.slice(from, from + limit);
      for (const a of page) {
        for (const t of ticketsOf.get(a.appId) ?? []) visit.ticket(t);
        visit.app(a);
      }
      return { last: page.at(-1)?.appId, more: from + limit < apps.length };
    },
    shown(appId) {
      const i = index.get(appId);
      return i === undefined ? undefined : { app: apps[i]!, tickets: ticketsOf.get(appId) ?? [] };
    },
  };
}

function count(k: KindAggregate, v: AppFacts | TicketFacts): void {
  k.states[v.state]++;
  const expiresAt = v.token?.expiresAt;
  if (expiresAt !== undefined && (k.earliestExpiry === undefined || expiresAt < k.earliestExpiry)) {
    k.earliestExpiry = expiresAt;
  }
  if (v.fetchesToday > k.maxFetchesToday) k.maxFetchesToday = v.fetchesToday;
}

function rankOf(v: AppFacts | TicketFacts, now: number): number {
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
  readonly #heap: { rank: number; appId: string }[] = [];

  constructor(private readonly limit: number) {}

  offer(rank: number, appId: string): void {
    if (this.limit === 0) return;
    const h = this.#heap;
    if (h.length < this.limit) {
      h.push({ rank, appId });
      this.#up(h.length - 1);
    } else if (before(rank, appId, h[0]!.rank, h[0]!.appId)) {
      h[0] = { rank, appId };
      this.#down(0);
    }
  }

  /** In (rank, appId) order. */
  items(): string[] {
    return [...this.#heap]
      .sort((x, y) => (before(x.rank, x.appId, y.rank, y.appId) ? -1 : 1))
      .map((e) => e.appId);
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

function after(a: { rank: number; appId: string }, b: { rank: number; appId: string }): boolean {
  return before(b.rank, b.appId, a.rank, a.appId);
}
