import type { AppConfig } from '../../src/config/config.js';
import type { RefreshEvent } from '../../src/refresher/credential-refresher.js';
import type { TicketClient } from '../../src/refresher/ticket-kind.js';
import { Secret } from '../../src/shared/secret.js';
import type { TicketType } from '../../src/shared/tickets.js';
import { createTicketCore } from '../../src/ticket-core.js';
import { createTokenCore } from '../../src/token-core.js';
import { MemoryTokenStore } from '../../src/token/memory-token-store.js';
import { UNIT_REFRESH } from './core-harness.js';
import { FakeClock } from './fake-clock.js';
import { ScriptedWeChat, wechatError } from './scripted-wechat.js';

export const TICKET_APP = 'wxticket00000001';
export const PLAIN_APP = 'wxplain000000001';

/**
 * getticket as WeChat answers it, against the scripted WeChat's token validity: a token it
 * does not accept gets 40001. Counts calls, calls made with a dead token, and the most calls
 * in flight at once per app and type.
 */
export class ScriptedTickets implements TicketClient {
  calls = 0;
  deadTokenCalls = 0;
  maxInFlight = 0;
  expiresInSeconds = 7200;
  /** The token each call was made with, in order. */
  readonly usedTokens: string[] = [];
  /** Tickets issued, newest last. */
  readonly issued: string[] = [];
  gate: Promise<void> | undefined;
  #inFlight = 0;
  #seq = 0;

  constructor(
    private readonly clock: FakeClock,
    private readonly wechat: ScriptedWeChat,
  ) {}

  async getTicket(accessToken: string, type: TicketType) {
    this.calls++;
    this.usedTokens.push(accessToken);
    this.#inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.#inFlight);
    const sentAt = this.clock.now();
    try {
      await this.gate;
      if (!this.wechat.valid.has(accessToken)) {
        this.deadTokenCalls++;
        throw wechatError(40001, 'invalid credential, access_token is invalid or not latest');
      }
      const ticket = `${type}-ticket-${++this.#seq}`;
      this.issued.push(ticket);
      return { ticket, expiresInSeconds: this.expiresInSeconds, sentAt };
    } finally {
      this.#inFlight--;
    }
  }
}

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
  const tickets = new ScriptedTickets(clock, wechat);
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
    apps,
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
    apps,
    wechat: tickets,
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
  return { clock, wechat, tickets, apps, events, tokenCore, ticketCore, jsapi, lead };
}
