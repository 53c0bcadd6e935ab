import { fixedApps } from '../../src/apps/app-directory.js';
import type { AppConfig } from '../../src/config/config.js';
import type { RefreshEvent } from '../../src/refresher/credential-refresher.js';
import { Secret } from '../../src/shared/secret.js';
import type { TicketType } from '../../src/shared/tickets.js';
import { createTicketCore } from '../../src/ticket-core.js';
import { createTokenCore } from '../../src/token-core.js';
import { MemoryTokenStore } from '../../src/token/memory-token-store.js';
import { UNIT_REFRESH } from './core-harness.js';
import { FakeClock } from './fake-clock.js';
import { ScriptedWeChat } from './scripted-wechat.js';

export const TICKET_APP = 'wxticket00000001';
export const PLAIN_APP = 'wxplain000000001';

const app = (appId: string, tickets: readonly TicketType[]): AppConfig => ({
  appId,
  mode: 'classic',
  secret: new Secret('unit-secret'),
  secretSource: 'inline',
  tickets,
});

/** Token and ticket cores wired by the same factories as the server, on a fake clock. */
export function ticketHarness(o: { forceMinIntervalMs?: number } = {}) {
  const clock = new FakeClock();
  const wechat = new ScriptedWeChat(clock);
  const apps = [app(TICKET_APP, ['jsapi', 'wx_card']), app(PLAIN_APP, [])];
  const refresh = {
    ...UNIT_REFRESH,
    ...(o.forceMinIntervalMs !== undefined ? { forceMinIntervalMs: o.forceMinIntervalMs } : {}),
  };
  const events: RefreshEvent[] = [];
  const tokenStore = new MemoryTokenStore(clock);
  const tokenCore = createTokenCore({
    clock,
    random: () => 0.5,
    apps: fixedApps(apps),
    wechat,
    store: tokenStore,
    locks: tokenStore,
    refresh,
    lockTtlMs: 15_000,
    maxWaitMs: 5_000,
    isLeader: () => true,
    onRefresh: (e) => events.push(e),
  });
  tokenStore.subscribe((t) => tokenCore.cache.offer(t));
  const stores = new Map<TicketType, MemoryTokenStore>();
  const ticketCore = createTicketCore({
    clock,
    random: () => 0.5,
    apps: fixedApps(apps),
    types: ['jsapi', 'wx_card'],
    wechat,
    tokens: tokenCore,
    backend: (type) => {
      const store = new MemoryTokenStore(clock);
      stores.set(type, store);
      return { store, locks: store };
    },
    refresh,
    maxConcurrentFetches: 64,
    lockTtlMs: 30_000,
    maxWaitMs: 5_000,
    onRefresh: (e) => events.push(e),
  });
  for (const [type, engine] of ticketCore.engines) {
    stores.get(type)!.subscribe((t) => engine.cache.offer(t));
  }
  const jsapi = ticketCore.engines.get('jsapi')!;
  /** Runs every engine's schedule as the leader does; returns the stop function. */
  const lead = () => {
    const leadership = new AbortController();
    const runs = [tokenCore.engine, ...ticketCore.engines.values()].map((e) =>
      e.scheduler.run(leadership.signal),
    );
    return async () => {
      leadership.abort();
      await Promise.all(runs);
    };
  };
  /** getticket calls of both types so far. */
  const ticketCalls = (): number => wechat.ticketCalls.jsapi + wechat.ticketCalls.wx_card;
  return { clock, wechat, apps, events, tokenCore, ticketCore, jsapi, lead, ticketCalls };
}
