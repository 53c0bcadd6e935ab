import type { AppConfig } from '../config/config.js';

/** An app's config less its id: the settings a platform's authorizers share. */
export type AppSettings = Omit<AppConfig, 'appId'>;

/** Told when an app joins or leaves the directory. */
export interface AppDirectoryListener {
  added?(app: AppConfig): void;
  removed?(app: AppConfig): void;
}

/** What the engines, services and stores read: the apps served right now. */
export interface AppSet {
  get(appId: string): AppConfig | undefined;
  /**
   * What the app's config says besides its id, read without making a config (`get` makes one
   * per read for an authorizer): for loops over every app, e.g. a scrape's. For an authorizer
   * it is its platform's shared config, so never spread it into an app's config.
   */
  shared(appId: string): AppSettings | undefined;
  has(appId: string): boolean;
  /** A snapshot: apps added or removed while iterating do not disturb it. */
  list(): AppConfig[];
  readonly size: number;
  subscribe(listener: AppDirectoryListener): () => void;
  /** A live view of the apps that satisfy `accept` (e.g. those holding a jsapi ticket). */
  filter(accept: (app: AppConfig) => boolean): AppSet;
}

/**
 * Every app this replica serves: the configured ones (fixed for the process's life) and the
 * authorizers of third-party platforms, which join and leave at run time (an authorization
 * event, RecoverAuthorizers, another replica's change seen in the store). Everything that
 * used to take the configured list takes this and follows its changes, so an authorizer is
 * an app like any other for GetToken, ForceRefresh, WatchToken, the gateway and the leader's
 * schedule.
 */
export class AppDirectory implements AppSet {
  /**
   * appId -> its config, or an authorizer's "family": an earlier authorizer of its platform whose
   * config is the same but for the app id (`authorizerApp`). A family stands for its members,
   * whose configs are made on each read (`#config`): with 100,000 authorizers a config object per
   * app was 100,000 heap objects for every full collection to mark. So reads return equal
   * configs, not the same object; nothing relies on a config's identity (refresh-scheduler.ts).
   */
  readonly #apps = new Map<string, AppConfig>();
  /** Each platform's family: the config of its first authorizer (platforms are configured). */
  readonly #families = new Map<string, AppConfig>();
  readonly #fixed = new Set<string>();
  readonly #listeners = new Set<AppDirectoryListener>();

  constructor(configured: readonly AppConfig[]) {
    for (const app of configured) {
      this.#apps.set(app.appId, app);
      this.#fixed.add(app.appId);
    }
  }

  get size(): number {
    return this.#apps.size;
  }

  get(appId: string): AppConfig | undefined {
    const app = this.#apps.get(appId);
    return app === undefined ? undefined : this.#config(appId, app);
  }

  shared(appId: string): AppSettings | undefined {
    return this.#apps.get(appId);
  }

  has(appId: string): boolean {
    return this.#apps.has(appId);
  }

  list(): AppConfig[] {
    const apps: AppConfig[] = [];
    for (const [appId, app] of this.#apps) apps.push(this.#config(appId, app));
    return apps;
  }

  /**
   * Adds an app; false when one with that id is already served (a configured app is never
   * replaced by an authorizer of the same id: the configuration wins).
   */
  add(app: AppConfig): boolean {
    if (this.#apps.has(app.appId)) return false;
    this.#apps.set(app.appId, this.#familyOf(app));
    for (const l of this.#listeners) l.added?.(app);
    return true;
  }

  /** Removes a run-time app; configured apps stay (false). */
  remove(appId: string): boolean {
    const app = this.get(appId);
    if (!app || this.#fixed.has(appId)) return false;
    this.#apps.delete(appId);
    for (const l of this.#listeners) l.removed?.(app);
    return true;
  }

  subscribe(listener: AppDirectoryListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  filter(accept: (app: AppConfig) => boolean): AppSet {
    return new FilteredApps(this, accept);
  }

  /** The config to store for a run-time app: its platform's family when it is alike. */
  #familyOf(app: AppConfig): AppConfig {
    if (app.component === undefined) return app;
    const family = this.#families.get(app.component);
    if (family === undefined) {
      this.#families.set(app.component, app);
      return app;
    }
    return alikeButForId(family, app) ? family : app;
  }

  #config(appId: string, stored: AppConfig): AppConfig {
    // Spread, then the id: the same properties in the same order as the member's own config.
    return stored.appId === appId ? stored : { ...stored, appId };
  }
}

/** Whether two configs have the same properties with the same values (arrays: the same one). */
function alikeButForId(a: AppConfig, b: AppConfig): boolean {
  const x = Object.entries(a);
  if (x.length !== Object.keys(b).length) return false;
  const y = new Map<string, unknown>(Object.entries(b));
  return x.every(([k, v]) => k === 'appId' || (y.has(k) && y.get(k) === v));
}

/** The apps of a directory that satisfy a predicate, following its changes. */
class FilteredApps implements AppSet {
  constructor(
    private readonly all: AppSet,
    private readonly accept: (app: AppConfig) => boolean,
  ) {}

  get size(): number {
    return this.list().length;
  }

  get(appId: string): AppConfig | undefined {
    const app = this.all.get(appId);
    return app && this.accept(app) ? app : undefined;
  }

  shared(appId: string): AppSettings | undefined {
    return this.get(appId);
  }

  has(appId: string): boolean {
    return this.get(appId) !== undefined;
  }

  list(): AppConfig[] {
    return this.all.list().filter(this.accept);
  }

  filter(accept: (app: AppConfig) => boolean): AppSet {
    return new FilteredApps(this, accept);
  }

  subscribe(listener: AppDirectoryListener): () => void {
    return this.all.subscribe({
      added: (app) => {
        if (this.accept(app)) listener.added?.(app);
      },
      removed: (app) => {
        if (this.accept(app)) listener.removed?.(app);
      },
    });
  }
}

/** A fixed set (tests, tools): the configured apps and nothing that joins later. */
export function fixedApps(apps: readonly AppConfig[]): AppSet {
  return new AppDirectory(apps);
}
