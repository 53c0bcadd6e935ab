import * as z from 'zod';
import { TICKET_TYPES, type TicketType } from '../shared/tickets.js';
import type { AppConfig } from './config.js';
import type { ConfigDeps } from './config-sources.js';
import { resolveSecretSource } from './secret-source.js';
import { ENV_NAME, rejectDuplicateIds } from './schema-helpers.js';

/** `apps[]`: the WeChat apps this server holds tokens for, each with its one secret source. */

export const APP_MODES = ['classic', 'stable'] as const;

export const APP_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** `apps[].tickets`: each ticket type at most once; absent = none. */
export const ticketsSchema = z
  .array(z.enum(TICKET_TYPES))
  .superRefine(rejectDuplicateTickets)
  .default([]);

export const appShape = {
  appId: z
    .string()
    .regex(APP_ID, 'expected 1 to 64 characters of A-Z, a-z, 0-9, "_" or "-" (e.g. wx0123...)')
    .describe('The WeChat AppID (wx...).'),
  mode: z
    .enum(APP_MODES)
    .describe(
      'classic: /cgi-bin/token (each fetch invalidates the previous token after 5 minutes); stable: /cgi-bin/stable_token.',
    ),
  secretEnv: z
    .string()
    .regex(ENV_NAME, 'expected an environment variable name such as WX_APP1_SECRET')
    .optional()
    .describe('The AppSecret from this environment variable.'),
  secretFile: z
    .string()
    .min(1, 'expected a file path')
    .optional()
    .describe('The AppSecret from this file (a mounted Secret).'),
  secret: z.string().optional().describe('The AppSecret inline (development only: it warns).'),
  exposeSessionKey: z
    .boolean()
    .optional()
    .describe('Overrides login.exposeSessionKey for this app.'),
  tickets: ticketsSchema.describe(
    'Tickets the leader keeps for the app, each type once: jsapi (JS-SDK wx.config), wx_card (card api_ticket).',
  ),
};

function rejectDuplicateTickets(tickets: readonly TicketType[], ctx: z.core.$RefinementCtx): void {
  const seen = new Set<TicketType>();
  tickets.forEach((ticket, i) => {
    if (seen.has(ticket)) {
      ctx.addIssue({
        code: 'custom',
        message: `duplicate ticket type ${JSON.stringify(ticket)}`,
        input: undefined,
        path: [i],
      });
    }
    seen.add(ticket);
  });
}

function appSchema(deps: ConfigDeps) {
  return z.strictObject(appShape).transform((app, ctx): AppConfig => {
    const resolved = resolveSecretSource(app, 'secret', deps);
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
      ...(app.exposeSessionKey !== undefined ? { exposeSessionKey: app.exposeSessionKey } : {}),
      tickets: app.tickets,
    };
  });
}

export const APPS_REQUIRED =
  'at least one app is required (or a third-party platform under components)';

/** `apps[]`; absent or null is an empty list (the root requires an app or a component). */
export function appsSchema(deps: ConfigDeps) {
  return z.preprocess(
    (v) => v ?? [],
    z
      .array(appSchema(deps))
      .superRefine((apps, ctx) => rejectDuplicateIds(apps, ctx, 'appId', 'apps', (a) => a.appId)),
  );
}
