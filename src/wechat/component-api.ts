import type { Secret } from '../shared/secret.js';
import { sessionFrom, type Body, type Call } from './http-wechat-client.js';
import {
  credentialProblem,
  MAX_CREDENTIAL_CHARS,
  PRINTABLE,
  sessionProblem,
} from './success-body.js';
import type { Code2SessionResult } from './wechat-client.js';
import { WeChatError } from './wechat-error.js';

/** A credential from a component endpoint, with the time the request was SENT (expires_at base). */
export interface FetchedComponentCredential {
  readonly value: string;
  readonly expiresInSeconds: number;
  readonly sentAt: number;
}

/** An authorizer's access_token and the refresh token that came back with it (store it). */
export interface FetchedAuthorizerToken extends FetchedComponentCredential {
  readonly refreshToken: string;
}

export interface AuthorizationInfo extends FetchedAuthorizerToken {
  readonly authorizerAppId: string;
}

export interface AuthorizerListPage {
  readonly totalCount: number;
  readonly list: readonly {
    readonly authorizerAppId: string;
    readonly refreshToken: string;
    readonly authTime: number;
  }[];
}

/** api_get_authorizer_list's largest page (WeChat's limit). */
export const AUTHORIZER_PAGE = 500;
/**
 * A page of 500 entries, each with a refresh token of at most 2,048 characters: the one reply
 * bigger than the client's 64 KiB default (real ones are ~60 KiB: 100-character tokens).
 */
const LIST_MAX_REPLY_BYTES = AUTHORIZER_PAGE * (MAX_CREDENTIAL_CHARS + 256);
/** More authorizers than any platform has; a larger total_count is a malformed body. */
const MAX_TOTAL = 10_000_000;
const APP_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The calls a component credential needs; the WeChat client implements them (component-api). */
export interface ComponentClient {
  componentToken(
    componentAppId: string,
    secret: Secret,
    verifyTicket: string,
  ): Promise<FetchedComponentCredential>;
  createPreAuthCode(
    componentToken: string,
    componentAppId: string,
  ): Promise<FetchedComponentCredential>;
  queryAuth(
    componentToken: string,
    componentAppId: string,
    authorizationCode: string,
  ): Promise<AuthorizationInfo>;
  authorizerToken(
    componentToken: string,
    componentAppId: string,
    authorizerAppId: string,
    refreshToken: string,
  ): Promise<FetchedAuthorizerToken>;
  authorizerList(
    componentToken: string,
    componentAppId: string,
    offset: number,
  ): Promise<AuthorizerListPage>;
  /**
   * GET /sns/component/jscode2session: a wx.login code of a mini program that authorized the
   * platform, exchanged with the component token in place of the mini program's AppSecret.
   */
  code2Session(
    componentToken: string,
    componentAppId: string,
    authorizerAppId: string,
    jsCode: string,
  ): Promise<Code2SessionResult>;
}

type Send = (
  call: Call,
  validate?: (b: Body) => string | undefined,
) => Promise<{ body: Body; sentAt: number }>;

/**
 * The five /cgi-bin/component/ endpoints (Open Platform) and the platform's login exchange for
 * its mini programs (/sns/component/jscode2session), on the WeChat client's transport,
 * redaction and metrics. Every credential in a request is scrubbed from messages, and every
 * credential in a reply is checked with a token's bounds before it is stored or served.
 */
export class ComponentApi implements ComponentClient {
  constructor(private readonly send: Send) {}

  async componentToken(componentAppId: string, secret: Secret, verifyTicket: string) {
    const raw = secret.reveal();
    const { body, sentAt } = await this.send(
      {
        endpoint: 'api_component_token',
        appId: componentAppId,
        sensitive: [raw, verifyTicket],
        path: '/cgi-bin/component/api_component_token',
        json: JSON.stringify({
          component_appid: componentAppId,
          component_appsecret: raw,
          component_verify_ticket: verifyTicket,
        }),
      },
      (b) => credentialProblem(b, 'component_access_token'),
    );
    return credential(body, 'component_access_token', sentAt);
  }

  async createPreAuthCode(componentToken: string, componentAppId: string) {
    const { body, sentAt } = await this.send(
      withToken('api_create_preauthcode', componentToken, componentAppId, {}),
      (b) => credentialProblem(b, 'pre_auth_code'),
    );
    return credential(body, 'pre_auth_code', sentAt);
  }

  async queryAuth(componentToken: string, componentAppId: string, authorizationCode: string) {
    const call = withToken('api_query_auth', componentToken, componentAppId, {
      authorization_code: authorizationCode,
    });
    const { body, sentAt } = await this.send(
      { ...call, sensitive: [...call.sensitive, authorizationCode] },
      (b) => {
        const info = b.authorization_info;
        if (typeof info !== 'object' || info === null) return 'authorization_info missing';
        const i = info as Body;
        if (typeof i.authorizer_appid !== 'string' || !APP_ID.test(i.authorizer_appid)) {
          return 'authorizer_appid missing or malformed';
        }
        return credentialProblem(i, 'authorizer_access_token') ?? refreshTokenProblem(i);
      },
    );
    const i = body.authorization_info as Body;
    return {
      ...credential(i, 'authorizer_access_token', sentAt),
      authorizerAppId: i.authorizer_appid as string,
      refreshToken: i.authorizer_refresh_token as string,
    };
  }

  async authorizerToken(
    componentToken: string,
    componentAppId: string,
    authorizerAppId: string,
    refreshToken: string,
  ) {
    const call = withToken('api_authorizer_token', componentToken, componentAppId, {
      authorizer_appid: authorizerAppId,
      authorizer_refresh_token: refreshToken,
    });
    const { body, sentAt } = await this.send(
      { ...call, appId: authorizerAppId, sensitive: [...call.sensitive, refreshToken] },
      (b) => credentialProblem(b, 'authorizer_access_token') ?? refreshTokenProblem(b),
    );
    return {
      ...credential(body, 'authorizer_access_token', sentAt),
      refreshToken: body.authorizer_refresh_token as string,
    };
  }

  async authorizerList(componentToken: string, componentAppId: string, offset: number) {
    const { body } = await this.send(
      {
        ...withToken('api_get_authorizer_list', componentToken, componentAppId, {
          offset,
          count: AUTHORIZER_PAGE,
        }),
        maxReplyBytes: LIST_MAX_REPLY_BYTES,
      },
      listProblem,
    );
    const list = (body.list as Body[]).map((e) => ({
      authorizerAppId: e.authorizer_appid as string,
      refreshToken: e.refresh_token as string,
      authTime: typeof e.auth_time === 'number' ? e.auth_time : 0,
    }));
    return { totalCount: body.total_count as number, list };
  }

  async code2Session(
    componentToken: string,
    componentAppId: string,
    authorizerAppId: string,
    jsCode: string,
  ): Promise<Code2SessionResult> {
    const query = new URLSearchParams({
      appid: authorizerAppId,
      js_code: jsCode,
      grant_type: 'authorization_code',
      component_appid: componentAppId,
      component_access_token: componentToken,
    });
    const { body } = await this.send(
      {
        // Counted and reported as the authorizer's jscode2session, which it is.
        endpoint: 'jscode2session',
        appId: authorizerAppId,
        sensitive: [componentToken, jsCode],
        path: `/sns/component/jscode2session?${query.toString()}`,
      },
      (b) => sessionProblem(b),
    );
    return sessionFrom(body);
  }
}

function withToken(
  endpoint: Call['endpoint'],
  componentToken: string,
  componentAppId: string,
  fields: Record<string, unknown>,
): Call {
  const query = new URLSearchParams({ component_access_token: componentToken });
  return {
    endpoint,
    appId: componentAppId,
    sensitive: [componentToken],
    path: `/cgi-bin/component/${endpoint}?${query.toString()}`,
    json: JSON.stringify({ component_appid: componentAppId, ...fields }),
  };
}

function credential(body: Body, field: string, sentAt: number): FetchedComponentCredential {
  return { value: body[field] as string, expiresInSeconds: body.expires_in as number, sentAt };
}

function refreshTokenProblem(body: Body): string | undefined {
  return tokenLike(body.authorizer_refresh_token)
    ? undefined
    : 'authorizer_refresh_token missing or malformed';
}

function tokenLike(v: unknown): v is string {
  return (
    typeof v === 'string' && v.length > 0 && v.length <= MAX_CREDENTIAL_CHARS && PRINTABLE.test(v)
  );
}

/** A page of at most AUTHORIZER_PAGE well-formed entries and a sane total. */
function listProblem(b: Body): string | undefined {
  const total = b.total_count;
  if (typeof total !== 'number' || !Number.isInteger(total) || total < 0 || total > MAX_TOTAL) {
    return 'total_count is not a sane count';
  }
  if (!Array.isArray(b.list)) return 'list missing';
  if (b.list.length > AUTHORIZER_PAGE) return `list longer than ${AUTHORIZER_PAGE}`;
  for (const e of b.list as unknown[]) {
    if (typeof e !== 'object' || e === null) return 'list entry is not an object';
    const entry = e as Body;
    if (typeof entry.authorizer_appid !== 'string' || !APP_ID.test(entry.authorizer_appid)) {
      return 'list entry authorizer_appid missing or malformed';
    }
    if (!tokenLike(entry.refresh_token)) return 'list entry refresh_token missing or malformed';
  }
  return undefined;
}

/** Keeps the error type at hand for callers that build component errors without a call. */
export const componentError = (message: string): WeChatError =>
  new WeChatError('component', null, message);
