/** The parameters both token endpoints take; absent ones are undefined (wechat-api.md §1, §2). */
export interface TokenRequest {
  grant_type?: string;
  appid?: string;
  secret?: string;
}

export interface StableTokenRequest extends TokenRequest {
  forceRefresh: boolean;
}

/** /cgi-bin/token reads the query string only. */
export function tokenRequestFromQuery(query: URLSearchParams): TokenRequest {
  return {
    grant_type: query.get('grant_type') ?? undefined,
    appid: query.get('appid') ?? undefined,
    secret: query.get('secret') ?? undefined,
  };
}

/**
 * /cgi-bin/stable_token takes a JSON object body only. Anything else, or a field of the wrong
 * type (`"force_refresh": "true"`), is `47001 data format error`: undefined here. That WeChat
 * answers 47001 on this endpoint is UNCONFIRMED (wechat-api.md §2).
 */
export function parseStableTokenBody(raw: string): StableTokenRequest | undefined {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const fields = body as Record<string, unknown>;
  const strings = ['grant_type', 'appid', 'secret'].map((key) => fields[key]);
  if (strings.some((v) => v !== undefined && typeof v !== 'string')) return undefined;
  const force = fields['force_refresh'];
  if (force !== undefined && typeof force !== 'boolean') return undefined;
  const [grant_type, appid, secret] = strings as (string | undefined)[];
  return { grant_type, appid, secret, forceRefresh: force === true };
}
