/**
 * The query parameters of the login endpoints (wechat-api.md §4-6); absent ones are undefined.
 * jscode2session reads the first four, checksession and resetusersessionkey the next four, and
 * a third-party platform's jscode2session (/sns/component/jscode2session) appid, js_code,
 * grant_type and the last two.
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
  component_appid?: string;
  component_access_token?: string;
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
  'component_appid',
  'component_access_token',
] as const satisfies readonly (keyof LoginRequest)[];

/** Every login endpoint takes its parameters in the query string only. */
export function loginRequestFromQuery(query: URLSearchParams): LoginRequest {
  const request: LoginRequest = {};
  for (const key of KEYS) {
    const value = query.get(key);
    if (value !== null) request[key] = value;
  }
  return request;
}
