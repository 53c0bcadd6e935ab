import * as z from 'zod';
import { CONFIG_DEFAULTS } from './config-defaults.js';
import { baseUrl, durationMs, durationSeconds } from './schema-helpers.js';

/** How wxtoken calls WeChat (`wechat`) and keeps the login sessions it gets back (`login`). */

export const wechatShape = {
  baseUrl: baseUrl.default(CONFIG_DEFAULTS.wechatBaseUrl),
  timeoutMs: durationMs().default(CONFIG_DEFAULTS.wechatTimeoutMs),
};
export const loginShape = {
  exposeSessionKey: z.boolean().default(false),
  sessionTtlSeconds: durationSeconds().default(CONFIG_DEFAULTS.loginSessionTtlSeconds),
};
