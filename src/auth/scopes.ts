/** What a caller may do (design.md "Callers"). */
export const SCOPES = [
  'token:read',
  'token:refresh',
  'login',
  'login:session_key',
  'admin',
] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * The scope each RPC needs. ForceRefresh with an empty stale_token is an operator refresh and
 * needs `admin` on top (checked by the authorizer from the request).
 */
export const METHOD_SCOPES: Readonly<Record<string, Scope>> = {
  GetToken: 'token:read',
  WatchToken: 'token:read',
  GetTicket: 'token:read',
  SignJsapi: 'token:read',
  ForceRefresh: 'token:refresh',
  ListApps: 'admin',
  ListAuditEvents: 'admin',
  Code2Session: 'login',
  GetSession: 'login',
  DecryptUserData: 'login',
  CheckSession: 'login',
  ResetSessionKey: 'login',
  GetPhoneNumber: 'login',
  GetPaidUnionId: 'login',
  CreatePreAuthCode: 'token:read',
  GetComponentToken: 'token:read',
  ListAuthorizers: 'admin',
  RecoverAuthorizers: 'admin',
};
