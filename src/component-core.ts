import type { AppDirectory } from './apps/app-directory.js';
import { fixedApps } from './apps/app-directory.js';
import { componentApp } from './component/authorizer-app.js';
import { authorizerCode2Session } from './component/authorizer-login.js';
import { AuthorizerTokens, type ComponentTokens } from './component/authorizer-tokens.js';
import { ComponentEvents } from './component/component-events.js';
import { ComponentRegistry } from './component/component-registry.js';
import { ComponentService } from './component/component-service.js';
import type { ComponentStore } from './component/component-store.js';
import { componentTokenKind } from './component/component-token-kind.js';
import type { ComponentConfig, Config } from './config/config.js';
import { createCredentialEngine } from './refresher/credential-engine.js';
import type { RefreshEvent } from './refresher/credential-refresher.js';
import { engineReader } from './service/live-reader.js';
import type { Clock, Random } from './shared/clock.js';
import type { TokenCache } from './token/token-cache.js';
import type { RefreshLocks, TokenStore } from './token/token-store.js';
import type { AppStatusBook } from './refresher/app-status-book.js';
import type { ComponentClient } from './wechat/component-api.js';

export interface ComponentCoreDeps {
  readonly clock: Clock;
  readonly random: Random;
  readonly components: readonly ComponentConfig[];
  readonly directory: AppDirectory;
  readonly client: ComponentClient;
  readonly store: ComponentStore;
  /** The component tokens' own records and locks. */
  readonly tokenStore: TokenStore;
  readonly locks: RefreshLocks;
  readonly refresh: Config['refresh'];
  readonly maxConcurrentFetches: number;
  readonly lockTtlMs: number;
  readonly maxWaitMs: number;
  readonly storeHealth?: () => string;
  readonly onRefresh?: (event: RefreshEvent) => void;
  readonly log: (level: 'info' | 'warn' | 'error', obj: object, msg: string) => void;
}

export type ComponentCore = ReturnType<typeof createComponentCore>;

/** How often a platform's authorizers may be recovered automatically (api_get_authorizer_list). */
const AUTO_RECOVER_MS = 5 * 60 * 1000;

/**
 * Third-party platforms on the credential engine: one engine for the component tokens
 * (fetched with the newest pushed verify ticket), the registry of authorizers (apps that join
 * and leave at run time), the authorizer-token fetch the access_token engine calls for them,
 * the events endpoint's handler and ComponentService. The access_token side is wired after
 * this (it needs `authorizerFetch`); `attach` then gives the service its view of it.
 */
export function createComponentCore(d: ComponentCoreDeps) {
  const configs = new Map(d.components.map((c) => [c.componentAppId, c]));
  let service: ComponentService | undefined;
  /** Per platform, the CreateTime (s) of the newest verify ticket this replica has seen. */
  const seenTickets = new Map<string, number>();
  const engine = createCredentialEngine({
    kind: componentTokenKind(configs, d.client, d.store),
    clock: d.clock,
    random: d.random,
    apps: fixedApps(d.components.map(componentApp)),
    store: d.tokenStore,
    locks: d.locks,
    refresh: d.refresh,
    maxConcurrentFetches: d.maxConcurrentFetches,
    lockTtlMs: d.lockTtlMs,
    ...(d.onRefresh ? { onRefresh: d.onRefresh } : {}),
    log: d.log,
  });
  const reader = engineReader(engine, {
    clock: d.clock,
    maxWaitMs: d.maxWaitMs,
    noun: 'component token',
    storeHealth: d.storeHealth,
  });
  const tokens: ComponentTokens = {
    live: (id) => reader.get(id),
    recover: async (id, rejected) => {
      const app = engine.apps.get(id)!;
      const r = await engine.refresher.refresh(app, 'force', { ifGeneration: rejected.generation });
      return r.token;
    },
  };
  const registry = new ComponentRegistry({
    components: d.components,
    directory: d.directory,
    store: d.store,
    clock: d.clock,
    log: d.log,
  });
  // A refresh token missing from the store means the store lost it: recover the platform's
  // authorizers from WeChat at once, at most once per AUTO_RECOVER_MS per platform.
  const lastRecover = new Map<string, number>();
  const authorizers = new AuthorizerTokens({
    client: d.client,
    store: d.store,
    tokens,
    log: d.log,
    recover: async (id) => {
      const last = lastRecover.get(id);
      if (!service || (last !== undefined && d.clock.now() - last < AUTO_RECOVER_MS)) return false;
      lastRecover.set(id, d.clock.now());
      d.log(
        'warn',
        { componentAppId: id },
        'refresh token missing from the store: recovering authorizers from WeChat',
      );
      return service.recoverAuthorizers(id).then(
        () => true,
        (err: unknown) => {
          d.log('error', { componentAppId: id, err }, 'automatic RecoverAuthorizers failed');
          return false;
        },
      );
    },
  });
  const events = new ComponentEvents({
    registry,
    store: d.store,
    client: d.client,
    tokens,
    clock: d.clock,
    // A new ticket ends a 61005/61006 wait at once instead of after configErrorRetryMs.
    onVerifyTicket: (id, createTime) => {
      if (createTime > (seenTickets.get(id) ?? -1)) seenTickets.set(id, createTime);
      if (engine.status.blockingKind(id) === 'config' || !engine.cache.get(id)) {
        engine.status.clearFailure(id);
        engine.scheduler.wake(id);
      }
    },
  });
  return {
    engine,
    registry,
    events,
    tokens,
    authorizerFetch: authorizers.fetch,
    /** An authorizer's login exchange (its mini program's wx.login code), through its platform. */
    code2Session: authorizerCode2Session({ client: d.client, tokens }),
    /** For /metrics: each platform's component token, newest verify ticket and authorizers. */
    metricsView() {
      const now = d.clock.now();
      return [...configs.keys()].map((id) => {
        const seen = seenTickets.get(id);
        return {
          componentAppId: id,
          token: engine.status.view(id, engine.cache.get(id), now),
          verifyTicketAt: seen === undefined ? undefined : seen * 1000,
          authorizers: registry.count(id),
          lost: registry.lost.get(id) ?? 0,
        };
      });
    },
    /**
     * Every replica's work: follows the authorizer list, and tells this replica's schedule of
     * a verify ticket another replica received (a push reaches one replica; the leader must
     * learn of it to end a wait for the first ticket or a 61005/61006).
     */
    async follow(signal: AbortSignal, intervalMs: number): Promise<void> {
      const tickets = async (): Promise<void> => {
        for (const id of configs.keys()) {
          const t = await d.store.verifyTicket(id).catch(() => undefined);
          if (!t || t.createTime <= (seenTickets.get(id) ?? -1)) continue;
          seenTickets.set(id, t.createTime);
          if (engine.status.blockingKind(id) === 'config' || !engine.cache.get(id)) {
            engine.status.clearFailure(id);
            engine.scheduler.wake(id);
          }
        }
      };
      await Promise.all([
        registry.run(signal, intervalMs),
        (async () => {
          while (!signal.aborted) {
            await tickets();
            await d.clock.sleep(intervalMs, signal).catch(() => undefined);
          }
        })(),
      ]);
    },
    /** Gives ComponentService the access_token engine's view of authorizers. */
    attach(authorizerTokens: { cache: TokenCache; status: AppStatusBook }): ComponentService {
      service = new ComponentService({
        clock: d.clock,
        registry,
        client: d.client,
        tokens,
        authorizerTokens,
        log: d.log,
      });
      return service;
    },
  };
}
