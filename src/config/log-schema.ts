import * as z from 'zod';
import { CONFIG_DEFAULTS } from './config-defaults.js';
import { section } from './schema-helpers.js';

/** `log`: the level (the config file wins over WXTOKEN_LOG_LEVEL) and pretty output. */

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const LOG_LEVEL_ENV = 'WXTOKEN_LOG_LEVEL';

export const logShape = {
  level: z
    .enum(LOG_LEVELS)
    .optional()
    .describe('pino log level; absent: WXTOKEN_LOG_LEVEL, else info.'),
  pretty: z
    .boolean()
    .default(false)
    .describe('Human-readable lines instead of JSON (`wxtoken dev` turns it on).'),
};

export function logSchema(env: NodeJS.ProcessEnv) {
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
