/**
 * The query parameters of the login endpoints (wechat-api.md §4-6); absent ones are undefined.
 * jscode2session reads the first four, checksession and resetusersessionkey the last four.
 */
export interface LoginRequest {
  appid?: string;
  secret?: string;
  js_code?: string;
  grant_type?: string;
  access_token?: string;
  openid?: string;
  signature?: string;
  sig_method?: string;
}

const KEYS = [
  'appid',
  'secret',
  'js_code',
  'grant_type',
  'access_token',
  'openid',
  'signature',
  'sig_method',
] as const satisfies readonly (keyof LoginRequest)[];

/** All three endpoints take their parameters in the query string only. */
export function loginRequestFromQuery(query: URLSearchParams): LoginRequest {
  const request: LoginRequest = {};
  for (const key of KEYS) {
    const value = query.get(key);
    if (value !== null) request[key] = value;
  }
  return request;
}
