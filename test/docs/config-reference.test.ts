import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configKeys, configReference } from '../../src/config/config-reference.js';
import { KNOWN_KEYS } from '../../src/config/config-schema.js';

/**
 * Issue 17: the configuration reference is generated from the schema, so it cannot drift. These
 * fail when docs/configuration.md is stale (run `npm run docs:config`) or a key lacks its doc.
 */
describe('docs/configuration.md (issue 17: one source of truth)', () => {
  const keys = configKeys();
  const names = new Set(keys.map((k) => k.key.replaceAll('[]', '')));

  it('is exactly what `npm run docs:config` writes from the schema', () => {
    const committed = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(committed).toBe(configReference());
  });

  it('lists every key the config loader accepts', () => {
    const accepted = Object.entries(KNOWN_KEYS).flatMap(([parent, children]) =>
      children.map((child) => (parent === '' ? child : `${parent}.${child}`)),
    );
    // A top-level section is a heading, not a key line (its keys are listed under it).
    const sections = new Set(KNOWN_KEYS['']);
    const missing = accepted.filter((key) => !names.has(key) && !sections.has(key));
    expect(missing).toEqual([]);
    for (const key of [
      'auth.callers.keySha256',
      'tls.certFile',
      'limits.passThroughPerSecond',
      'redis.reconcileIntervalMs',
      'redis.encryption.currentKeyId',
      'redis.sentinels',
      'redis.cluster',
      'components.componentAppId',
      'metrics.perAppSeries',
      'gateway.passThrough',
    ]) {
      expect(names, key).toContain(key);
    }
  });

  it('gives every key a description (.describe() next to its definition)', () => {
    expect(keys.filter((k) => !k.description).map((k) => k.key)).toEqual([]);
  });

  it('shows defaults and bounds from the schema', () => {
    const byKey = new Map(keys.map((k) => [k.key, k]));
    expect(byKey.get('grpc.listen')?.default).toBe('`0.0.0.0:50051`');
    expect(byKey.get('metrics.perAppSeries')?.type).toBe('integer (≥ 0, ≤ 10000)');
    expect(byKey.get('apps[].mode')?.default).toBe('required');
    expect(byKey.get('redis.tls')?.default).toBe('absent');
  });
});
