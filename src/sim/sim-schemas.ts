import { isIP } from 'node:net';
import { z } from 'zod';
import { SimInputError } from './sim-errors.js';
import { TICKET_TYPES, type TicketType } from '../shared/tickets.js';
import type {
  ResolvedSimAppSettings,
  SimAppSettings,
  SimCodeRequest,
  SimEndpoint,
  SimFault,
  SimPaymentRequest,
  SimPhoneCodeRequest,
} from './types.js';

const seconds = z.number().finite().nonnegative();
const count = z.number().int().nonnegative();

/** An IPv4/IPv6 address, optionally with a /prefix. */
const ipOrCidr = z.string().refine((s) => {
  const [ip, prefix, ...rest] = s.split('/');
  if (rest.length > 0 || ip === undefined) return false;
  const family = isIP(ip);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  const bits = Number(prefix);
  return /^\d+$/.test(prefix) && bits <= (family === 4 ? 32 : 128);
}, 'must be an IP address or CIDR range');

// Strict objects: a typo such as `expiresIn` fails loudly instead of silently keeping a default.
const settingsSchema = z
  .strictObject({
    appId: z.string().min(1),
    secret: z.string().min(1),
    expiresInSeconds: z.number().finite().positive().default(7200),
    overlapSeconds: seconds.default(300),
    stableWindowSeconds: seconds.optional(),
    stableForceMinIntervalSeconds: seconds.default(30),
    stableForceDailyLimit: count.default(20),
    dailyQuota: count.default(2000),
    latencyMs: seconds.default(0),
    // 3 for the `NN_` prefix; WeChat only promises tokens fit in 512 characters (wechat-api.md §0).
    tokenLength: z.number().int().min(16).max(512).default(136),
    ipWhitelist: z.array(ipOrCidr).optional(),
    codeLifetimeSeconds: z.number().finite().positive().default(300),
    sessionKeyLifetimeSeconds: z
      .number()
      .finite()
      .positive()
      .default(3 * 86_400),
    unionidBound: z.boolean().default(true),
    ticketLifetimeSeconds: z.number().finite().positive().default(7200),
    phoneCodeLifetimeSeconds: z.number().finite().positive().default(300),
    paidUnionidWindowSeconds: z.number().finite().positive().default(300),
  })
  // WeChat's proportion (300 s of 7200 s), so a test that shortens lifetimes to a few seconds
  // gets a workable stable window without setting one.
  .transform((s) => ({
    ...s,
    stableWindowSeconds: s.stableWindowSeconds ?? Math.min(300, s.expiresInSeconds / 24),
  }))
  // Otherwise every normal-mode stable call would find the token inside the window and rotate.
  .refine((s) => s.stableWindowSeconds < s.expiresInSeconds, {
    message: 'must be less than expiresInSeconds',
    path: ['stableWindowSeconds'],
  }) satisfies z.ZodType<ResolvedSimAppSettings, SimAppSettings>;

const endpoint = z.enum([
  'token',
  'stable_token',
  'get_api_domain_ip',
  'jscode2session',
  'checksession',
  'resetusersessionkey',
  'getticket',
  'getcallbackip',
  'custom_send',
  'getwxacodeunlimit',
  'getuserphonenumber',
  'getpaidunionid',
]) satisfies z.ZodType<SimEndpoint>;

const faultKind = z.enum([
  'system_error',
  'minute_quota',
  'daily_quota',
  'html',
  'http_502',
  'timeout',
  'malformed',
  'huge_body',
  'huge_chunked',
  'stalled_body',
  'long_token',
]);

/** Every fault kind and endpoint the control API accepts (its index lists them). */
export const SIM_FAULT_KINDS: readonly string[] = faultKind.options;
export const SIM_FAULT_ENDPOINTS: readonly string[] = endpoint.options;

const faultSchema = z.strictObject({
  kind: faultKind,
  count: z.number().int().positive(),
  endpoints: z.array(endpoint).min(1).optional(),
}) satisfies z.ZodType<SimFault>;

const codeRequestSchema = z.strictObject({
  user: z.string().min(1).max(128).optional(),
  blocked: z.boolean().optional(),
  unionid: z.boolean().optional(),
}) satisfies z.ZodType<SimCodeRequest>;

const encryptRequestSchema = z.strictObject({
  data: z.record(z.string(), z.unknown()),
});

/**
 * `+CC NUMBER` or a bare number; digits only apart from the prefix. 3 digits of country code
 * and 4-20 digits of number cover every plan (E.164 allows 15 in all).
 */
const phoneNumberSchema = z
  .string()
  .regex(/^(?:\+\d{1,3} )?\d{4,20}$/, 'must be "+<country code> <digits>", e.g. "+86 13800138000"');

const phoneCodeRequestSchema = z.strictObject({
  phoneNumber: phoneNumberSchema,
}) satisfies z.ZodType<SimPhoneCodeRequest>;

/** Trade identifiers are short ASCII strings in WeChat Pay (transaction_id is 28 digits). */
const tradeId = z.string().min(1).max(64);

const paymentRequestSchema = z
  .strictObject({
    openid: z.string().min(1).max(128),
    unionid: z.string().min(1).max(128),
    transactionId: tradeId.optional(),
    mchId: tradeId.optional(),
    outTradeNo: tradeId.optional(),
  })
  .refine((p) => p.transactionId !== undefined || (p.mchId && p.outTradeNo), {
    message: 'give transactionId, or mchId and outTradeNo (or all three)',
  })
  .refine((p) => (p.mchId === undefined) === (p.outTradeNo === undefined), {
    message: 'mchId and outTradeNo go together',
  }) satisfies z.ZodType<SimPaymentRequest>;

const ticketCheckSchema = z.strictObject({ ticket: z.string().min(1).max(4096) });

const ticketTypeSchema = z.enum(TICKET_TYPES);

function parse<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new SimInputError(`invalid ${what}: ${z.prettifyError(result.error)}`);
}

/** Validates app settings and applies the defaults documented on SimAppSettings. */
export function parseSimAppSettings(input: unknown): ResolvedSimAppSettings {
  return Object.freeze(parse(settingsSchema, input, 'app settings'));
}

export function parseSimFault(input: unknown): SimFault {
  return parse(faultSchema, input, 'fault');
}

export function parseSimCodeRequest(input: unknown): SimCodeRequest {
  return parse(codeRequestSchema, input, 'code request');
}

/** The body of `POST /__sim/apps/:appId/users/:openid/encrypt`: `{ data: object }`. */
export function parseSimEncryptRequest(input: unknown): { data: Record<string, unknown> } {
  return parse(encryptRequestSchema, input, 'encrypt request');
}

export function parseSimPhoneCodeRequest(input: unknown): SimPhoneCodeRequest {
  return parse(phoneCodeRequestSchema, input, 'phone code request');
}

export function parseSimPaymentRequest(input: unknown): SimPaymentRequest {
  return parse(paymentRequestSchema, input, 'payment');
}

/** The body of `POST /__sim/apps/:appId/tickets/:type/check`: `{ ticket }`. */
export function parseSimTicketCheck(input: unknown): { ticket: string } {
  return parse(ticketCheckSchema, input, 'ticket check');
}

/** The `:type` of a tickets control route. */
export function parseSimTicketType(input: string): TicketType {
  return parse(ticketTypeSchema, input, `ticket type ${JSON.stringify(input)}`);
}

/** Shortest verify-ticket push interval: faster would only load the receiver, not test it. */
export const MIN_VERIFY_TICKET_INTERVAL_SECONDS = 0.1;

const componentSchema = z
  .strictObject({
    componentAppId: z.string().min(1).max(64),
    secret: z.string().min(1),
    messageToken: z.string().min(1),
    encodingAesKey: z.string().min(1),
    eventUrl: z.url({ protocol: /^https?$/ }).optional(),
    // WeChat pushes every 600 s; tests want about one a second. A day at most.
    verifyTicketIntervalSeconds: z
      .number()
      .finite()
      .min(MIN_VERIFY_TICKET_INTERVAL_SECONDS)
      .max(86_400)
      .optional(),
    // component_access_token lifetime and the grace of a replaced one, as app tokens' (§3, §13).
    componentTokenExpiresInSeconds: z.number().finite().positive().default(7200),
    componentTokenOverlapSeconds: seconds.default(300),
    // A community reading of WeChat's limit (wechat-api.md §13).
    componentTokenDailyQuota: count.default(10_000),
    // Each authorizer's own quota, as an app's dailyQuota (/cgi-bin/token's default).
    authorizerTokenDailyQuota: count.default(2000),
    // Added before every answer of the five component endpoints (WeChat takes tens of ms).
    latencyMs: z.number().finite().min(0).max(60_000).default(0),
  })
  .refine((c) => c.verifyTicketIntervalSeconds === undefined || c.eventUrl !== undefined, {
    message: 'needs eventUrl (where would the tickets go?)',
    path: ['verifyTicketIntervalSeconds'],
  });

export type SimComponentSettings = z.input<typeof componentSchema>;
export type ResolvedSimComponentSettings = z.output<typeof componentSchema>;

/** The app settings a light authorizer reads (ClassicPolicy); the rest take their defaults. */
const authorizerTimings = {
  expiresInSeconds: z.number().finite().positive().optional(),
  overlapSeconds: seconds.optional(),
  dailyQuota: count.optional(),
  tokenLength: z.number().int().min(16).max(512).optional(),
};

const createAuthorizersSchema = z.strictObject({
  count: z.number().int().min(1).optional(),
  ...authorizerTimings,
});

const authorizeSchema = z.strictObject({
  authorizerAppId: z.string().min(1).max(64).optional(),
  preAuthCode: z.string().min(1).max(256).optional(),
  ...authorizerTimings,
});

const authorizerRefSchema = z.strictObject({ authorizerAppId: z.string().min(1).max(64) });

export type SimAuthorizerTimings = Partial<
  Pick<SimAppSettings, 'expiresInSeconds' | 'overlapSeconds' | 'dailyQuota' | 'tokenLength'>
>;

/** The body of `POST /__sim/components`. */
export function parseSimComponentSettings(input: unknown): ResolvedSimComponentSettings {
  return parse(componentSchema, input, 'component settings');
}

/** The body of `POST /__sim/components/:id/authorizers`: `{count?, ...timings}`. */
export function parseSimCreateAuthorizers(
  input: unknown,
): { count?: number | undefined } & SimAuthorizerTimings {
  return parse(createAuthorizersSchema, input, 'authorizers request');
}

/** The body of `POST /__sim/components/:id/authorize`. */
export function parseSimAuthorize(input: unknown): {
  authorizerAppId?: string | undefined;
  preAuthCode?: string | undefined;
} & SimAuthorizerTimings {
  return parse(authorizeSchema, input, 'authorize request');
}

/** `{authorizerAppId}`: the body of update-authorization and unauthorize. */
export function parseSimAuthorizerRef(input: unknown): { authorizerAppId: string } {
  return parse(authorizerRefSchema, input, 'request');
}
