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
    .transform((urls) => urls ?? [])
    .describe(
      'Absent: the embedded store and lease (one process). One URL: a single primary. 3 or 5 URLs: independent masters with a Redlock quorum. `redis[s]://[user:password@]host:port`; rediss = TLS. One of urls, sentinels, cluster.',
    ),
  /** Redis Sentinel (issue 16): the sentinels to ask for the current primary of sentinelName. */
  sentinels: z
    .array(nodeAddress)
    .nullish()
    .transform((nodes) => nodes ?? [])
    .describe(
      'Redis Sentinel: host:port of each sentinel; wxtoken asks them for the primary of sentinelName (docs/cluster.md).',
    ),
  sentinelName: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected a master name such as mymaster')
    .optional()
    .describe('With sentinels (required there): the master name the sentinels monitor.'),
  /** The sentinels' own password (`requirepass` in sentinel.conf), when they have one. */
  sentinelPassword: z
    .string()
    .optional()
    .describe("The sentinels' own requirepass, inline (development only)."),
  sentinelPasswordEnv: envName
    .optional()
    .describe("The sentinels' requirepass from this environment variable."),
  sentinelPasswordFile: filePath.optional().describe("The sentinels' requirepass from this file."),
  /** Redis Cluster (issue 16): seed nodes; the client learns the rest of the cluster from them. */
  cluster: z
    .array(nodeAddress)
    .nullish()
    .transform((nodes) => nodes ?? [])
    .describe('Redis Cluster: host:port seed nodes (slots, MOVED/ASK and failover are followed).'),
  /** The data nodes' ACL user and password under sentinels/cluster (with urls: in the URL). */
  username: z
    .string()
    .min(1)
    .optional()
    .describe("The data nodes' ACL user with sentinels or cluster (with urls: in the URL)."),
  password: z
    .string()
    .optional()
    .describe("The data nodes' password inline, with sentinels or cluster (development only)."),
  passwordEnv: envName
    .optional()
    .describe("The data nodes' password from this environment variable."),
  passwordFile: filePath.optional().describe("The data nodes' password from this file."),
  keyPrefix: z
    .string()
    .regex(/^\S+$/, 'expected a non-empty prefix without spaces')
    .default(CONFIG_DEFAULTS.redisKeyPrefix)
    .describe('Prefix of every Redis key and channel wxtoken uses.'),
  reconcileIntervalMs: durationMs()
    .default(CONFIG_DEFAULTS.redisReconcileIntervalMs)
    .describe(
      'Every replica re-reads every record this often, in case a pub/sub message was lost; also the longest retry delay while Redis is unreachable at start.',
    ),
  reconcileRecordsPerSecond: positiveInt()
    .max(1_000_000)
    .default(CONFIG_DEFAULTS.redisReconcileRecordsPerSecond)
    .describe(
      'A reconcile pass reads at most this many records a second (100,000 apps: a pass of 20 s).',
    ),
  commandTimeoutMs: durationMs()
    .default(CONFIG_DEFAULTS.redisCommandTimeoutMs)
    .describe('Time limit of one Redis command; a node that does not answer counts as down.'),
};
/** redis.encryption (issue 6): AES-256-GCM at rest; key material is resolved here. */
const encryptionKeyShape = {
  id: z
    .string()
    .regex(
      /^[A-Za-z0-9_.-]{1,32}$/,
      'expected 1 to 32 characters of A-Z, a-z, 0-9, "_", "." or "-"',
    )
    .describe('The key id stored with every value sealed under it (1 to 32 characters).'),
  keyEnv: z
    .string()
    .regex(ENV_NAME, 'expected an environment variable name such as WXTOKEN_REDIS_KEY_1')
    .optional()
    .describe(
      'The key (32 bytes as base64: `openssl rand -base64 32`) from this environment variable.',
    ),
  keyFile: z.string().min(1, 'expected a file path').optional().describe('The key from this file.'),
};
const encryptionShape = {
  currentKeyId: z
    .string()
    .min(1)
    .describe(
      'The key new values are sealed with (an id under keys); rotate by adding a key, then switching this.',
    ),
  keys: z
    .array(z.strictObject(encryptionKeyShape))
    .min(1, 'at least one key is required')
    .describe(
      'Every key a stored value may name; remove one only once nothing sealed under it remains.',
    ),
  /** Migration window for enc:v1 values sealed without AAD (see AtRestCipher). */
  acceptUnboundValues: z
    .boolean()
    .default(false)
    .describe(
      'Also read enc:v1 values (sealed without their place in Redis) while upgrading from the release that wrote them (docs/security.md).',
    ),
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
    encryption: encryptionSchema(deps).describe(
      'Optional AES-256-GCM at rest: tokens (also in pub/sub messages), session keys and recorded phone numbers are sealed in Redis (docs/security.md).',
    ),
    tls: redisTlsSchema(deps).describe(
      'TLS to Redis with a private CA and/or a client certificate; with sentinels or cluster it covers every connection, sentinels included.',
    ),
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
