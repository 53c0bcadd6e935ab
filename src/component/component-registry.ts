import type { AppDirectory } from '../apps/app-directory.js';
import type { ComponentConfig } from '../config/config.js';
import type { Clock } from '../shared/clock.js';
import { ComponentNotFoundError } from '../shared/errors.js';
import { authorizerApp } from './authorizer-app.js';
import type { AuthorizerEntry, ComponentStore } from './component-store.js';

export interface ComponentRegistryDeps {
  readonly components: readonly ComponentConfig[];
  readonly directory: AppDirectory;
  readonly store: ComponentStore;
  readonly clock: Clock;
  readonly log: (level: 'info' | 'warn', obj: object, msg: string) => void;
}

/** Authorizers applied between two turns of the event loop while syncing. */
const SLICE = 2_000;
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * When an authorizer authorized, in whole seconds since the epoch: WeChat's own precision
 * (CreateTime, auth_time), and a small integer V8 keeps inline in the map. An entry object with
 * a millisecond timestamp was two heap objects per authorizer (the entry and its boxed number),
 * 200,000 at 100,000 authorizers for every full collection to mark.
 */
const toSeconds = (ms: number): number => Math.floor(ms / 1000);

/** One platform's authorizers as this replica knows them, with a sorted index for paging. */
interface Members {
  /** Authorizer app id → authorized at (seconds, see toSeconds). */
  readonly byId: Map<string, number>;
  sorted: string[] | undefined;
  version: string | undefined;
}

/**
 * Which authorizers each third-party platform has, cluster-wide. A change made here (an
 * authorization event, RecoverAuthorizers) is written to the store first and then applied to
 * this replica's app directory at once; other replicas see it through `sync`, which polls
 * each platform's membership version (one small read) and reloads the list only when it
 * changed. The store is the truth: an authorizer is served once its refresh token is stored.
 */
export class ComponentRegistry {
  readonly #components: ReadonlyMap<string, ComponentConfig>;
  readonly #members = new Map<string, Members>();
  /** Per platform, authorizers served here that the store no longer lists (after a loss). */
  readonly lost = new Map<string, number>();

  constructor(private readonly deps: ComponentRegistryDeps) {
    this.#components = new Map(deps.components.map((c) => [c.componentAppId, c]));
    for (const c of deps.components) {
      this.#members.set(c.componentAppId, {
        byId: new Map(),
        sorted: undefined,
        version: undefined,
      });
    }
  }

  get components(): ReadonlyMap<string, ComponentConfig> {
    return this.#components;
  }

  component(componentAppId: string): ComponentConfig {
    const c = this.#components.get(componentAppId);
    if (!c) throw new ComponentNotFoundError(componentAppId);
    return c;
  }

  /** Stores the authorizer with its refresh token, then serves it (a re-authorization too). */
  async join(componentAppId: string, entry: AuthorizerEntry, refreshToken: string): Promise<void> {
    await this.deps.store.putAuthorizer(componentAppId, entry, refreshToken);
    this.#apply(componentAppId, entry);
  }

  /** Removes the authorizer from the store, then stops serving it. */
  async leave(componentAppId: string, authorizerAppId: string): Promise<void> {
    this.component(componentAppId);
    await this.deps.store.removeAuthorizer(componentAppId, authorizerAppId);
    this.#drop(componentAppId, authorizerAppId);
  }

  /** The platform's authorizers in appid order, `limit` after `after` (exclusive); times in whole seconds. */
  page(componentAppId: string, after: string, limit: number): AuthorizerEntry[] {
    this.component(componentAppId);
    const m = this.#members.get(componentAppId)!;
    m.sorted ??= [...m.byId.keys()].sort();
    let lo = 0;
    let hi = m.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (m.sorted[mid]! <= after) lo = mid + 1;
      else hi = mid;
    }
    return m.sorted
      .slice(lo, lo + limit)
      .map((id) => ({ authorizerAppId: id, authorizedAt: m.byId.get(id)! * 1000 }));
  }

  count(componentAppId: string): number {
    return this.#members.get(componentAppId)?.byId.size ?? 0;
  }

  /**
   * Brings this replica in line with the store: for each platform whose membership version
   * changed, reloads the list and adds or removes the difference. Throws when the store is
   * unreachable (the caller retries; what is served stays as it was).
   */
  async sync(): Promise<void> {
    for (const [componentAppId, m] of this.#members) {
      const version = await this.deps.store.membershipVersion(componentAppId);
      if (version === m.version) continue;
      const { present, removed } = await this.deps.store.loadAuthorizers(componentAppId);
      const listed = new Set<string>();
      for (const [i, entry] of present.entries()) {
        listed.add(entry.authorizerAppId);
        this.#apply(componentAppId, entry);
        // 100,000 authorizers are applied in slices: other work (GetToken) runs in between.
        if (i % SLICE === SLICE - 1) await yieldToLoop();
      }
      // Only an unauthorization (a tombstone) ends serving. An authorizer the store no longer
      // lists at all was lost with the store (a flush, a failover to an empty replica): its
      // token keeps being served while it lives, and RecoverAuthorizers brings back the
      // refresh tokens.
      let lost = 0;
      for (const id of [...m.byId.keys()]) {
        if (removed.has(id)) this.#drop(componentAppId, id);
        else if (!listed.has(id)) lost++;
      }
      this.lost.set(componentAppId, lost);
      if (lost > 0) {
        this.deps.log(
          'warn',
          { componentAppId, lost },
          'the store lost authorizers this replica serves: run RecoverAuthorizers (wxtoken component recover)',
        );
      }
      m.version = version;
    }
  }

  /** Syncs every `intervalMs` until `signal` aborts; a failed pass is retried next interval. */
  async run(signal: AbortSignal, intervalMs: number): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.deps.clock.sleep(intervalMs, signal);
      } catch {
        return;
      }
      await this.sync().catch((err: unknown) =>
        this.deps.log('warn', { err }, 'authorizer list not readable from the store; retrying'),
      );
    }
  }

  #apply(componentAppId: string, entry: AuthorizerEntry): void {
    const m = this.#members.get(componentAppId);
    if (!m) return;
    if (!m.byId.has(entry.authorizerAppId)) m.sorted = undefined;
    m.byId.set(entry.authorizerAppId, toSeconds(entry.authorizedAt));
    const added = this.deps.directory.add(
      authorizerApp(this.component(componentAppId), entry.authorizerAppId),
    );
    const served = this.deps.directory.get(entry.authorizerAppId);
    if (!added && served?.component !== componentAppId) {
      // An id configured under apps[] (or another platform's authorizer) keeps its source.
      this.deps.log(
        'warn',
        { appId: entry.authorizerAppId, componentAppId },
        'authorizer not served through this platform: the app id is already served otherwise',
      );
    }
  }

  #drop(componentAppId: string, authorizerAppId: string): void {
    const m = this.#members.get(componentAppId);
    if (m?.byId.delete(authorizerAppId)) m.sorted = undefined;
    if (this.deps.directory.get(authorizerAppId)?.component === componentAppId) {
      this.deps.directory.remove(authorizerAppId);
    }
  }
}
