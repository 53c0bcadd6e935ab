import * as z from 'zod';
import { APPS_REQUIRED, appShape, appsSchema } from './apps-schema.js';
import { componentShape, componentsSchema } from './components-schema.js';
import type { ConfigDeps } from './config-sources.js';
import { logSchema, logShape } from './log-schema.js';
import { leaseSchema, leaseShape, refreshSchema, refreshShape } from './refresh-schema.js';
import { REDIS_KNOWN_KEYS, redisSchema } from './redis-schema.js';
import { section } from './schema-helpers.js';
import {
  auditShape,
  authShape,
  callerShape,
  gatewayShape,
  grpcShape,
  limitsShape,
  metricsShape,
  tlsSchema,
  tlsShape,
} from './server-schema.js';
import { loginShape, wechatShape } from './wechat-schema.js';

/**
 * The one schema of the YAML configuration (design.md "Process and configuration"), put
 * together from one module per section. Every object is strict, so a misspelt key is an error
 * rather than a silently ignored default. Per-field checks, defaults, secret resolution and
 * cross-field invariants all live in the section modules; load-config.ts turns the issues into
 * a ConfigError and freezes the result.
 */

export type { ConfigDeps } from './config-sources.js';

const rootShapeKeys = [
  'grpc',
  'gateway',
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
  'components',
];

/** The keys each object accepts, by key path with list indexes removed ("" = top level). */
export const KNOWN_KEYS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  '': rootShapeKeys,
  grpc: Object.keys(grpcShape),
  gateway: Object.keys(gatewayShape),
  metrics: Object.keys(metricsShape),
  wechat: Object.keys(wechatShape),
  ...REDIS_KNOWN_KEYS,
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
  components: Object.keys(componentShape),
});

/** Builds the schema; it closes over `deps` to resolve secrets and the log-level default. */
export function createConfigSchema(deps: ConfigDeps) {
  return z
    .strictObject({
      grpc: section(grpcShape),
      gateway: section(gatewayShape),
      metrics: section(metricsShape),
      wechat: section(wechatShape),
      redis: redisSchema(deps),
      lease: leaseSchema,
      refresh: refreshSchema,
      log: logSchema(deps.env),
      login: section(loginShape),
      auth: section(authShape),
      tls: tlsSchema(deps).describe(
        'Serve gRPC and the gateway over TLS (and mTLS with clientCaFile); absent: plaintext (loopback or behind a TLS proxy).',
      ),
      limits: section(limitsShape),
      audit: section(auditShape),
      apps: appsSchema(deps).describe(
        'The WeChat apps wxtoken holds tokens for, each with one secret source. At least one app, or a platform under components.',
      ),
      components: componentsSchema(deps).describe(
        'Third-party platforms (WeChat Open Platform): each customer who authorizes one becomes an app. Needs gateway.listen.',
      ),
    })
    .superRefine((config, ctx) => {
      if (config.apps.length === 0 && config.components.length === 0) {
        ctx.addIssue({ code: 'custom', message: APPS_REQUIRED, input: undefined, path: ['apps'] });
      }
      if (config.components.length > 0 && config.gateway.listen === '') {
        ctx.addIssue({
          code: 'custom',
          message:
            'a third-party platform needs gateway.listen: WeChat pushes its events to /wechat/component/<componentAppId>/events there',
          input: undefined,
          path: ['gateway', 'listen'],
        });
      }
      // An authorizer is an app: one id must not be both a configured app and a platform.
      const appIds = new Set(config.apps.map((a) => a.appId.toLowerCase()));
      config.components.forEach((c, i) => {
        if (appIds.has(c.componentAppId.toLowerCase())) {
          ctx.addIssue({
            code: 'custom',
            message: `componentAppId ${JSON.stringify(c.componentAppId)} is also configured under apps`,
            input: undefined,
            path: ['components', i, 'componentAppId'],
          });
        }
      });
    });
}
