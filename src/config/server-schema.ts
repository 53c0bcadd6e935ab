import * as z from 'zod';
import { SCOPES } from '../auth/scopes.js';
import { CONFIG_DEFAULTS, MAX_PER_APP_SERIES } from './config-defaults.js';
import { configFilePath, type ConfigDeps } from './config-sources.js';
import { durationMs, listenAddress, positive, positiveInt } from './schema-helpers.js';

/**
 * What the server offers its callers: the gRPC listener (`grpc`), its TLS (`tls`), who may call
 * (`auth`) and how often (`limits`), the audit trail (`audit`) and the /metrics listener.
 */

export const grpcShape = {
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
/**
 * The WeChat-compatible HTTP gateway (design.md "Gateway"). Bodies are bounded both ways: a
 * request is held in memory (a forwarded call may be repeated once after a token recovery), a
 * reply is streamed but cut past its bound.
 */
export const gatewayShape = {
  listen: listenAddress({ allowEmpty: true }).default(''),
  passThrough: z.boolean().default(false),
  acceptAppSecret: z.boolean().default(false),
  maxRequestBytes: positiveInt()
    .max(64 * 1024 * 1024)
    .default(CONFIG_DEFAULTS.gatewayMaxRequestBytes),
  maxResponseBytes: positiveInt()
    .max(256 * 1024 * 1024)
    .default(CONFIG_DEFAULTS.gatewayMaxResponseBytes),
  timeoutMs: durationMs().default(CONFIG_DEFAULTS.gatewayTimeoutMs),
  maxInFlight: positiveInt().max(10_000).default(CONFIG_DEFAULTS.gatewayMaxInFlight),
};
export const metricsShape = {
  listen: listenAddress({ allowEmpty: true }).default(CONFIG_DEFAULTS.metricsListen),
  // At most this many apps get per-app series in a scrape; aggregates count every app.
  perAppSeries: z
    .number()
    .int()
    .min(0)
    .max(MAX_PER_APP_SERIES, `at most ${MAX_PER_APP_SERIES} (a larger scrape stalls the server)`)
    .default(CONFIG_DEFAULTS.metricsPerAppSeries),
};
export const callerShape = {
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
  apps: z
    .array(
      z
        .string()
        .regex(
          /^(\*|[A-Za-z0-9_-]{1,64}|component:[A-Za-z0-9_-]{1,64}\/\*)$/,
          'expected an appId, "*" or "component:<componentAppId>/*"',
        ),
    )
    .min(1),
  scopes: z.array(z.enum(SCOPES)).min(1),
};
export const authShape = {
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
export const tlsShape = {
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
  /** Set: clients must present a certificate signed by this CA (mTLS). */
  clientCaFile: z.string().min(1).optional(),
};
export const limitsShape = {
  forceRefreshPerMinute: positive().default(CONFIG_DEFAULTS.limitsForceRefreshPerMinute),
  code2SessionPerSecond: positive().default(CONFIG_DEFAULTS.limitsCode2SessionPerSecond),
  sessionCallsPerSecond: positive().default(CONFIG_DEFAULTS.limitsSessionCallsPerSecond),
  perSessionPerMinute: positive().default(CONFIG_DEFAULTS.limitsPerSessionPerMinute),
  passThroughPerSecond: positive().default(CONFIG_DEFAULTS.limitsPassThroughPerSecond),
};
export const auditShape = {
  maxEvents: z.number().int().min(100).max(1_000_000).default(CONFIG_DEFAULTS.auditMaxEvents),
};

/** `tls`: the paths are only resolved here; grpc/tls-files.ts reads (and reloads) the files. */
export function tlsSchema(deps: Pick<ConfigDeps, 'baseDir'>) {
  // File paths resolve against the config file's directory, like every other file it names.
  return z
    .strictObject(tlsShape)
    .transform((tls) => {
      const at = (file: string): string => configFilePath(file, deps.baseDir);
      return {
        certFile: at(tls.certFile),
        keyFile: at(tls.keyFile),
        ...(tls.clientCaFile !== undefined ? { clientCaFile: at(tls.clientCaFile) } : {}),
      };
    })
    .optional();
}
