import { SCOPES } from '../auth/scopes.js';
import { isIPv6 } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import * as z from 'zod';
import { Secret } from '../shared/secret.js';
import type { AppConfig, RedisEncryptionConfig } from './config.js';
import { TICKET_TYPES } from '../shared/tickets.js';
import { REDIS_TLS_KEYS, redisTlsSchema, requireTlsUrls } from './redis-tls-schema.js';

/**
 * The one schema of the YAML configuration (design.md "Process and configuration").
 * Every object is strict, so a misspelt key is an error rather than a silently ignored
 * default. Per-field checks, defaults, secret resolution and cross-field invariants all live
 * here; load-config.ts turns the issues into a ConfigError and freezes the result.
 */

/** What resolving the configuration may touch: injected so tests need no real env or files. */
export interface ConfigDeps {
  env: NodeJS.ProcessEnv;
  /** Reads a secretFile (utf-8). Relative paths are resolved against `baseDir` first. */
  readFile: (path: string) => string;
  warn: (msg: string) => void;
  /** Directory relative secretFile paths are resolved against (loadConfigFile: the file's dir). */
  baseDir?: string;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const APP_MODES = ['classic', 'stable'] as const;
export const LOG_LEVEL_ENV = 'WXTOKEN_LOG_LEVEL';

/** Defaults, as documented on the `Config` type in config.ts. */
export const CONFIG_DEFAULTS = Object.freeze({
  grpcListen: '0.0.0.0:50051',
  grpcMaxRequestBytes: 64 * 1024,
  // A busy business server multiplexes hundreds of calls on one channel (a 200-call ForceRefresh
  // herd, GetToken bursts): 1,000 keeps them flowing while bounding one connection.
  grpcMaxConcurrentStreams: 1000,
  grpcIdleTimeoutMs: 300_000,
  grpcMaxConnectionAgeMs: 1_800_000,
  grpcMaxConnectionAgeGraceMs: 30_000,
  grpcKeepaliveTimeMs: 120_000,
  grpcKeepaliveTimeoutMs: 20_000,
  grpcMaxWatchStreamsPerCaller: 100,
  // Loopback: /metrics lists every AppID; exposing it is a decision (deploy/ sets 0.0.0.0).
  metricsListen: '127.0.0.1:9464',
  wechatBaseUrl: 'https://api.weixin.qq.com',
  wechatTimeoutMs: 5000,
  redisKeyPrefix: 'wxtoken:',
  loginSessionTtlSeconds: 259_200,
  limitsForceRefreshPerMinute: 600,
  limitsCode2SessionPerSecond: 200,
  limitsSessionCallsPerSecond: 50,
  limitsPerSessionPerMinute: 30,
  redisReconcileIntervalMs: 2000,
  redisCommandTimeoutMs: 1000,
  leaseTtlMs: 10_000,
  /** lease.renewIntervalMs defaults to lease.ttlMs divided by this. */
  leaseRenewDivisor: 3,
  refreshAheadSeconds: 300,
  refreshStableWindowSeconds: 300,
  refreshJitterRatio: 0.2,
  refreshRetryMinMs: 1000,
  refreshRetryMaxMs: 60_000,
  refreshConfigErrorRetryMs: 600_000,
  refreshForceMinIntervalMs: 10_000,
  refreshForceDailyBudget: 50,
  logLevel: 'info',
  auditMaxEvents: 10_000,
});

const APP_ID = /^[A-Za-z0-9_-]{1,64}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const positive = () => z.number().positive();
const positiveInt = () => z.number().int().positive();

/**
 * Node's timers overflow above 2^31-1 ms (about 24.8 days) and fire after 1 ms instead: a
 * `wechat.timeoutMs: 3000000000` made every call time out at once. Every duration is bounded.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
const durationMs = () =>
  positive().max(MAX_TIMER_MS, `at most ${MAX_TIMER_MS} ms (Node timers overflow above it)`);
const durationSeconds = () =>
  positive().max(
    Math.floor(MAX_TIMER_MS / 1000),
    `at most ${Math.floor(MAX_TIMER_MS / 1000)} s (Node timers overflow above it)`,
  );

/** An absent or empty (`key:` with nothing under it) section means "all defaults". */
function section<T extends z.core.$ZodLooseShape>(shape: T) {
  return z.preprocess((v) => v ?? {}, z.strictObject(shape));
}

/** `host:port`, IPv6 hosts in brackets; port 0 picks a free one. */
export function listenAddressProblem(value: string): string | undefined {
  const match = /^(\[[^\]]*\]|[^:[\]]*):(\d{1,5})$/.exec(value);
  if (!match) return `expected host:port (IPv6 as [::1]:port), got ${JSON.stringify(value)}`;
  const host = match[1] ?? '';
  const port = Number(match[2]);
  if (host.startsWith('[')) {
    if (!isIPv6(host.slice(1, -1))) return `${JSON.stringify(host)} is not an IPv6 address`;
  } else if (!/^[A-Za-z0-9.-]+$/.test(host)) {
    return `expected host:port with a non-empty host name or IP, got ${JSON.stringify(value)}`;
  }
  if (port > 65535) return `port ${port} is out of range 0..65535`;
  return undefined;
}

function listenAddress(opts: { allowEmpty: boolean }) {
  return z.string().superRefine((value, ctx) => {
    if (opts.allowEmpty && value === '') return;
    const problem = listenAddressProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, input: value });
  });
}

/** http(s) URL without query, fragment or credentials; one trailing slash is stripped. */
const baseUrl = z.string().transform((value, ctx) => {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  // Never echo the value: a URL may carry credentials.
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    ctx.issues.push({ code: 'custom', message: 'expected an http:// or https:// URL', input: '' });
    return z.NEVER;
  }
  if (url.search || url.hash || url.username || url.password || value.includes('?')) {
    ctx.issues.push({
      code: 'custom',
      message: 'expected a base URL without query, fragment or credentials',
      input: '',
    });
    return z.NEVER;
  }
  return value.endsWith('/') ? value.slice(0, -1) : value;
});

const redisUrl = z.string().refine((value) => /^rediss?:\/\/[^\s]+$/.test(value), {
  // Never echo the value: a Redis URL may carry a password.
  message: 'expected a redis:// or rediss:// URL',
});

const grpcShape = {
  listen: listenAddress({ allowEmpty: false }).default(CONFIG_DEFAULTS.grpcListen),
  maxRequestBytes: positiveInt().default(CONFIG_DEFAULTS.grpcMaxRequestBytes),
  maxConcurrentStreams: positiveInt().max(10_000).default(CONFIG_DEFAULTS.grpcMaxConcurrentStreams),
  idleTimeoutMs: durationMs().default(CONFIG_DEFAULTS.grpcIdleTimeoutMs),
  maxConnectionAgeMs: durationMs().default(CONFIG_DEFAULTS.grpcMaxConnectionAgeMs),
  maxConnectionAgeGraceMs: durationMs().default(CONFIG_DEFAULTS.grpcMaxConnectionAgeGraceMs),
  keepaliveTimeMs: durationMs().default(CONFIG_DEFAULTS.grpcKeepaliveTimeMs),
  keepaliveTimeoutMs: durationMs().default(CONFIG_DEFAULTS.grpcKeepaliveTimeoutMs),
  maxWatchStreamsPerCaller: positiveInt().default(CONFIG_DEFAULTS.grpcMaxWatchStreamsPerCaller),
};
const metricsShape = {
  listen: listenAddress({ allowEmpty: true }).default(CONFIG_DEFAULTS.metricsListen),
};
const wechatShape = {
  baseUrl: baseUrl.default(CONFIG_DEFAULTS.wechatBaseUrl),
  timeoutMs: durationMs().default(CONFIG_DEFAULTS.wechatTimeoutMs),
};
const redisShape = {
  urls: z
    .array(redisUrl)
    .nullish()
    .transform((urls) => urls ?? []),
  keyPrefix: z
    .string()
    .regex(/^\S+$/, 'expected a non-empty prefix without spaces')
    .default(CONFIG_DEFAULTS.redisKeyPrefix),
  reconcileIntervalMs: durationMs().default(CONFIG_DEFAULTS.redisReconcileIntervalMs),
  commandTimeoutMs: durationMs().default(CONFIG_DEFAULTS.redisCommandTimeoutMs),
};
/** redis.encryption (issue 6): AES-256-GCM at rest; key material is resolved here. */
const encryptionKeyShape = {
  id: z
    .string()
    .regex(
      /^[A-Za-z0-9_.-]{1,32}$/,
      'expected 1 to 32 characters of A-Z, a-z, 0-9, "_", "." or "-"',
    ),
  keyEnv: z
    .string()
    .regex(ENV_NAME, 'expected an environment variable name such as WXTOKEN_REDIS_KEY_1')
    .optional(),
  keyFile: z.string().min(1, 'expected a file path').optional(),
};
const encryptionShape = {
  currentKeyId: z.string().min(1),
  keys: z.array(z.strictObject(encryptionKeyShape)).min(1, 'at least one key is required'),
  /** Migration window for enc:v1 values sealed without AAD (see AtRestCipher). */
  acceptUnboundValues: z.boolean().default(false),
};
const ENCRYPTION_KEY_BYTES = 32;
const leaseShape = {
  ttlMs: durationMs().default(CONFIG_DEFAULTS.leaseTtlMs),
  renewIntervalMs: durationMs().optional(),
};
const refreshShape = {
  aheadSeconds: durationSeconds().default(CONFIG_DEFAULTS.refreshAheadSeconds),
  stableWindowSeconds: durationSeconds().default(CONFIG_DEFAULTS.refreshStableWindowSeconds),
  jitterRatio: z.number().min(0).lt(1).default(CONFIG_DEFAULTS.refreshJitterRatio),
  retryMinMs: durationMs().default(CONFIG_DEFAULTS.refreshRetryMinMs),
  retryMaxMs: durationMs().default(CONFIG_DEFAULTS.refreshRetryMaxMs),
  configErrorRetryMs: durationMs().default(CONFIG_DEFAULTS.refreshConfigErrorRetryMs),
  forceMinIntervalMs: durationMs().default(CONFIG_DEFAULTS.refreshForceMinIntervalMs),
  forceDailyBudget: positiveInt().default(CONFIG_DEFAULTS.refreshForceDailyBudget),
};
const logShape = {
  level: z.enum(LOG_LEVELS).optional(),
  pretty: z.boolean().default(false),
};
const appShape = {
  appId: z
    .string()
    .regex(APP_ID, 'expected 1 to 64 characters of A-Z, a-z, 0-9, "_" or "-" (e.g. wx0123...)'),
  mode: z.enum(APP_MODES),
  secretEnv: z
    .string()
    .regex(ENV_NAME, 'expected an environment variable name such as WX_APP1_SECRET')
    .optional(),
  secretFile: z.string().min(1, 'expected a file path').optional(),
  secret: z.string().optional(),
  exposeSessionKey: z.boolean().optional(),
  tickets: z
    .array(z.enum(TICKET_TYPES))
    .superRefine((types, ctx) => {
      types.forEach((t, i) => {
        if (types.indexOf(t) !== i)
          ctx.addIssue({ code: 'custom', message: `duplicate ticket type "${t}"`, path: [i] });
      });
    })
    .default([]),
};
const callerShape = {
  name: z
    .string()
    .regex(
      /^[A-Za-z0-9_.-]{1,64}$/,
      'expected 1 to 64 characters of A-Z, a-z, 0-9, "_", "." or "-"',
    ),
  keySha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'expected the SHA-256 of the key as 64 lowercase hex characters')
    .optional(),
  certCommonName: z.string().min(1).optional(),
  apps: z.array(z.string().regex(/^(\*|[A-Za-z0-9_-]{1,64})$/, 'expected an appId or "*"')).min(1),
  scopes: z.array(z.enum(SCOPES)).min(1),
};
const authShape = {
  callers: z
    .array(
      z
        .strictObject(callerShape)
        .refine((c) => c.keySha256 !== undefined || c.certCommonName !== undefined, {
          message: 'set keySha256 (bearer key) or certCommonName (mTLS)',
        }),
    )
    .default([])
    .superRefine(rejectDuplicateCallers),
};

/**
 * A caller is found by its key hash or certificate CN, and named in logs and audit by `name`:
 * two entries with one of these would make a caller's rights depend on list order.
 */
function rejectDuplicateCallers(
  callers: readonly {
    name: string;
    keySha256?: string | undefined;
    certCommonName?: string | undefined;
  }[],
  ctx: z.core.$RefinementCtx,
): void {
  for (const field of ['name', 'keySha256', 'certCommonName'] as const) {
    const firstIndex = new Map<string, number>();
    callers.forEach((caller, i) => {
      const value = caller[field];
      if (value === undefined) return;
      const first = firstIndex.get(value);
      if (first === undefined) firstIndex.set(value, i);
      else
        ctx.addIssue({
          code: 'custom',
          message: `duplicate of auth.callers[${first}]`,
          input: undefined,
          path: [i, field],
        });
    });
  }
}
const tlsShape = {
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
  /** Set: clients must present a certificate signed by this CA (mTLS). */
  clientCaFile: z.string().min(1).optional(),
};
const limitsShape = {
  forceRefreshPerMinute: positive().default(CONFIG_DEFAULTS.limitsForceRefreshPerMinute),
  code2SessionPerSecond: positive().default(CONFIG_DEFAULTS.limitsCode2SessionPerSecond),
  sessionCallsPerSecond: positive().default(CONFIG_DEFAULTS.limitsSessionCallsPerSecond),
  perSessionPerMinute: positive().default(CONFIG_DEFAULTS.limitsPerSessionPerMinute),
};
const auditShape = {
  maxEvents: z.number().int().min(100).max(1_000_000).default(CONFIG_DEFAULTS.auditMaxEvents),
};
const loginShape = {
  exposeSessionKey: z.boolean().default(false),
  sessionTtlSeconds: durationSeconds().default(CONFIG_DEFAULTS.loginSessionTtlSeconds),
};
const rootShapeKeys = [
  'grpc',
  'metrics',
  'wechat',
  'redis',
  'lease',
  'refresh',
  'log',
  'login',
  'auth',
  'tls',
  'limits',
  'audit',
  'apps',
];

/** The keys each object accepts, by key path with list indexes removed ("" = top level). */
export const KNOWN_KEYS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  '': rootShapeKeys,
  grpc: Object.keys(grpcShape),
  metrics: Object.keys(metricsShape),
  wechat: Object.keys(wechatShape),
  redis: [...Object.keys(redisShape), 'encryption', 'tls'],
  'redis.tls': REDIS_TLS_KEYS,
  'redis.encryption': Object.keys(encryptionShape),
  'redis.encryption.keys': Object.keys(encryptionKeyShape),
  lease: Object.keys(leaseShape),
  refresh: Object.keys(refreshShape),
  log: Object.keys(logShape),
  login: Object.keys(loginShape),
  auth: Object.keys(authShape),
  'auth.callers': Object.keys(callerShape),
  tls: Object.keys(tlsShape),
  limits: Object.keys(limitsShape),
  audit: Object.keys(auditShape),
  apps: Object.keys(appShape),
});

type RawApp = {
  appId: string;
  mode: AppConfig['mode'];
  secretEnv?: string | undefined;
  secretFile?: string | undefined;
  secret?: string | undefined;
};
type Resolved = { secret: Secret; source: string } | { key: string; problem: string };

/** Reads the one secret source an app names. Problems name keys and paths, never values. */
function resolveSecret(app: RawApp, deps: ConfigDeps): Resolved {
  const given = (['secretEnv', 'secretFile', 'secret'] as const).filter(
    (k) => app[k] !== undefined,
  );
  if (given.length !== 1) {
    return {
      key: '',
      problem:
        given.length === 0
          ? 'one of secretEnv, secretFile or secret is required'
          : `set exactly one of secretEnv, secretFile or secret, not ${given.join(' and ')}`,
    };
  }
  if (app.secretEnv !== undefined) {
    const value = deps.env[app.secretEnv]?.trim();
    if (!value) {
      const state = value === undefined ? 'is not set' : 'is empty';
      return { key: 'secretEnv', problem: `environment variable ${app.secretEnv} ${state}` };
    }
    return { secret: new Secret(value), source: `env ${app.secretEnv}` };
  }
  if (app.secretFile !== undefined) {
    const path =
      deps.baseDir !== undefined && !isAbsolute(app.secretFile)
        ? resolve(deps.baseDir, app.secretFile)
        : app.secretFile;
    let content: string;
    try {
      content = deps.readFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'read error';
      return { key: 'secretFile', problem: `cannot read ${path} (${code})` };
    }
    const value = content.trim();
    if (!value) return { key: 'secretFile', problem: `file ${path} is empty` };
    return { secret: new Secret(value), source: `file ${path}` };
  }
  const value = (app.secret ?? '').trim();
  if (!value) return { key: 'secret', problem: 'is empty' };
  return { secret: new Secret(value), source: 'inline' };
}

function appSchema(deps: ConfigDeps) {
  return z.strictObject(appShape).transform((app, ctx): AppConfig => {
    const resolved = resolveSecret(app, deps);
    if ('problem' in resolved) {
      const path = resolved.key === '' ? [] : [resolved.key];
      ctx.issues.push({ code: 'custom', message: resolved.problem, input: undefined, path });
      return z.NEVER;
    }
    return {
      appId: app.appId,
      mode: app.mode,
      secret: resolved.secret,
      secretSource: resolved.source,
      tickets: app.tickets,
      ...(app.exposeSessionKey !== undefined ? { exposeSessionKey: app.exposeSessionKey } : {}),
    };
  });
}

const APPS_REQUIRED = 'at least one app is required';

function appsSchema(deps: ConfigDeps) {
  return z
    .array(appSchema(deps), {
      error: (iss) => (iss.input === undefined || iss.input === null ? APPS_REQUIRED : undefined),
    })
    .min(1, APPS_REQUIRED)
    .superRefine((apps, ctx) => {
      // WeChat AppIDs are case-insensitive: two spellings of one id would mean two fetchers.
      const firstIndex = new Map<string, number>();
      apps.forEach((app, i) => {
        const id = app.appId.toLowerCase();
        const first = firstIndex.get(id);
        if (first === undefined) firstIndex.set(id, i);
        else
          ctx.addIssue({
            code: 'custom',
            message: `duplicate appId ${JSON.stringify(app.appId)} (also apps[${first}].appId)`,
            input: undefined,
            path: [i, 'appId'],
          });
      });
    });
}

type ResolvedKey = { key: Secret; source: string } | { field: string; problem: string };

/**
 * Reads one at-rest key (base64 of 32 bytes) from its env var or file. Problems name the
 * variable or path, never the value.
 */
function resolveEncryptionKey(
  entry: { keyEnv?: string | undefined; keyFile?: string | undefined },
  deps: ConfigDeps,
): ResolvedKey {
  const given = (['keyEnv', 'keyFile'] as const).filter((k) => entry[k] !== undefined);
  if (given.length !== 1) {
    return { field: '', problem: 'set exactly one of keyEnv or keyFile' };
  }
  let raw: string | undefined;
  let source: string;
  let field: string;
  if (entry.keyEnv !== undefined) {
    field = 'keyEnv';
    source = `env ${entry.keyEnv}`;
    raw = deps.env[entry.keyEnv]?.trim();
    if (!raw) {
      const state = raw === undefined ? 'is not set' : 'is empty';
      return { field, problem: `environment variable ${entry.keyEnv} ${state}` };
    }
  } else {
    field = 'keyFile';
    const file = entry.keyFile!;
    const path =
      deps.baseDir !== undefined && !isAbsolute(file) ? resolve(deps.baseDir, file) : file;
    source = `file ${path}`;
    try {
      raw = deps.readFile(path).trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'read error';
      return { field, problem: `cannot read ${path} (${code})` };
    }
    if (!raw) return { field, problem: `file ${path} is empty` };
  }
  const valid =
    /^[A-Za-z0-9+/]{43}=$/.test(raw) && Buffer.from(raw, 'base64').length === ENCRYPTION_KEY_BYTES;
  if (!valid) {
    return {
      field,
      problem: `${source} must hold ${ENCRYPTION_KEY_BYTES} bytes as base64 (44 characters, e.g. from \`openssl rand -base64 32\`)`,
    };
  }
  return { key: new Secret(raw), source };
}

function encryptionSchema(deps: ConfigDeps) {
  return z
    .strictObject(encryptionShape)
    .optional()
    .transform((enc, ctx): RedisEncryptionConfig | undefined => {
      if (enc === undefined) return undefined;
      const keys: RedisEncryptionConfig['keys'][number][] = [];
      let bad = false;
      const seen = new Set<string>();
      enc.keys.forEach((entry, i) => {
        if (seen.has(entry.id)) {
          bad = true;
          ctx.issues.push({
            code: 'custom',
            message: `duplicate key id ${JSON.stringify(entry.id)}`,
            input: undefined,
            path: ['keys', i, 'id'],
          });
        }
        seen.add(entry.id);
        const resolved = resolveEncryptionKey(entry, deps);
        if ('problem' in resolved) {
          bad = true;
          ctx.issues.push({
            code: 'custom',
            message: resolved.problem,
            input: undefined,
            path: resolved.field === '' ? ['keys', i] : ['keys', i, resolved.field],
          });
          return;
        }
        keys.push({ id: entry.id, key: resolved.key, source: resolved.source });
      });
      if (!seen.has(enc.currentKeyId)) {
        bad = true;
        ctx.issues.push({
          code: 'custom',
          message: `${JSON.stringify(enc.currentKeyId)} is not the id of an entry in redis.encryption.keys`,
          input: undefined,
          path: ['currentKeyId'],
        });
      }
      if (bad) return z.NEVER;
      return { currentKeyId: enc.currentKeyId, keys, acceptUnboundValues: enc.acceptUnboundValues };
    });
}

const leaseSchema = section(leaseShape).transform((lease, ctx) => {
  const renewIntervalMs = lease.renewIntervalMs ?? lease.ttlMs / CONFIG_DEFAULTS.leaseRenewDivisor;
  if (!(renewIntervalMs < lease.ttlMs / 2)) {
    ctx.issues.push({
      code: 'custom',
      message: `must be less than lease.ttlMs / 2 (${lease.ttlMs / 2}), got ${renewIntervalMs}`,
      input: undefined,
      path: ['renewIntervalMs'],
    });
    return z.NEVER;
  }
  return { ttlMs: lease.ttlMs, renewIntervalMs };
});

const refreshSchema = section(refreshShape).superRefine((refresh, ctx) => {
  if (refresh.retryMinMs > refresh.retryMaxMs) {
    ctx.addIssue({
      code: 'custom',
      message: `must be <= refresh.retryMaxMs (${refresh.retryMaxMs}), got ${refresh.retryMinMs}`,
      input: undefined,
      path: ['retryMinMs'],
    });
  }
});

function logSchema(env: NodeJS.ProcessEnv) {
  return section(logShape).transform((log, ctx) => {
    if (log.level !== undefined) return { level: log.level, pretty: log.pretty };
    const fromEnv = env[LOG_LEVEL_ENV]?.trim();
    if (!fromEnv) return { level: CONFIG_DEFAULTS.logLevel, pretty: log.pretty };
    if (!(LOG_LEVELS as readonly string[]).includes(fromEnv)) {
      ctx.issues.push({
        code: 'custom',
        message: `${LOG_LEVEL_ENV}=${JSON.stringify(fromEnv.slice(0, 20))} is not one of ${LOG_LEVELS.join(', ')}`,
        input: undefined,
        path: ['level'],
      });
      return z.NEVER;
    }
    return { level: fromEnv, pretty: log.pretty };
  });
}

/** Builds the schema; it closes over `deps` to resolve secrets and the log-level default. */
export function createConfigSchema(deps: ConfigDeps) {
  return z.strictObject({
    grpc: section(grpcShape),
    metrics: section(metricsShape),
    wechat: section(wechatShape),
    redis: section({
      ...redisShape,
      encryption: encryptionSchema(deps),
      tls: redisTlsSchema(deps),
    }).superRefine(requireTlsUrls),
    lease: leaseSchema,
    refresh: refreshSchema,
    log: logSchema(deps.env),
    login: section(loginShape),
    auth: section(authShape),
    // File paths resolve against the config file's directory, like every other file it names.
    tls: z
      .strictObject(tlsShape)
      .transform((tls) => {
        const at = (file: string): string =>
          deps.baseDir !== undefined && !isAbsolute(file) ? resolve(deps.baseDir, file) : file;
        return {
          certFile: at(tls.certFile),
          keyFile: at(tls.keyFile),
          ...(tls.clientCaFile !== undefined ? { clientCaFile: at(tls.clientCaFile) } : {}),
        };
      })
      .optional(),
    limits: section(limitsShape),
    audit: section(auditShape),
    apps: appsSchema(deps),
  });
}
