import * as z from 'zod';
import { Secret } from '../shared/secret.js';
import type { RedisEncryptionConfig } from './config.js';
import { CONFIG_DEFAULTS } from './config-defaults.js';
import { readConfigEnv, readConfigFile, type ConfigDeps } from './config-sources.js';
import { REDIS_TLS_KEYS, redisTlsSchema, requireTlsUrls } from './redis-tls-schema.js';
import {
  durationMs,
  positiveInt,
  ENV_NAME,
  listenAddressProblem,
  section,
} from './schema-helpers.js';
import { resolveSecretSource } from './secret-source.js';

/** `redis`: the shared store (absent URLs = embedded), at-rest encryption and TLS. */

const redisUrl = z.string().refine((value) => /^rediss?:\/\/[^\s]+$/.test(value), {
  // Never echo the value: a Redis URL may carry a password.
  message: 'expected a redis:// or rediss:// URL',
});

/** A Sentinel or cluster seed node, `host:port` (IPv6 in brackets); no credentials, no scheme. */
const nodeAddress = z.string().transform((value, ctx) => {
  const problem = listenAddressProblem(value);
  const match = /^\[?([^\]]*)\]?:(\d+)$/.exec(value);
  const port = Number(match?.[2] ?? 0);
  if (problem || !match || port === 0) {
    ctx.issues.push({
      code: 'custom',
      message: problem ?? 'expected host:port with a port from 1 to 65535',
      input: '',
    });
    return z.NEVER;
  }
  return { host: match[1]!, port };
});

const envName = z
  .string()
  .regex(ENV_NAME, 'expected an environment variable name such as WXTOKEN_REDIS_PASSWORD');
const filePath = z.string().min(1, 'expected a file path');

const redisShape = {
  urls: z
    .array(redisUrl)
    .nullish()
    .transform((urls) => urls ?? []),
  /** Redis Sentinel (issue 16): the sentinels to ask for the current primary of sentinelName. */
  sentinels: z
    .array(nodeAddress)
    .nullish()
    .transform((nodes) => nodes ?? []),
  sentinelName: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected a master name such as mymaster')
    .optional(),
  /** The sentinels' own password (`requirepass` in sentinel.conf), when they have one. */
  sentinelPassword: z.string().optional(),
  sentinelPasswordEnv: envName.optional(),
  sentinelPasswordFile: filePath.optional(),
  /** Redis Cluster (issue 16): seed nodes; the client learns the rest of the cluster from them. */
  cluster: z
    .array(nodeAddress)
    .nullish()
    .transform((nodes) => nodes ?? []),
  /** The data nodes' ACL user and password under sentinels/cluster (with urls: in the URL). */
  username: z.string().min(1).optional(),
  password: z.string().optional(),
  passwordEnv: envName.optional(),
  passwordFile: filePath.optional(),
  keyPrefix: z
    .string()
    .regex(/^\S+$/, 'expected a non-empty prefix without spaces')
    .default(CONFIG_DEFAULTS.redisKeyPrefix),
  reconcileIntervalMs: durationMs().default(CONFIG_DEFAULTS.redisReconcileIntervalMs),
  reconcileRecordsPerSecond: positiveInt()
    .max(1_000_000)
    .default(CONFIG_DEFAULTS.redisReconcileRecordsPerSecond),
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

/** The keys each object under `redis` accepts (see KNOWN_KEYS). */
export const REDIS_KNOWN_KEYS: Readonly<Record<string, readonly string[]>> = {
  redis: [...Object.keys(redisShape), 'encryption', 'tls'],
  'redis.tls': REDIS_TLS_KEYS,
  'redis.encryption': Object.keys(encryptionShape),
  'redis.encryption.keys': Object.keys(encryptionKeyShape),
};

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
  let raw: string;
  let source: string;
  let field: string;
  if (entry.keyEnv !== undefined) {
    field = 'keyEnv';
    source = `env ${entry.keyEnv}`;
    const read = readConfigEnv(entry.keyEnv, deps.env);
    if ('problem' in read) return { field, problem: read.problem };
    raw = read.value;
  } else {
    field = 'keyFile';
    const read = readConfigFile(entry.keyFile!, deps);
    if ('problem' in read) return { field, problem: read.problem };
    source = `file ${read.path}`;
    raw = read.text.trim();
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

type ParsedRedis = z.output<z.ZodObject<typeof redisShape>>;

/** The keys that name a topology; exactly one may be set (none: the embedded store). */
const TOPOLOGY_KEYS = ['urls', 'sentinels', 'cluster'] as const;

/**
 * Exactly one topology; the Sentinel keys only with `sentinels`, the data-node credentials
 * only where no URL carries them. Each problem names the keys involved.
 */
function checkTopology(redis: ParsedRedis, ctx: z.core.$RefinementCtx): void {
  const issue = (path: string, message: string): void => {
    ctx.addIssue({ code: 'custom', message, input: undefined, path: [path] });
  };
  const set = TOPOLOGY_KEYS.filter((k) => redis[k].length > 0);
  if (set.length > 1) {
    issue(
      set[1]!,
      `set exactly one of redis.urls, redis.sentinels or redis.cluster, not ${set.map((k) => `redis.${k}`).join(' and ')}`,
    );
  }
  const sentinel = redis.sentinels.length > 0;
  if (sentinel && redis.sentinelName === undefined) {
    issue(
      'sentinelName',
      'is required with redis.sentinels (the master name the sentinels monitor)',
    );
  }
  for (const key of [
    'sentinelName',
    'sentinelPassword',
    'sentinelPasswordEnv',
    'sentinelPasswordFile',
  ] as const) {
    if (!sentinel && redis[key] !== undefined) issue(key, 'is only used with redis.sentinels');
  }
  const urlTopology = redis.sentinels.length === 0 && redis.cluster.length === 0;
  for (const key of ['username', 'password', 'passwordEnv', 'passwordFile'] as const) {
    if (urlTopology && redis[key] !== undefined) {
      issue(
        key,
        'is only used with redis.sentinels or redis.cluster (with redis.urls, credentials go in the URL)',
      );
    }
  }
}

/** An optional secret (`<base>`, `<base>Env` or `<base>File`): absent when none is given. */
function optionalSecret(
  raw: Readonly<Record<string, unknown>>,
  base: string,
  deps: ConfigDeps,
  ctx: z.core.$RefinementCtx,
): Secret | undefined | null {
  if ([base, `${base}Env`, `${base}File`].every((k) => raw[k] === undefined)) return undefined;
  const resolved = resolveSecretSource(raw, base, deps);
  if ('problem' in resolved) {
    ctx.addIssue({
      code: 'custom',
      message: resolved.problem,
      input: undefined,
      path: resolved.key === '' ? [base] : [resolved.key],
    });
    return null;
  }
  return resolved.secret;
}

export function redisSchema(deps: ConfigDeps) {
  return section({
    ...redisShape,
    encryption: encryptionSchema(deps),
    tls: redisTlsSchema(deps),
  })
    .superRefine(requireTlsUrls)
    .superRefine(checkTopology)
    .transform((redis, ctx) => {
      const {
        sentinelPassword: _sp,
        sentinelPasswordEnv: _spe,
        sentinelPasswordFile: _spf,
        password: _p,
        passwordEnv: _pe,
        passwordFile: _pf,
        ...rest
      } = redis;
      const sentinelSecret = optionalSecret(redis, 'sentinelPassword', deps, ctx);
      const password = optionalSecret(redis, 'password', deps, ctx);
      if (sentinelSecret === null || password === null) return z.NEVER;
      return {
        ...rest,
        ...(sentinelSecret ? { sentinelPassword: sentinelSecret } : {}),
        ...(password ? { password } : {}),
      };
    });
}
