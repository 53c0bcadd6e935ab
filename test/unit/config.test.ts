import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { createTestCa, type IssuedCert, type TestCa } from '../support/certs.js';
import { ConfigError } from '../../src/config/config-error.js';
import { createConfigSchema, KNOWN_KEYS } from '../../src/config/config-schema.js';
import {
  loadConfigFile,
  parseConfig,
  parseConfigYaml,
  resolveConfigPath,
  type ConfigDeps,
} from '../../src/config/load-config.js';

const SECRET = 'f00dfeedcafebabe0123456789abcdef';
const FILE_SECRET = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const APP = { appId: 'wxdemo0000000001', mode: 'classic', secretEnv: 'WX_SECRET' };
const KEY_A = 'a'.repeat(64);
const KEY_B = 'b'.repeat(64);
/** A valid auth.callers[] entry; override fields per case. */
const caller = (o: Record<string, unknown>): Record<string, unknown> => ({
  name: 'svc',
  keySha256: KEY_A,
  apps: ['*'],
  scopes: ['token:read'],
  ...o,
});

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wxtoken-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function makeDeps(overrides: Partial<ConfigDeps> = {}): ConfigDeps & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    env: { WX_SECRET: SECRET },
    readFile: () => {
      throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    },
    warn: (msg) => warnings.push(msg),
    ...overrides,
    warnings,
  };
}

/** The base config plus top-level overrides. */
function cfg(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { apps: [APP], ...overrides };
}

function configError(raw: unknown, deps: ConfigDeps = makeDeps()): ConfigError {
  try {
    parseConfig(raw, deps);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig: a bad value is reported under its exact key', () => {
  const cases: Array<{ name: string; raw: unknown; key: string; says: string; env?: object }> = [
    { name: 'no apps key', raw: {}, key: 'apps', says: 'at least one app is required' },
    { name: 'empty apps', raw: cfg({ apps: [] }), key: 'apps', says: 'at least one app' },
    { name: 'apps: (null)', raw: cfg({ apps: null }), key: 'apps', says: 'at least one app' },
    {
      name: 'unknown mode',
      raw: cfg({ apps: [APP, { ...APP, appId: 'b', mode: 'fast' }] }),
      key: 'apps[1].mode',
      says: 'expected "classic" or "stable", got "fast"',
    },
    {
      name: 'missing mode',
      raw: cfg({ apps: [{ appId: 'a', secretEnv: 'WX_SECRET' }] }),
      key: 'apps[0].mode',
      says: 'is required',
    },
    {
      name: 'appId with a space',
      raw: cfg({ apps: [APP, { ...APP, appId: 'bad id' }] }),
      key: 'apps[1].appId',
      says: 'expected 1 to 64 characters',
    },
    {
      name: 'empty appId',
      raw: cfg({ apps: [{ ...APP, appId: '' }] }),
      key: 'apps[0].appId',
      says: '1 to 64',
    },
    {
      name: '65-character appId',
      raw: cfg({ apps: [{ ...APP, appId: 'a'.repeat(65) }] }),
      key: 'apps[0].appId',
      says: '1 to 64',
    },
    {
      name: 'duplicate appId (case-insensitive)',
      raw: cfg({ apps: [APP, { ...APP, appId: APP.appId.toUpperCase() }] }),
      key: 'apps[1].appId',
      says: 'duplicate appId',
    },
    {
      name: 'no secret source',
      raw: cfg({ apps: [{ appId: 'a', mode: 'stable' }] }),
      key: 'apps[0]',
      says: 'one of secretEnv, secretFile or secret is required',
    },
    {
      name: 'two secret sources',
      raw: cfg({ apps: [{ ...APP, secret: SECRET }] }),
      key: 'apps[0]',
      says: 'exactly one of secretEnv, secretFile or secret',
    },
    {
      name: 'secretEnv not set',
      raw: cfg({ apps: [APP, { ...APP, appId: 'b', secretEnv: 'WX_B_SECRET' }] }),
      key: 'apps[1].secretEnv',
      says: 'environment variable WX_B_SECRET is not set',
    },
    {
      name: 'secretEnv empty',
      raw: cfg(),
      env: { WX_SECRET: '  ' },
      key: 'apps[0].secretEnv',
      says: 'environment variable WX_SECRET is empty',
    },
    {
      name: 'secretEnv not a variable name',
      raw: cfg({ apps: [{ ...APP, secretEnv: 'WX-SECRET' }] }),
      key: 'apps[0].secretEnv',
      says: 'expected an environment variable name',
    },
    {
      name: 'secretFile unreadable',
      raw: cfg({ apps: [{ appId: 'a', mode: 'classic', secretFile: '/nonexistent/wx.secret' }] }),
      key: 'apps[0].secretFile',
      says: 'cannot read /nonexistent/wx.secret (ENOENT)',
    },
    {
      name: 'inline secret empty',
      raw: cfg({ apps: [{ appId: 'a', mode: 'classic', secret: '' }] }),
      key: 'apps[0].secret',
      says: 'is empty',
    },
    {
      name: 'listen without port',
      raw: cfg({ grpc: { listen: 'localhost' } }),
      key: 'grpc.listen',
      says: 'expected host:port',
    },
    {
      name: 'listen without host',
      raw: cfg({ grpc: { listen: ':50051' } }),
      key: 'grpc.listen',
      says: 'host',
    },
    {
      name: 'listen port > 65535',
      raw: cfg({ grpc: { listen: '127.0.0.1:65536' } }),
      key: 'grpc.listen',
      says: 'out of range 0..65535',
    },
    {
      name: 'listen bad IPv6',
      raw: cfg({ grpc: { listen: '[zz::1]:80' } }),
      key: 'grpc.listen',
      says: 'not an IPv6 address',
    },
    {
      name: 'listen unbracketed IPv6',
      raw: cfg({ grpc: { listen: '::1:80' } }),
      key: 'grpc.listen',
      says: 'host:port',
    },
    {
      name: 'metrics listen',
      raw: cfg({ metrics: { listen: 'nope' } }),
      key: 'metrics.listen',
      says: 'host:port',
    },
    {
      name: 'metrics.perAppSeries above 10000 (issue 15 item 5: a bounded scrape)',
      raw: cfg({ metrics: { perAppSeries: 10_001 } }),
      key: 'metrics.perAppSeries',
      says: 'at most 10000',
    },
    {
      name: 'metrics.perAppSeries negative',
      raw: cfg({ metrics: { perAppSeries: -1 } }),
      key: 'metrics.perAppSeries',
      says: 'must be >= 0',
    },
    {
      name: 'maxRequestBytes 0',
      raw: cfg({ grpc: { maxRequestBytes: 0 } }),
      key: 'grpc.maxRequestBytes',
      says: 'positive',
    },
    {
      name: 'baseUrl ftp',
      raw: cfg({ wechat: { baseUrl: 'ftp://example.com' } }),
      key: 'wechat.baseUrl',
      says: 'http:// or https://',
    },
    {
      name: 'baseUrl not a URL',
      raw: cfg({ wechat: { baseUrl: 'api.weixin.qq.com' } }),
      key: 'wechat.baseUrl',
      says: 'URL',
    },
    {
      name: 'baseUrl with query',
      raw: cfg({ wechat: { baseUrl: 'https://x.test/?a=1' } }),
      key: 'wechat.baseUrl',
      says: 'without query',
    },
    {
      name: 'timeoutMs 0',
      raw: cfg({ wechat: { timeoutMs: 0 } }),
      key: 'wechat.timeoutMs',
      says: 'must be a positive number, got 0',
    },
    {
      name: 'timeoutMs string',
      raw: cfg({ wechat: { timeoutMs: '5s' } }),
      key: 'wechat.timeoutMs',
      says: 'expected a number, got a string',
    },
    {
      name: 'timeoutMs infinite',
      raw: cfg({ wechat: { timeoutMs: Infinity } }),
      key: 'wechat.timeoutMs',
      says: 'expected a number',
    },
    {
      name: 'redis url scheme',
      raw: cfg({ redis: { urls: ['redis://a:6379', 'http://b'] } }),
      key: 'redis.urls[1]',
      says: 'redis:// or rediss://',
    },
    {
      name: 'redis urls not a list',
      raw: cfg({ redis: { urls: 'redis://a' } }),
      key: 'redis.urls',
      says: 'expected a list',
    },
    {
      name: 'empty keyPrefix',
      raw: cfg({ redis: { keyPrefix: '' } }),
      key: 'redis.keyPrefix',
      says: 'non-empty',
    },
    {
      name: 'ttlMs negative',
      raw: cfg({ lease: { ttlMs: -1 } }),
      key: 'lease.ttlMs',
      says: 'positive',
    },
    {
      name: 'renewIntervalMs >= ttlMs / 2',
      raw: cfg({ lease: { ttlMs: 10000, renewIntervalMs: 5000 } }),
      key: 'lease.renewIntervalMs',
      says: 'must be less than lease.ttlMs / 2 (5000), got 5000',
    },
    {
      name: 'retryMinMs > retryMaxMs',
      raw: cfg({ refresh: { retryMinMs: 2000, retryMaxMs: 1000 } }),
      key: 'refresh.retryMinMs',
      says: 'must be <= refresh.retryMaxMs (1000), got 2000',
    },
    {
      name: 'jitterRatio 1',
      raw: cfg({ refresh: { jitterRatio: 1 } }),
      key: 'refresh.jitterRatio',
      says: 'must be < 1, got 1',
    },
    {
      name: 'jitterRatio negative',
      raw: cfg({ refresh: { jitterRatio: -0.1 } }),
      key: 'refresh.jitterRatio',
      says: '>= 0',
    },
    {
      name: 'aheadSeconds 0',
      raw: cfg({ refresh: { aheadSeconds: 0 } }),
      key: 'refresh.aheadSeconds',
      says: 'positive',
    },
    {
      name: 'stableWindowSeconds negative',
      raw: cfg({ refresh: { stableWindowSeconds: -300 } }),
      key: 'refresh.stableWindowSeconds',
      says: 'positive',
    },
    {
      name: 'configErrorRetryMs 0',
      raw: cfg({ refresh: { configErrorRetryMs: 0 } }),
      key: 'refresh.configErrorRetryMs',
      says: 'positive',
    },
    {
      name: 'forceMinIntervalMs string',
      raw: cfg({ refresh: { forceMinIntervalMs: 'x' } }),
      key: 'refresh.forceMinIntervalMs',
      says: 'number',
    },
    {
      name: 'forceDailyBudget fraction',
      raw: cfg({ refresh: { forceDailyBudget: 2.5 } }),
      key: 'refresh.forceDailyBudget',
      says: 'expected an integer, got 2.5',
    },
    {
      name: 'log level',
      raw: cfg({ log: { level: 'verbose' } }),
      key: 'log.level',
      says: 'got "verbose"',
    },
    {
      name: 'log level from env',
      raw: cfg(),
      env: { WX_SECRET: SECRET, WXTOKEN_LOG_LEVEL: 'loud' },
      key: 'log.level',
      says: 'WXTOKEN_LOG_LEVEL="loud"',
    },
    {
      name: 'log pretty',
      raw: cfg({ log: { pretty: 'yes' } }),
      key: 'log.pretty',
      says: 'expected true or false, got a string',
    },
    {
      name: 'section not a mapping',
      raw: cfg({ lease: 5 }),
      key: 'lease',
      says: 'expected a mapping, got 5',
    },
    { name: 'unknown top-level key', raw: cfg({ extra: 1 }), key: 'extra', says: 'unknown key' },
    {
      name: 'misspelt key',
      raw: cfg({ lease: { ttlMS: 1000 } }),
      key: 'lease.ttlMS',
      says: 'unknown key (did you mean "ttlMs"?)',
    },
    {
      name: 'misspelt app key',
      raw: cfg({ apps: [{ appId: 'a', mode: 'classic', secretenv: 'WX_SECRET' }] }),
      key: 'apps[0].secretenv',
      says: 'did you mean "secretEnv"?',
    },
    { name: 'empty document', raw: null, key: '', says: 'expected a mapping' },
    {
      name: 'duplicate caller name',
      raw: cfg({
        auth: {
          callers: [
            caller({ name: 'billing' }),
            caller({ name: 'orders', keySha256: KEY_B }),
            caller({ name: 'billing', keySha256: undefined, certCommonName: 'billing-2' }),
          ],
        },
      }),
      key: 'auth.callers[2].name',
      says: 'duplicate of auth.callers[0]',
    },
    {
      name: 'duplicate caller keySha256',
      raw: cfg({ auth: { callers: [caller({ name: 'a' }), caller({ name: 'b' })] } }),
      key: 'auth.callers[1].keySha256',
      says: 'duplicate of auth.callers[0]',
    },
    {
      name: 'duplicate caller certCommonName',
      raw: cfg({
        auth: {
          callers: [
            caller({ name: 'a', keySha256: undefined, certCommonName: 'svc.internal' }),
            caller({ name: 'b', keySha256: KEY_B, certCommonName: 'svc.internal' }),
          ],
        },
      }),
      key: 'auth.callers[1].certCommonName',
      says: 'duplicate of auth.callers[0]',
    },
    {
      name: 'audit.maxEvents below 100',
      raw: cfg({ audit: { maxEvents: 99 } }),
      key: 'audit.maxEvents',
      says: 'must be >= 100, got 99',
    },
    {
      name: 'audit.maxEvents above 1000000',
      raw: cfg({ audit: { maxEvents: 1_000_001 } }),
      key: 'audit.maxEvents',
      says: 'must be <= 1000000, got 1000001',
    },
    {
      name: 'audit.maxEvents fraction',
      raw: cfg({ audit: { maxEvents: 500.5 } }),
      key: 'audit.maxEvents',
      says: 'expected an integer, got 500.5',
    },
    {
      name: 'audit misspelt key',
      raw: cfg({ audit: { maxEvent: 500 } }),
      key: 'audit.maxEvent',
      says: 'unknown key (did you mean "maxEvents"?)',
    },
    {
      name: 'redis.tls.caFile unreadable',
      raw: cfg({ redis: { urls: ['rediss://r:6380'], tls: { caFile: '/nonexistent/ca.crt' } } }),
      key: 'redis.tls.caFile',
      says: 'cannot read /nonexistent/ca.crt (ENOENT)',
    },
    {
      name: 'redis.tls.certFile without keyFile',
      raw: cfg({ redis: { urls: ['rediss://r:6380'], tls: { certFile: '/x/client.crt' } } }),
      key: 'redis.tls.keyFile',
      says: 'is required when redis.tls.certFile is set',
    },
    {
      name: 'redis.tls with a redis:// URL',
      raw: cfg({
        redis: {
          urls: ['rediss://a:6380', 'redis://b:6379'],
          tls: { serverName: 'redis.internal' },
        },
      }),
      key: 'redis.urls[1]',
      says: 'expected a rediss:// URL: redis.tls is set',
    },
    {
      name: 'redis.tls.serverName an IP',
      raw: cfg({ redis: { urls: ['rediss://r:6380'], tls: { serverName: '10.0.0.1' } } }),
      key: 'redis.tls.serverName',
      says: 'expected a DNS name',
    },
    {
      name: 'gateway.maxRequestBytes above 64 MiB',
      raw: cfg({ gateway: { listen: '127.0.0.1:8080', maxRequestBytes: 64 * 1024 * 1024 + 1 } }),
      key: 'gateway.maxRequestBytes',
      says: 'must be <= 67108864',
    },
    {
      name: 'gateway.maxInFlight above 10000',
      raw: cfg({ gateway: { listen: '127.0.0.1:8080', maxInFlight: 10_001 } }),
      key: 'gateway.maxInFlight',
      says: 'must be <= 10000',
    },
    {
      name: 'limits.passThroughPerSecond zero',
      raw: cfg({ limits: { passThroughPerSecond: 0 } }),
      key: 'limits.passThroughPerSecond',
      says: '',
    },
    {
      name: 'gateway.listen not host:port',
      raw: cfg({ gateway: { listen: 'http://0.0.0.0:8080' } }),
      key: 'gateway.listen',
      says: 'expected host:port',
    },
    {
      name: 'gateway.passThrough not a boolean',
      raw: cfg({ gateway: { listen: '127.0.0.1:8080', passThrough: 'yes' } }),
      key: 'gateway.passThrough',
      says: 'expected true or false, got a string',
    },
    {
      name: 'gateway misspelt key',
      raw: cfg({ gateway: { passthrough: true } }),
      key: 'gateway.passthrough',
      says: 'unknown key (did you mean "passThrough"?)',
    },
    {
      name: 'redis.tls misspelt key',
      raw: cfg({ redis: { urls: ['rediss://r:6380'], tls: { cafile: '/x' } } }),
      key: 'redis.tls.cafile',
      says: 'unknown key (did you mean "caFile"?)',
    },
  ];

  it.each(cases)('$name → $key', ({ raw, key, says, env }) => {
    const err = configError(raw, makeDeps(env ? { env: env as NodeJS.ProcessEnv } : {}));
    expect(err.key).toBe(key);
    expect(err.name).toBe('ConfigError');
    const line = err.message.split('\n')[0];
    expect(line).toContain(key === '' ? 'config: ' : `config: ${key}: `);
    expect(line).toContain(says);
  });

  // Node's timers overflow above 2^31-1 ms and fire after 1 ms (issue 11): every duration key
  // refuses a value past it, and accepts the limit itself.
  it.each([
    ['wechat', 'timeoutMs'],
    ['redis', 'reconcileIntervalMs'],
    ['redis', 'commandTimeoutMs'],
    ['lease', 'ttlMs'],
    ['refresh', 'retryMinMs'],
    ['refresh', 'retryMaxMs'],
    ['refresh', 'configErrorRetryMs'],
    ['refresh', 'forceMinIntervalMs'],
    ['grpc', 'idleTimeoutMs'],
    ['grpc', 'maxConnectionAgeMs'],
    ['grpc', 'maxConnectionAgeGraceMs'],
    ['grpc', 'keepaliveTimeMs'],
    ['grpc', 'keepaliveTimeoutMs'],
    ['refresh', 'aheadSeconds'],
    ['refresh', 'stableWindowSeconds'],
    ['login', 'sessionTtlSeconds'],
  ])('%s.%s over the timer limit names the key', (section, key) => {
    const limit = key.endsWith('Seconds') ? Math.floor((2 ** 31 - 1) / 1000) : 2 ** 31 - 1;
    const err = configError(cfg({ [section]: { [key]: limit + 1 } }));
    expect(err.key).toBe(`${section}.${key}`);
    expect(err.message).toMatch(/at most \d+ m?s \(Node timers overflow above it\)/);
    // lease.ttlMs and refresh.retryMinMs also have cross-field bounds (renew interval, retryMaxMs).
    if (key !== 'ttlMs' && key !== 'retryMinMs')
      expect(() => parseConfig(cfg({ [section]: { [key]: limit } }), makeDeps())).not.toThrow();
  });

  it.each([
    ['apps[0].secret', { apps: [{ appId: 'wxa', mode: 'classic', secret: 987654321 }] }],
    ['apps[0].secret', { apps: [{ appId: 'wxa', mode: 'classic', secret: 12345.5 }] }],
  ])('an unquoted numeric secret is refused without echoing it (%s)', (key, raw) => {
    const err = configError(raw);
    expect(err.key).toBe(key);
    expect(err.message).toBe(
      `config: ${key}: expected a string, got a number (quote the value in YAML)`,
    );
    expect(err.message).not.toMatch(/98765|12345/);
  });

  it('tls file paths resolve against the config file directory (baseDir), absolute ones stay', () => {
    const config = parseConfig(
      cfg({
        tls: { certFile: 'certs/server.crt', keyFile: '/abs/server.key', clientCaFile: 'ca.crt' },
      }),
      makeDeps({ baseDir: '/etc/wxtoken' }),
    );
    expect(config.tls).toEqual({
      certFile: '/etc/wxtoken/certs/server.crt',
      keyFile: '/abs/server.key',
      clientCaFile: '/etc/wxtoken/ca.crt',
    });
  });

  it('words the message as documented', () => {
    const err = configError(cfg({ apps: [APP, { ...APP, appId: 'b', mode: 'fast' }] }));
    expect(err.message).toBe('config: apps[1].mode: expected "classic" or "stable", got "fast"');
  });

  it('reports every problem, one per line, with key = the first', () => {
    const err = configError({
      grpc: { listen: 'nope' },
      lease: { ttlMs: 10000, renewIntervalMs: 9000 },
      typo: true,
      apps: [{ ...APP, mode: 'fast' }],
    });
    expect(err.key).toBe('grpc.listen');
    const keys = err.issues.map((i) => i.key);
    expect(keys).toEqual(
      expect.arrayContaining(['grpc.listen', 'lease.renewIntervalMs', 'typo', 'apps[0].mode']),
    );
    expect(err.message.split('\n')).toHaveLength(err.issues.length);
    for (const line of err.message.split('\n')) expect(line).toMatch(/^config: /);
  });
});

describe('parseConfig: defaults and accepted values', () => {
  it('applies every documented default', () => {
    const config = parseConfig(cfg(), makeDeps());
    const { apps, ...rest } = config;
    expect(rest).toEqual({
      grpc: {
        listen: '0.0.0.0:50051',
        maxRequestBytes: 65536,
        maxConcurrentStreams: 1000,
        idleTimeoutMs: 300_000,
        maxConnectionAgeMs: 1_800_000,
        maxConnectionAgeGraceMs: 30_000,
        keepaliveTimeMs: 120_000,
        keepaliveTimeoutMs: 20_000,
        maxWatchStreamsPerCaller: 100,
      },
      gateway: {
        listen: '',
        passThrough: false,
        acceptAppSecret: false,
        maxRequestBytes: 10 * 1024 * 1024,
        maxResponseBytes: 32 * 1024 * 1024,
        timeoutMs: 30_000,
        maxInFlight: 256,
      },
      metrics: { listen: '127.0.0.1:9464', perAppSeries: 100 },
      wechat: { baseUrl: 'https://api.weixin.qq.com', timeoutMs: 5000 },
      redis: {
        urls: [],
        sentinels: [],
        cluster: [],
        keyPrefix: 'wxtoken:',
        reconcileIntervalMs: 2000,
        reconcileRecordsPerSecond: 5000,
        commandTimeoutMs: 1000,
      },
      lease: { ttlMs: 10000, renewIntervalMs: 10000 / 3 },
      refresh: {
        aheadSeconds: 300,
        stableWindowSeconds: 300,
        jitterRatio: 0.2,
        retryMinMs: 1000,
        retryMaxMs: 60000,
        configErrorRetryMs: 600000,
        forceMinIntervalMs: 10000,
        forceDailyBudget: 50,
      },
      log: { level: 'info', pretty: false },
      login: { exposeSessionKey: false, sessionTtlSeconds: 259200 },
      auth: { callers: [] },
      limits: {
        forceRefreshPerMinute: 600,
        code2SessionPerSecond: 200,
        sessionCallsPerSecond: 50,
        perSessionPerMinute: 30,
        passThroughPerSecond: 1000,
      },
      audit: { maxEvents: 10000 },
      components: [],
    });
    expect(apps).toHaveLength(1);
    expect(apps[0]?.appId).toBe(APP.appId);
    expect(apps[0]?.mode).toBe('classic');
    expect(apps[0]?.secretSource).toBe('env WX_SECRET');
    expect(apps[0]?.secret?.reveal()).toBe(SECRET);
  });

  it('treats empty sections (YAML "key:" with nothing under it) as all defaults', () => {
    const config = parseConfig(cfg({ grpc: null, redis: { urls: null }, log: null }), makeDeps());
    expect(config.grpc.listen).toBe('0.0.0.0:50051');
    expect(config.redis.urls).toEqual([]);
  });

  it('accepts fractions of a second and small durations', () => {
    const config = parseConfig(
      cfg({
        wechat: { timeoutMs: 250.5 },
        lease: { ttlMs: 3, renewIntervalMs: 1 },
        refresh: { aheadSeconds: 0.5, stableWindowSeconds: 0.25, retryMinMs: 0.1, retryMaxMs: 0.2 },
      }),
      makeDeps(),
    );
    expect(config.refresh.aheadSeconds).toBe(0.5);
    expect(config.refresh.stableWindowSeconds).toBe(0.25);
    expect(config.lease).toEqual({ ttlMs: 3, renewIntervalMs: 1 });
    expect(config.wechat.timeoutMs).toBe(250.5);
  });

  it('accepts listen forms, strips one trailing slash from baseUrl, keeps redis urls', () => {
    const config = parseConfig(
      cfg({
        grpc: { listen: '[::1]:0' },
        metrics: { listen: '' },
        wechat: { baseUrl: 'http://127.0.0.1:8080/' },
        redis: {
          urls: ['redis://127.0.0.1:6379', 'rediss://:pw@r2.example:6380/0'],
          keyPrefix: 't1:',
        },
      }),
      makeDeps(),
    );
    expect(config.grpc.listen).toBe('[::1]:0');
    expect(config.metrics.listen).toBe('');
    expect(config.wechat.baseUrl).toBe('http://127.0.0.1:8080');
    expect(config.redis.urls).toHaveLength(2);
    expect(config.redis.keyPrefix).toBe('t1:');
  });

  it('takes log.level from WXTOKEN_LOG_LEVEL unless the file sets it', () => {
    const env = { WX_SECRET: SECRET, WXTOKEN_LOG_LEVEL: 'debug' };
    expect(parseConfig(cfg(), makeDeps({ env })).log.level).toBe('debug');
    expect(parseConfig(cfg({ log: { level: 'warn' } }), makeDeps({ env })).log.level).toBe('warn');
  });

  it('returns a deeply frozen object', () => {
    const config = parseConfig(cfg({ redis: { urls: ['redis://a:1'] } }), makeDeps());
    for (const part of [
      config,
      config.grpc,
      config.lease,
      config.redis.urls,
      config.apps,
      config.apps[0],
    ]) {
      expect(Object.isFrozen(part)).toBe(true);
    }
    expect(() => {
      (config.lease as { ttlMs: number }).ttlMs = 1;
    }).toThrow(TypeError);
    expect(() => (config.apps as Config['apps'][number][]).push(config.apps[0]!)).toThrow(
      TypeError,
    );
  });

  it('KNOWN_KEYS lists exactly the top-level keys of the schema', () => {
    expect([...(KNOWN_KEYS[''] ?? [])].sort()).toEqual(
      Object.keys(createConfigSchema(makeDeps()).shape).sort(),
    );
  });
});

describe('parseConfig: secrets', () => {
  it('reads secretFile, trimmed, and names it in secretSource', () => {
    const path = join(dir, 'app.secret');
    writeFileSync(path, `${FILE_SECRET}\n`);
    const config = loadFromObject({ apps: [{ appId: 'a', mode: 'stable', secretFile: path }] });
    expect(config.apps[0]?.secret?.reveal()).toBe(FILE_SECRET);
    expect(config.apps[0]?.secretSource).toBe(`file ${path}`);
  });

  it('reports an empty secretFile by path', () => {
    const path = join(dir, 'empty.secret');
    writeFileSync(path, '\n');
    const err = loadError({ apps: [{ appId: 'a', mode: 'stable', secretFile: path }] });
    expect(err.key).toBe('apps[0].secretFile');
    expect(err.message).toContain(`file ${path} is empty`);
  });

  it('warns about an inline secret, once the config is valid', () => {
    const deps = makeDeps();
    const config = parseConfig(
      cfg({ apps: [APP, { appId: 'b', mode: 'classic', secret: SECRET }] }),
      deps,
    );
    expect(config.apps[1]?.secretSource).toBe('inline');
    expect(deps.warnings).toEqual([
      'config: apps[1].secret is inline; use secretEnv or secretFile outside development',
    ]);
  });

  it('never shows a secret in an error message, in JSON or in inspect()', () => {
    const path = join(dir, 'leak.secret');
    writeFileSync(path, FILE_SECRET);
    const deps = makeDeps({ readFile: readFileSyncUtf8 });
    const config = parseConfig(
      cfg({
        apps: [
          APP,
          { appId: 'b', mode: 'stable', secretFile: path },
          { appId: 'c', mode: 'classic', secret: 'inline-secret-value' },
        ],
      }),
      deps,
    );
    for (const text of [JSON.stringify(config), inspect(config, { depth: 10 })]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(FILE_SECRET);
      expect(text).not.toContain('inline-secret-value');
    }
    const bad = [
      cfg({ apps: [{ ...APP, mode: SECRET }] }), // a secret pasted into the wrong key
      cfg({ apps: [{ ...APP, appId: SECRET + '!' }] }),
      cfg({ wechat: { timeoutMs: SECRET } }),
      cfg({ apps: [{ appId: 'a', mode: 'classic', secret: SECRET, secretFile: path }] }),
      cfg({ log: { level: SECRET } }),
      cfg({ redis: { urls: [`http://:${SECRET}@h`] } }),
      cfg({ wechat: { baseUrl: `ftp://u:${SECRET}@h` } }),
    ];
    for (const raw of bad) {
      const err = configError(raw, deps);
      expect(err.message).not.toContain(SECRET);
      expect(err.message).not.toContain(FILE_SECRET);
      expect(JSON.stringify(err.issues)).not.toContain(SECRET);
    }
  });
});

describe('loadConfigFile', () => {
  it('loads a YAML file with camelCase keys', () => {
    const path = join(dir, 'ok.yaml');
    writeFileSync(
      path,
      [
        'grpc:',
        '  listen: 127.0.0.1:0',
        'wechat:',
        '  baseUrl: http://127.0.0.1:9999/',
        '  timeoutMs: 200',
        'lease:',
        '  ttlMs: 3000',
        'refresh:',
        '  aheadSeconds: 0.5',
        'apps:',
        '  - appId: wxdemo0000000001',
        '    mode: stable',
        '    secretEnv: WX_SECRET',
        '  - appId: wxdemo0000000002',
        '    mode: classic',
        '    secretFile: two.secret # relative to the config file',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'two.secret'), FILE_SECRET);
    const config = loadConfigFile(path, { env: { WX_SECRET: SECRET }, warn: () => undefined });
    expect(config.grpc.listen).toBe('127.0.0.1:0');
    expect(config.wechat.baseUrl).toBe('http://127.0.0.1:9999');
    expect(config.lease.renewIntervalMs).toBe(1000);
    expect(config.refresh.aheadSeconds).toBe(0.5);
    expect(config.apps.map((a) => a.mode)).toEqual(['stable', 'classic']);
    expect(config.apps[1]?.secret?.reveal()).toBe(FILE_SECRET);
    expect(config.apps[1]?.secretSource).toBe(`file ${join(dir, 'two.secret')}`);
  });

  it('names the line of a YAML syntax error and does not echo the source', () => {
    const path = join(dir, 'broken.yaml');
    writeFileSync(path, `apps:\n  - appId: a\n    mode: classic\n    secret: "${SECRET}\n`);
    const err = loadError(undefined, path);
    expect(err.key).toBe('');
    expect(err.message).toMatch(/^config: .*broken\.yaml line \d+, column \d+: invalid YAML: /);
    expect(err.message).not.toContain(SECRET);
  });

  it('rejects duplicate YAML keys', () => {
    const err = loadError(undefined, writeTemp('dup.yaml', 'apps: []\napps: []\n'));
    expect(err.message).toContain('line 2');
  });

  it('reports an unreadable file', () => {
    const err = loadError(undefined, join(dir, 'missing.yaml'));
    expect(err.message).toBe(`config: cannot read ${join(dir, 'missing.yaml')} (ENOENT)`);
  });

  it('parseConfigYaml returns plain data', () => {
    expect(parseConfigYaml('a: [1, 2]\n')).toEqual({ a: [1, 2] });
  });
});

describe('resolveConfigPath', () => {
  it.each([
    { cli: 'cli.yaml', env: { WXTOKEN_CONFIG: 'env.yaml' }, want: 'cli.yaml' },
    { cli: undefined, env: { WXTOKEN_CONFIG: 'env.yaml' }, want: 'env.yaml' },
    { cli: '', env: { WXTOKEN_CONFIG: 'env.yaml' }, want: 'env.yaml' },
    { cli: undefined, env: { WXTOKEN_CONFIG: '' }, want: undefined },
    { cli: undefined, env: {}, want: undefined },
  ])('--config $cli, WXTOKEN_CONFIG=$env.WXTOKEN_CONFIG → $want', ({ cli, env, want }) => {
    expect(resolveConfigPath(cli, env)).toBe(want);
  });
});

function writeTemp(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Real file reads, like loadConfigFile's default. */
function readFileSyncUtf8(path: string): string {
  return readFileSync(path, 'utf8');
}

function loadFromObject(raw: Record<string, unknown>): Config {
  return parseConfig(raw, makeDeps({ readFile: readFileSyncUtf8 }));
}

function loadError(raw?: Record<string, unknown>, path?: string): ConfigError {
  try {
    if (path) loadConfigFile(path, { env: { WX_SECRET: SECRET }, warn: () => undefined });
    else parseConfig(raw, makeDeps({ readFile: readFileSyncUtf8 }));
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig: redis.encryption', () => {
  const KEY1 = Buffer.alloc(32, 7).toString('base64');
  const KEY2 = Buffer.alloc(32, 9).toString('base64');

  it('resolves keys from env and file', () => {
    const path = join(dir, 'at-rest.key');
    writeFileSync(path, `${KEY2}\n`);
    const config = parseConfig(
      cfg({
        redis: {
          encryption: {
            currentKeyId: 'k2',
            keys: [
              { id: 'k1', keyEnv: 'AT_REST_K1' },
              { id: 'k2', keyFile: path },
            ],
          },
        },
      }),
      makeDeps({ env: { WX_SECRET: SECRET, AT_REST_K1: KEY1 }, readFile: readFileSyncUtf8 }),
    );
    const enc = config.redis.encryption;
    expect(enc?.currentKeyId).toBe('k2');
    expect(enc?.keys.map((k) => [k.id, k.key.reveal(), k.source])).toEqual([
      ['k1', KEY1, 'env AT_REST_K1'],
      ['k2', KEY2, `file ${path}`],
    ]);
  });

  it('names the key path on a bad key and never prints key material', () => {
    const short = Buffer.alloc(16, 1).toString('base64');
    const err = configError(
      cfg({
        redis: {
          encryption: {
            currentKeyId: 'k9',
            keys: [
              { id: 'k1', keyEnv: 'AT_REST_K1' },
              { id: 'k2', keyEnv: 'AT_REST_MISSING' },
              { id: 'k3', keyEnv: 'AT_REST_K1', keyFile: '/x' },
            ],
          },
        },
      }),
      makeDeps({ env: { WX_SECRET: SECRET, AT_REST_K1: short } }),
    );
    const keysSeen = err.issues.map((i) => i.key);
    expect(keysSeen).toEqual(
      expect.arrayContaining([
        'redis.encryption.keys[0].keyEnv',
        'redis.encryption.keys[1].keyEnv',
        'redis.encryption.keys[2]',
        'redis.encryption.currentKeyId',
      ]),
    );
    expect(err.message).toContain('44 characters');
    expect(err.message).toContain('AT_REST_MISSING is not set');
    expect(err.message).not.toContain(short);
  });

  it('suggests known keys for a typo under redis.encryption', () => {
    const err = configError(
      cfg({ redis: { encryption: { currentKeyID: 'k1', keys: [{ id: 'k1', keyEnv: 'X' }] } } }),
    );
    expect(err.message).toContain('did you mean "currentKeyId"');
  });
});

describe('parseConfig: auth.callers and audit', () => {
  it('accepts distinct callers, and a caller with both a key and a certificate CN', () => {
    const config = parseConfig(
      cfg({
        auth: {
          callers: [
            caller({ name: 'a', certCommonName: 'a.internal' }),
            caller({ name: 'b', keySha256: KEY_B, certCommonName: 'b.internal' }),
            caller({ name: 'c', keySha256: undefined, certCommonName: 'c.internal' }),
          ],
        },
      }),
      makeDeps(),
    );
    expect(config.auth.callers.map((c) => c.name)).toEqual(['a', 'b', 'c']);
  });

  it('reports every duplicate, each under its own key', () => {
    const err = configError(
      cfg({ auth: { callers: [caller({}), caller({}), caller({ name: 'other' })] } }),
    );
    expect(err.issues).toEqual([
      { key: 'auth.callers[1].name', problem: 'duplicate of auth.callers[0]' },
      { key: 'auth.callers[1].keySha256', problem: 'duplicate of auth.callers[0]' },
      { key: 'auth.callers[2].keySha256', problem: 'duplicate of auth.callers[0]' },
    ]);
  });

  it('takes audit.maxEvents within 100..1000000', () => {
    expect(parseConfig(cfg({ audit: { maxEvents: 100 } }), makeDeps()).audit.maxEvents).toBe(100);
    expect(parseConfig(cfg({ audit: { maxEvents: 1_000_000 } }), makeDeps()).audit.maxEvents).toBe(
      1_000_000,
    );
    expect(parseConfig(cfg({ audit: null }), makeDeps()).audit).toEqual({ maxEvents: 10_000 });
  });
});

describe('parseConfig: redis.tls', () => {
  let ca: TestCa;
  let client: IssuedCert;
  beforeAll(() => {
    ca = createTestCa();
    client = ca.issueClient('wxtoken');
  });

  const tlsConfig = (tls: Record<string, unknown>, urls = ['rediss://redis.internal:6380']) =>
    cfg({ redis: { urls, tls } });

  it('reads caFile, certFile and keyFile (relative to the config dir); the key is a Secret', () => {
    const config = parseConfig(
      tlsConfig({
        caFile: 'ca.crt',
        certFile: client.certFile,
        keyFile: client.keyFile,
        serverName: 'redis.internal',
      }),
      makeDeps({ readFile: readFileSyncUtf8, baseDir: ca.dir }),
    );
    const tls = config.redis.tls;
    expect(tls?.caFile).toBe(ca.caFile);
    expect(tls?.ca).toBe(ca.ca.toString());
    expect(tls?.cert).toBe(client.cert.toString());
    expect(tls?.key?.reveal()).toBe(client.key.toString());
    expect(tls?.serverName).toBe('redis.internal');
    const keyBody = client.key.toString().split('\n')[1]!;
    for (const text of [JSON.stringify(config), inspect(config, { depth: 10 })]) {
      expect(text).not.toContain(keyBody);
    }
    expect(Object.isFrozen(tls)).toBe(true);
  });

  it('accepts rediss:// URLs with an ACL user and no redis.tls (Node default CAs)', () => {
    const config = parseConfig(
      cfg({ redis: { urls: ['rediss://wx:p%40ss@r1:6380/0', 'redis://wx:pw@r2:6379'] } }),
      makeDeps(),
    );
    expect(config.redis.tls).toBeUndefined();
    expect(config.redis.urls).toHaveLength(2);
  });

  it('rejects a caFile that holds no certificate, and a key of another certificate', () => {
    const junk = writeTemp('junk.crt', 'not a certificate\n');
    const other = ca.issueClient('someone-else');
    const err = loadError(
      tlsConfig({ caFile: junk, certFile: client.certFile, keyFile: other.keyFile }),
    );
    expect(err.issues).toEqual([
      { key: 'redis.tls.caFile', problem: `file ${junk} holds no PEM certificate` },
    ]);
    const mismatch = loadError(
      tlsConfig({ caFile: ca.caFile, certFile: client.certFile, keyFile: other.keyFile }),
    );
    expect(mismatch.key).toBe('redis.tls.keyFile');
    expect(mismatch.message).toContain('does not match redis.tls.certFile');
    expect(mismatch.message).not.toContain(other.key.toString().split('\n')[1]!);
  });

  it('rejects a keyFile that is not a PEM private key, naming the file only', () => {
    const err = loadError(tlsConfig({ certFile: client.certFile, keyFile: client.certFile }));
    expect(err.issues).toEqual([
      {
        key: 'redis.tls.keyFile',
        problem: `file ${client.certFile} holds no unencrypted PEM private key`,
      },
    ]);
  });
});

describe('parseConfig: apps[].tickets', () => {
  const app = (appId: string, tickets?: unknown) => ({
    ...APP,
    appId,
    ...(tickets !== undefined ? { tickets } : {}),
  });

  it('is [] when absent', () => {
    const config = parseConfig(cfg(), makeDeps());
    expect(config.apps[0]?.tickets).toEqual([]);
  });

  it('keeps the listed ticket types, in order, frozen', () => {
    const config = parseConfig(
      cfg({ apps: [app('wxa', ['wx_card', 'jsapi']), app('wxb', ['jsapi']), app('wxc', [])] }),
      makeDeps(),
    );
    expect(config.apps.map((a) => a.tickets)).toEqual([['wx_card', 'jsapi'], ['jsapi'], []]);
    expect(Object.isFrozen(config.apps[0]?.tickets)).toBe(true);
  });

  it('refuses a ticket type listed twice, naming the key', () => {
    const err = configError(
      cfg({ apps: [app('wxa'), app('wxb'), app('wxc', ['jsapi', 'jsapi', 'wx_card'])] }),
    );
    expect(err.issues).toEqual([
      { key: 'apps[2].tickets[1]', problem: 'duplicate ticket type "jsapi"' },
    ]);
    expect(err.message).toBe('config: apps[2].tickets[1]: duplicate ticket type "jsapi"');
  });

  it('refuses an unknown ticket type, naming the key and the allowed ones', () => {
    const err = configError(cfg({ apps: [app('wxa', ['jsapi', 'card'])] }));
    expect(err.issues).toEqual([
      { key: 'apps[0].tickets[1]', problem: 'expected "jsapi" or "wx_card", got "card"' },
    ]);
  });

  it('refuses a single value where a list is expected', () => {
    const err = configError(cfg({ apps: [app('wxa', 'jsapi')] }));
    expect(err.key).toBe('apps[0].tickets');
    expect(err.message).toContain('expected a list');
  });

  it('suggests tickets for a misspelt key', () => {
    const err = configError(cfg({ apps: [{ ...APP, ticket: ['jsapi'] }] }));
    expect(err.key).toBe('apps[0].ticket');
    expect(err.message).toContain('did you mean "tickets"?');
  });
});
