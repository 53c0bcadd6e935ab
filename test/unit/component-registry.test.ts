import { describe, expect, it } from 'vitest';
import { AppDirectory } from '../../src/apps/app-directory.js';
import { ComponentRegistry } from '../../src/component/component-registry.js';
import { MemoryComponentStore, type ComponentStore } from '../../src/component/component-store.js';
import type { AppConfig, ComponentConfig } from '../../src/config/config.js';
import { createTokenCore } from '../../src/token-core.js';
import { MemoryTokenStore } from '../../src/token/memory-token-store.js';
import { Secret } from '../../src/shared/secret.js';
import { UNIT_REFRESH } from '../support/core-harness.js';
import { FakeClock } from '../support/fake-clock.js';
import { ScriptedWeChat } from '../support/scripted-wechat.js';

/**
 * The run-time app set: authorizers join and leave the directory, and everything that follows
 * it (the leader's schedule, the status book, the cache) follows them; the registry mirrors the
 * store, where only an unauthorization removes an authorizer.
 */
const COMPONENT: ComponentConfig = {
  componentAppId: 'wxcompunit000001',
  secret: new Secret('s'),
  secretSource: 'inline',
  messageToken: new Secret('t'),
  encodingAesKey: new Secret('k'.repeat(43)),
  authorizerTickets: [],
};
const CONFIGURED: AppConfig = {
  appId: 'wxconfigured0001',
  mode: 'classic',
  secret: new Secret('s'),
  secretSource: 'inline',
  tickets: [],
};

/** A store that can lose everything at once, as a flushed Redis does. */
class LosableStore implements ComponentStore {
  constructor(private inner: ComponentStore) {}
  lose(): void {
    this.inner = new MemoryComponentStore();
  }
  offerVerifyTicket: ComponentStore['offerVerifyTicket'] = (...a) =>
    this.inner.offerVerifyTicket(...a);
  verifyTicket: ComponentStore['verifyTicket'] = (...a) => this.inner.verifyTicket(...a);
  putAuthorizer: ComponentStore['putAuthorizer'] = (...a) => this.inner.putAuthorizer(...a);
  setRefreshToken: ComponentStore['setRefreshToken'] = (...a) => this.inner.setRefreshToken(...a);
  refreshToken: ComponentStore['refreshToken'] = (...a) => this.inner.refreshToken(...a);
  removeAuthorizer: ComponentStore['removeAuthorizer'] = (...a) =>
    this.inner.removeAuthorizer(...a);
  membershipVersion: ComponentStore['membershipVersion'] = (...a) =>
    this.inner.membershipVersion(...a);
  loadAuthorizers: ComponentStore['loadAuthorizers'] = (...a) => this.inner.loadAuthorizers(...a);
}

function registry(store = new MemoryComponentStore()) {
  const clock = new FakeClock();
  const directory = new AppDirectory([CONFIGURED]);
  const logs: string[] = [];
  const r = new ComponentRegistry({
    components: [COMPONENT],
    directory,
    store,
    clock,
    log: (_l, _o, msg) => void logs.push(msg),
  });
  return { clock, directory, store, r, logs };
}

describe('AppDirectory', () => {
  it('configured apps stay; run-time apps join and leave; listeners and filtered views follow', () => {
    const dir = new AppDirectory([CONFIGURED]);
    const seen: string[] = [];
    dir.subscribe({
      added: (a) => seen.push(`+${a.appId}`),
      removed: (a) => seen.push(`-${a.appId}`),
    });
    const withTickets = dir.filter((a) => a.tickets.includes('jsapi'));
    const auth = { ...CONFIGURED, appId: 'wxauth1', tickets: ['jsapi' as const], component: 'wxc' };
    expect(dir.add(auth)).toBe(true);
    expect(dir.add({ ...auth })).toBe(false);
    expect(dir.add({ ...CONFIGURED, component: 'wxc' })).toBe(false);
    expect(withTickets.list().map((a) => a.appId)).toEqual(['wxauth1']);
    expect(dir.remove(CONFIGURED.appId)).toBe(false);
    expect(dir.remove('wxauth1')).toBe(true);
    expect(dir.remove('wxauth1')).toBe(false);
    expect(seen).toEqual(['+wxauth1', '-wxauth1']);
    expect(dir.size).toBe(1);
  });
});

describe("AppDirectory: a platform's authorizers share one config (its family)", () => {
  const member = (appId: string, over: Partial<AppConfig> = {}): AppConfig => ({
    appId,
    mode: 'classic',
    secretSource: 'component wxc',
    component: 'wxc',
    tickets: TICKETS,
    ...over,
  });
  const TICKETS = ['jsapi' as const];

  it('every read is a config equal to the one added, with its own id, and no app reads another', () => {
    const dir = new AppDirectory([CONFIGURED]);
    const added = ['wxauth1', 'wxauth2', 'wxauth3'].map((id) => member(id));
    const odd = member('wxodd', { mode: 'stable' });
    const ownArray = member('wxownarray', { tickets: ['jsapi'] });
    for (const a of [...added, odd, ownArray]) expect(dir.add(a)).toBe(true);
    for (const a of [...added, odd, ownArray]) {
      expect(dir.get(a.appId)).toEqual(a);
      // Property order too: a config made on read has the shape of one made by authorizerApp.
      expect(Object.keys(dir.get(a.appId)!)).toEqual(Object.keys(a));
      expect(dir.shared(a.appId)).toMatchObject({ mode: a.mode, tickets: a.tickets });
    }
    expect(dir.list()).toEqual([CONFIGURED, ...added, odd, ownArray]);
    expect(dir.shared('wxnone')).toBeUndefined();
    // The point of families: alike authorizers hold one config object between them, the others
    // their own.
    expect(dir.shared('wxauth2')).toBe(dir.shared('wxauth1'));
    expect(dir.shared('wxauth3')).toBe(dir.shared('wxauth1'));
    expect(dir.shared('wxodd')).toBe(odd);
    expect(dir.shared('wxownarray')).toBe(ownArray);
  });

  it('the first member leaving, or coming back, changes no other member', () => {
    const dir = new AppDirectory([]);
    const removed: AppConfig[] = [];
    dir.subscribe({ removed: (a) => removed.push(a) });
    for (const id of ['wxfirst', 'wxsecond']) dir.add(member(id));
    expect(dir.remove('wxfirst')).toBe(true);
    expect(removed).toEqual([member('wxfirst')]);
    expect(dir.get('wxsecond')).toEqual(member('wxsecond'));
    expect(dir.get('wxfirst')).toBeUndefined();
    expect(dir.add(member('wxfirst'))).toBe(true);
    expect(dir.list()).toEqual([member('wxsecond'), member('wxfirst')]);
  });
});

describe('ComponentRegistry', () => {
  it('join serves the authorizer at once; leave stops it; pages come in app id order', async () => {
    const { directory, r } = registry();
    for (const id of ['wxc', 'wxa', 'wxb']) {
      await r.join(COMPONENT.componentAppId, { authorizerAppId: id, authorizedAt: 1 }, `rt-${id}`);
    }
    expect(directory.get('wxb')?.component).toBe(COMPONENT.componentAppId);
    expect(directory.get('wxb')?.secret).toBeUndefined();
    expect(r.page(COMPONENT.componentAppId, '', 2).map((e) => e.authorizerAppId)).toEqual([
      'wxa',
      'wxb',
    ]);
    expect(r.page(COMPONENT.componentAppId, 'wxb', 2).map((e) => e.authorizerAppId)).toEqual([
      'wxc',
    ]);
    await r.leave(COMPONENT.componentAppId, 'wxb');
    expect(directory.has('wxb')).toBe(false);
    expect(r.count(COMPONENT.componentAppId)).toBe(2);
    expect(() => r.page('wxnotacomponent', '', 1)).toThrow(/not configured/);
  });

  it('keeps when an authorizer authorized to the second (WeChat sends seconds), from events and from the store', async () => {
    const a = registry();
    const at = 1_767_225_600_789; // 2026-01-01T00:00:00.789Z
    await a.r.join(COMPONENT.componentAppId, { authorizerAppId: 'wxt1', authorizedAt: at }, 'rt');
    expect(a.r.page(COMPONENT.componentAppId, '', 5)).toEqual([
      { authorizerAppId: 'wxt1', authorizedAt: 1_767_225_600_000 },
    ]);
    const b = registry(a.store);
    await b.r.sync();
    expect(b.r.page(COMPONENT.componentAppId, '', 5)).toEqual([
      { authorizerAppId: 'wxt1', authorizedAt: 1_767_225_600_000 },
    ]);
  });

  it('sync follows another replica: joins and tombstones apply, an authorizer the store lost stays served', async () => {
    const a = registry();
    const store = new LosableStore(a.store);
    // Replica B shares the store.
    const dirB = new AppDirectory([]);
    const b = new ComponentRegistry({
      components: [COMPONENT],
      directory: dirB,
      store,
      clock: a.clock,
      log: (_l, _o, msg) => void a.logs.push(msg),
    });
    await a.r.join(COMPONENT.componentAppId, { authorizerAppId: 'wxj1', authorizedAt: 1 }, 'rt');
    await a.r.join(COMPONENT.componentAppId, { authorizerAppId: 'wxj2', authorizedAt: 1 }, 'rt');
    await b.sync();
    expect(
      dirB
        .list()
        .map((x) => x.appId)
        .sort(),
    ).toEqual(['wxj1', 'wxj2']);
    await a.r.leave(COMPONENT.componentAppId, 'wxj1');
    await b.sync();
    expect(dirB.has('wxj1')).toBe(false);
    // The store loses everything (a flush): it lists neither wxj2 nor a tombstone for it.
    store.lose();
    await store.putAuthorizer(
      COMPONENT.componentAppId,
      { authorizerAppId: 'wxnew', authorizedAt: 1 },
      'rt',
    );
    await b.sync();
    expect(dirB.has('wxnew')).toBe(true);
    expect(dirB.has('wxj2')).toBe(true);
    expect(b.lost.get(COMPONENT.componentAppId)).toBe(1);
    expect(a.logs.some((m) => m.includes('run RecoverAuthorizers'))).toBe(true);
  });
});

describe('the leader schedule follows the app set (invariant 4 for authorizers)', () => {
  it('an app that joins mid-term is fetched at once; one that leaves is never fetched again and not served', async () => {
    const clock = new FakeClock();
    const wechat = new ScriptedWeChat(clock);
    const directory = new AppDirectory([CONFIGURED]);
    const store = new MemoryTokenStore(clock);
    let authorizerFetches = 0;
    const core = createTokenCore({
      clock,
      random: () => 0.5,
      apps: directory,
      wechat,
      store,
      locks: store,
      refresh: UNIT_REFRESH,
      lockTtlMs: 15_000,
      maxWaitMs: 5_000,
      isLeader: () => true,
      authorizers: async () => {
        authorizerFetches++;
        return {
          value: `auth-token-${authorizerFetches}`,
          expiresInSeconds: 7200,
          sentAt: clock.now(),
        };
      },
    });
    const term = new AbortController();
    const running = core.scheduler.run(term.signal);
    await clock.advance(10);
    expect(core.service.peek(CONFIGURED.appId)).toBeDefined();
    directory.add({
      appId: 'wxjoiner',
      mode: 'classic',
      secretSource: 'component wxc',
      component: 'wxc',
      tickets: [],
    });
    await clock.advance(10);
    expect(core.service.peek('wxjoiner')?.value).toBe('auth-token-1');
    // Its refresh comes ahead of expiry like any app's.
    await clock.advance(7200 * 1000);
    expect(authorizerFetches).toBeGreaterThanOrEqual(2);
    const before = authorizerFetches;
    directory.remove('wxjoiner');
    expect(core.service.peek('wxjoiner')).toBeUndefined();
    expect(() => core.service.app('wxjoiner')).toThrow(/not configured/);
    await clock.advance(3 * 7200 * 1000);
    expect(authorizerFetches).toBe(before);
    term.abort();
    await running;
  });
});
