import * as z from 'zod';
import { CONFIG_DEFAULTS } from './config-defaults.js';
import { baseUrl, durationMs, durationSeconds } from './schema-helpers.js';

/** How wxtoken calls WeChat (`wechat`) and keeps the login sessions it gets back (`login`). */

export const wechatShape = {
  baseUrl: baseUrl
    .default(CONFIG_DEFAULTS.wechatBaseUrl)
    .describe("WeChat's API host; point it at `wxtoken sim` in tests."),
  timeoutMs: durationMs()
    .default(CONFIG_DEFAULTS.wechatTimeoutMs)
    .describe('Time limit of each upstream request.'),
};
export const loginShape = {
  exposeSessionKey: z
    .boolean()
    .default(false)
    .describe(
      'Put session_key in Code2Session replies (per app: apps[].exposeSessionKey; the caller also needs login:session_key).',
    ),
  sessionTtlSeconds: durationSeconds()
    .default(CONFIG_DEFAULTS.loginSessionTtlSeconds)
    .describe('Login session lifetime (3 days by default).'),
};
