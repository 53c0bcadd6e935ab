import { Gauge, type Registry } from 'prom-client';
import type { AppStatusView } from '../refresher/app-status-book.js';
import { CREDENTIAL_STATES } from './app-series-selection.js';

/** What the gauges read at scrape time, per third-party platform (a handful: no bound needed). */
export interface ComponentMetricsSource {
  /** Each platform's component token status, newest verify ticket and authorizer count. */
  components(): readonly {
    readonly componentAppId: string;
    readonly token: AppStatusView;
    /** CreateTime (ms) of the newest verify ticket this replica has seen; undefined before one. */
    readonly verifyTicketAt: number | undefined;
    readonly authorizers: number;
    /** Authorizers this replica serves that the store no longer lists (a lost store). */
    readonly lost: number;
  }[];
}

/**
 * Third-party platform metrics: the component token's state and expiry, the age of the newest
 * verify ticket (WeChat pushes every 10 minutes; a stale one means the events URL is not
 * reached), and the authorizers served. Labelled by `component` (the platforms configured),
 * never by authorizer: those are apps and follow the bounded per-app series.
 */
export function registerComponentMetrics(registry: Registry, source: ComponentMetricsSource) {
  const each = (fn: (c: ReturnType<ComponentMetricsSource['components']>[number]) => void) => {
    for (const c of source.components()) fn(c);
  };
  new Gauge({
    name: 'wxtoken_component_token_state',
    help: "1 for the component token's state in effect, 0 for the others.",
    labelNames: ['component', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      each((c) => {
        for (const state of CREDENTIAL_STATES) {
          this.set({ component: c.componentAppId, state }, c.token.state === state ? 1 : 0);
        }
      });
    },
  });
  new Gauge({
    name: 'wxtoken_component_token_expiry_timestamp_seconds',
    help: 'Expiry of the current component_access_token (unix seconds).',
    labelNames: ['component'],
    registers: [registry],
    collect() {
      this.reset();
      each((c) => {
        if (c.token.token)
          this.set({ component: c.componentAppId }, c.token.token.expiresAt / 1000);
      });
    },
  });
  new Gauge({
    name: 'wxtoken_component_verify_ticket_timestamp_seconds',
    help: 'CreateTime of the newest component_verify_ticket seen (unix seconds); WeChat pushes every 10 minutes.',
    labelNames: ['component'],
    registers: [registry],
    collect() {
      this.reset();
      each((c) => {
        if (c.verifyTicketAt !== undefined)
          this.set({ component: c.componentAppId }, c.verifyTicketAt / 1000);
      });
    },
  });
  new Gauge({
    name: 'wxtoken_component_authorizers',
    help: 'Authorizers of the platform this replica serves.',
    labelNames: ['component'],
    registers: [registry],
    collect() {
      this.reset();
      each((c) => this.set({ component: c.componentAppId }, c.authorizers));
    },
  });
  new Gauge({
    name: 'wxtoken_component_authorizers_lost',
    help: 'Authorizers served here that the store no longer lists (run RecoverAuthorizers).',
    labelNames: ['component'],
    registers: [registry],
    collect() {
      this.reset();
      each((c) => this.set({ component: c.componentAppId }, c.lost));
    },
  });
}
