import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { parseConfig, type ConfigDeps } from '../../src/config/load-config.js';

/** Issue 16 item 3: exactly one of redis.urls, redis.sentinels, redis.cluster; keys named. */
const APP = { appId: 'wxdemo0000000001', mode: 'classic', secretEnv: 'WX_SECRET' };
const deps = (
  env: Record<string, string> = {},
  files: Record<string, string> = {},
): ConfigDeps => ({
  env: { WX_SECRET: 'f00dfeedcafebabe0123456789abcdef', ...env },
  readFile: (path) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    return text;
  },
  warn: () => undefined,
});
const cfg = (redis: Record<string, unknown>) => ({ apps: [APP], redis });

function problems(raw: unknown, d: ConfigDeps = deps()): string[] {
  try {
    parseConfig(raw, d);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => `${i.key}: ${i.problem}`);
  }
  throw new Error('expected a ConfigError');
}

describe('redis topology: exactly one of urls, sentinels, cluster', () => {
  it('sentinels + sentinelName: parsed into host and port, IPv6 in brackets', () => {
    const c = parseConfig(
      cfg({
        sentinels: ['127.0.0.1:26379', 's2.internal:26380', '[::1]:26381'],
        sentinelName: 'mymaster',
      }),
      deps(),
    );
    expect(c.redis.sentinels).toEqual([
      { host: '127.0.0.1', port: 26379 },
      { host: 's2.internal', port: 26380 },
      { host: '::1', port: 26381 },
    ]);
    expect(c.redis.sentinelName).toBe('mymaster');
    expect(c.redis.urls).toEqual([]);
    expect(c.redis.cluster).toEqual([]);
    expect(c.redis.sentinelPassword).toBeUndefined();
  });

  it('cluster seed nodes are parsed', () => {
    const c = parseConfig(cfg({ cluster: ['10.0.0.1:7000', '10.0.0.2:7000'] }), deps());
    expect(c.redis.cluster).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: '10.0.0.2', port: 7000 },
    ]);
  });

  it('the sentinel and data-node passwords come from env or file, never echoed', () => {
    const c = parseConfig(
      cfg({
        sentinels: ['127.0.0.1:26379'],
        sentinelName: 'mymaster',
        sentinelPasswordEnv: 'SENTINEL_PW',
        username: 'wx',
        passwordFile: '/run/secrets/redis',
      }),
      deps({ SENTINEL_PW: 'sentinel-secret' }, { '/run/secrets/redis': 'data-secret\n' }),
    );
    expect(c.redis.sentinelPassword?.reveal()).toBe('sentinel-secret');
    expect(c.redis.password?.reveal()).toBe('data-secret');
    expect(c.redis.username).toBe('wx');
    expect(JSON.stringify(c.redis)).not.toMatch(/sentinel-secret|data-secret/);
  });

  it('an inline password works but is warned about, as apps[].secret is', () => {
    const warnings: string[] = [];
    const c = parseConfig(
      cfg({ sentinels: ['b:26379'], sentinelName: 'm', sentinelPassword: 'sp', password: 'dp' }),
      { ...deps(), warn: (m) => warnings.push(m) },
    );
    expect(c.redis.sentinelPassword?.reveal()).toBe('sp');
    expect(c.redis.password?.reveal()).toBe('dp');
    expect(warnings).toEqual([
      'config: redis.password is inline; use passwordEnv or passwordFile outside development',
      'config: redis.sentinelPassword is inline; use sentinelPasswordEnv or sentinelPasswordFile outside development',
    ]);
  });

  it('two topologies at once are refused, naming both keys', () => {
    expect(
      problems(cfg({ urls: ['redis://a:6379'], sentinels: ['b:26379'], sentinelName: 'm' })),
    ).toEqual([
      'redis.sentinels: set exactly one of redis.urls, redis.sentinels or redis.cluster, not redis.urls and redis.sentinels',
    ]);
    expect(
      problems(cfg({ sentinels: ['b:26379'], sentinelName: 'm', cluster: ['c:7000'] })),
    ).toEqual([
      'redis.cluster: set exactly one of redis.urls, redis.sentinels or redis.cluster, not redis.sentinels and redis.cluster',
    ]);
  });

  it('sentinels without sentinelName, and Sentinel keys without sentinels, are refused', () => {
    expect(problems(cfg({ sentinels: ['b:26379'] }))).toEqual([
      'redis.sentinelName: is required with redis.sentinels (the master name the sentinels monitor)',
    ]);
    expect(problems(cfg({ urls: ['redis://a:6379'], sentinelName: 'm' }))).toEqual([
      'redis.sentinelName: is only used with redis.sentinels',
    ]);
    expect(problems(cfg({ cluster: ['c:7000'], sentinelPasswordEnv: 'X' }))).toEqual([
      'redis.sentinelPasswordEnv: is only used with redis.sentinels',
    ]);
  });

  it('data-node credentials beside urls are refused (they belong in the URL)', () => {
    expect(problems(cfg({ urls: ['redis://a:6379'], passwordEnv: 'X' }))).toEqual([
      'redis.passwordEnv: is only used with redis.sentinels or redis.cluster (with redis.urls, credentials go in the URL)',
    ]);
  });

  it('bad addresses and password sources name their key', () => {
    expect(problems(cfg({ sentinels: ['b'], sentinelName: 'm' }))[0]).toMatch(
      /^redis\.sentinels\[0\]: expected host:port/,
    );
    expect(problems(cfg({ cluster: ['c:0'] }))).toEqual([
      'redis.cluster[0]: expected host:port with a port from 1 to 65535',
    ]);
    expect(problems(cfg({ cluster: ['redis://c:7000'] }))[0]).toMatch(/^redis\.cluster\[0\]: /);
    expect(
      problems(cfg({ sentinels: ['b:1'], sentinelName: 'm', sentinelPasswordEnv: 'NOT_SET' }))[0],
    ).toMatch(/^redis\.sentinelPasswordEnv: /);
    expect(problems(cfg({ cluster: ['c:7000'], password: 'x', passwordEnv: 'Y' }))[0]).toMatch(
      /^redis\.password: set exactly one of passwordEnv, passwordFile or password/,
    );
    expect(problems(cfg({ sentinels: ['b:1'], sentinelName: 'no spaces' }))[0]).toMatch(
      /^redis\.sentinelName: expected a master name/,
    );
  });
});
