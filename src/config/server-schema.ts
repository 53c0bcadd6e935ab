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
  listen: listenAddress({ allowEmpty: false })
    .default(CONFIG_DEFAULTS.grpcListen)
    .describe(
      'gRPC address, host:port (IPv6 as [::1]:port); port 0 picks a free one. Without auth.callers only a loopback address is accepted (or `wxtoken serve --insecure`).',
    ),
  maxRequestBytes: positiveInt()
    .default(CONFIG_DEFAULTS.grpcMaxRequestBytes)
    .describe('Largest request message; larger ones get RESOURCE_EXHAUSTED.'),
  maxConcurrentStreams: positiveInt()
    .max(10_000)
    .default(CONFIG_DEFAULTS.grpcMaxConcurrentStreams)
    .describe('Calls open at once on one connection (HTTP/2 SETTINGS).'),
  idleTimeoutMs: durationMs()
    .default(CONFIG_DEFAULTS.grpcIdleTimeoutMs)
    .describe('A connection with no call for this long is closed.'),
  maxConnectionAgeMs: durationMs()
    .default(CONFIG_DEFAULTS.grpcMaxConnectionAgeMs)
    .describe(
      'Connections are asked to go away at this age (WatchToken clients reconnect), so load spreads over new replicas.',
    ),
  maxConnectionAgeGraceMs: durationMs()
    .default(CONFIG_DEFAULTS.grpcMaxConnectionAgeGraceMs)
    .describe('Time calls get to finish after a connection was asked to go away.'),
  keepaliveTimeMs: durationMs()
    .default(CONFIG_DEFAULTS.grpcKeepaliveTimeMs)
    .describe('The server pings a quiet connection this often.'),
  keepaliveTimeoutMs: durationMs()
    .default(CONFIG_DEFAULTS.grpcKeepaliveTimeoutMs)
    .describe('A ping not answered within this drops the connection.'),
  maxWatchStreamsPerCaller: positiveInt()
    .default(CONFIG_DEFAULTS.grpcMaxWatchStreamsPerCaller)
    .describe(
      'Open WatchToken streams per caller per replica (anonymous: per peer host); more get RESOURCE_EXHAUSTED.',
    ),
};
/**
 * The WeChat-compatible HTTP gateway (design.md "Gateway"). Bodies are bounded both ways: a
 * request is held in memory (a forwarded call may be repeated once after a token recovery), a
 * reply is streamed but cut past its bound.
 */
export const gatewayShape = {
  listen: listenAddress({ allowEmpty: true })
    .default('')
    .describe(
      'The WeChat-compatible HTTP gateway (docs/gateway.md); `""` turns it off. HTTPS with `tls`; loopback only without auth.callers. Needed by components[].',
    ),
  passThrough: z
    .boolean()
    .default(false)
    .describe(
      'Forward every other WeChat path whose access_token wxtoken holds; a refused token is refreshed and the call repeated once.',
    ),
  acceptAppSecret: z
    .boolean()
    .default(false)
    .describe("Also accept the app's real AppSecret as `secret` (otherwise only caller keys)."),
  maxRequestBytes: positiveInt()
    .max(64 * 1024 * 1024)
    .default(CONFIG_DEFAULTS.gatewayMaxRequestBytes)
    .describe(
      'Largest request body (held so a refused call can be repeated); over it: HTTP 413, errcode 45002.',
    ),
  maxResponseBytes: positiveInt()
    .max(256 * 1024 * 1024)
    .default(CONFIG_DEFAULTS.gatewayMaxResponseBytes)
    .describe('Largest forwarded reply (streamed; cut past it).'),
  timeoutMs: durationMs()
    .default(CONFIG_DEFAULTS.gatewayTimeoutMs)
    .describe("A forwarded call's upstream time limit; past it: errcode -1."),
  maxInFlight: positiveInt()
    .max(10_000)
    .default(CONFIG_DEFAULTS.gatewayMaxInFlight)
    .describe(
      'Pass-through calls forwarded at once (each may hold a body); more get errcode -1 at once, never queued.',
    ),
};
export const metricsShape = {
  listen: listenAddress({ allowEmpty: true })
    .default(CONFIG_DEFAULTS.metricsListen)
    .describe(
      'Prometheus /metrics address; `""` turns it off. Its labels list every AppID: expose it only to the scraper (docs/metrics.md).',
    ),
  // At most this many apps get per-app series in a scrape; aggregates count every app.
  perAppSeries: z
    .number()
    .int()
    .min(0)
    .max(MAX_PER_APP_SERIES, `at most ${MAX_PER_APP_SERIES} (a larger scrape stalls the server)`)
    .default(CONFIG_DEFAULTS.metricsPerAppSeries)
    .describe(
      'Apps with per-app series (label `app`) per scrape, those in trouble first, then by app id; 0 = aggregates only.',
    ),
};
export const callerShape = {
  name: z
    .string()
    .regex(
      /^[A-Za-z0-9_.-]{1,64}$/,
      'expected 1 to 64 characters of A-Z, a-z, 0-9, "_", "." or "-"',
    )
    .describe("The caller's name in logs, audit events and metrics."),
  keySha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'expected the SHA-256 of the key as 64 lowercase hex characters')
    .optional()
    .describe(
      'SHA-256 (hex) of the caller\'s bearer key (`authorization: Bearer <key>`): `printf %s "$KEY" | sha256sum`.',
    ),
  certCommonName: z
    .string()
    .min(1)
    .optional()
    .describe('Or: the Common Name of the client certificate, under mTLS (`tls.clientCaFile`).'),
  apps: z
    .array(
      z
        .string()
        .regex(
          /^(\*|[A-Za-z0-9_-]{1,64}|component:[A-Za-z0-9_-]{1,64}\/\*)$/,
          'expected an appId, "*" or "component:<componentAppId>/*"',
        ),
    )
    .min(1)
    .describe(
      'App ids the caller may use: an app id, `*`, or `component:<componentAppId>/*` (every authorizer of a platform).',
    ),
  scopes: z
    .array(z.enum(SCOPES))
    .min(1)
    .describe(
      'What the caller may do: token:read (GetToken, WatchToken, GetTicket, SignJsapi), token:refresh (ForceRefresh), login (LoginService), login:session_key (receive session_key), admin (ListApps, audit, operator refresh).',
    ),
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
    .superRefine(rejectDuplicateCallers)
    .describe(
      'Who may call; empty = no authentication (loopback only). One entry per calling service, with keySha256 or certCommonName.',
    ),
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
  certFile: z
    .string()
    .min(1)
    .describe(
      'PEM certificate chain served on gRPC and the gateway (re-read every 5 s: a renewed certificate needs no restart).',
    ),
  keyFile: z.string().min(1).describe('PEM private key of certFile.'),
  /** Set: clients must present a certificate signed by this CA (mTLS). */
  clientCaFile: z
    .string()
    .min(1)
    .optional()
    .describe('Set: clients must present a certificate signed by this CA (mutual TLS).'),
};
export const limitsShape = {
  forceRefreshPerMinute: positive()
    .default(CONFIG_DEFAULTS.limitsForceRefreshPerMinute)
    .describe(
      'ForceRefresh calls per authenticated caller per minute; past it RESOURCE_EXHAUSTED with retry-after-ms.',
    ),
  code2SessionPerSecond: positive()
    .default(CONFIG_DEFAULTS.limitsCode2SessionPerSecond)
    .describe('Code2Session calls per caller per second.'),
  sessionCallsPerSecond: positive()
    .default(CONFIG_DEFAULTS.limitsSessionCallsPerSecond)
    .describe('CheckSession and ResetSessionKey calls per caller per second.'),
  perSessionPerMinute: positive()
    .default(CONFIG_DEFAULTS.limitsPerSessionPerMinute)
    .describe('Calls on one session handle per minute, whoever makes them.'),
  passThroughPerSecond: positive()
    .default(CONFIG_DEFAULTS.limitsPassThroughPerSecond)
    .describe('Gateway pass-through calls per app per second; past it errcode 45011.'),
};
export const auditShape = {
  maxEvents: z
    .number()
    .int()
    .min(100)
    .max(1_000_000)
    .default(CONFIG_DEFAULTS.auditMaxEvents)
    .describe(
      'Audit events kept (in Redis: a capped stream; embedded: per process); older ones are dropped.',
    ),
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
