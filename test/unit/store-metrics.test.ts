import { describe, expect, it } from 'vitest';
import { WxtokenMetrics } from '../../src/metrics/wxtoken-metrics.js';

/** Issue 16: the store topology and primary as metrics, and a count of primary changes. */
describe('wxtoken_store_info and wxtoken_store_primary_changes_total', () => {
  it('say the topology and the primary, and count a change of primary in the same scrape', async () => {
    let layout = { topology: 'sentinel', primary: '127.0.0.1:6380' };
    const m = new WxtokenMetrics({
      tickets: () => [],
      apps: () => [],
      isLeader: () => false,
      storeUp: () => layout.primary !== '',
      ready: () => true,
      storeLayout: () => layout,
    });
    const scrape = async (): Promise<string[]> =>
      (await m.registry.metrics())
        .split('\n')
        .filter((l) => /^wxtoken_store_(info|primary_changes_total|up)\b/.test(l));
    expect(await scrape()).toEqual([
      'wxtoken_store_up 1',
      'wxtoken_store_info{topology="sentinel",primary="127.0.0.1:6380"} 1',
      'wxtoken_store_primary_changes_total 0',
    ]);
    layout = { topology: 'sentinel', primary: '' }; // promotion in progress
    expect(await scrape()).toEqual([
      'wxtoken_store_up 0',
      'wxtoken_store_info{topology="sentinel",primary=""} 1',
      'wxtoken_store_primary_changes_total 0',
    ]);
    layout = { topology: 'sentinel', primary: '127.0.0.1:6381' };
    expect(await scrape()).toEqual([
      'wxtoken_store_up 1',
      'wxtoken_store_info{topology="sentinel",primary="127.0.0.1:6381"} 1',
      'wxtoken_store_primary_changes_total 1',
    ]);
  });

  it('embedded when no layout is given', async () => {
    const m = new WxtokenMetrics({
      tickets: () => [],
      apps: () => [],
      isLeader: () => false,
      storeUp: () => true,
      ready: () => true,
    });
    expect(await m.registry.metrics()).toContain(
      'wxtoken_store_info{topology="embedded",primary=""} 1',
    );
  });
});
