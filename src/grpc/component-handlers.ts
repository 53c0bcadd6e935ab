import type { ComponentService } from '../component/component-service.js';
import { unary, type BoundaryDeps } from './call-boundary.js';
import { STATE, toProtoToken, toTimestamp } from './convert.js';
import type { ComponentServiceHandlers } from './generated/wxtoken/v1/ComponentService.js';
import { optionalString, requireAppId } from './validate.js';

/** Page tokens are base64url of an app id: 64 characters make at most 88. */
const MAX_PAGE_TOKEN_CHARS = 128;

/** Thin handlers for ComponentService: validate, call the service, convert. */
export function componentHandlers(
  service: ComponentService,
  deps: BoundaryDeps,
): ComponentServiceHandlers {
  const componentId = (v: unknown): string => requireAppId(v, 'component_app_id');
  return {
    CreatePreAuthCode: unary('CreatePreAuthCode', deps, async (req) => {
      const code = await service.createPreAuthCode(componentId(req.component_app_id));
      return { pre_auth_code: code.preAuthCode, expires_at: toTimestamp(code.expiresAt) };
    }),

    ListAuthorizers: unary('ListAuthorizers', deps, (req) => {
      const page = service.listAuthorizers(
        componentId(req.component_app_id),
        req.page_size ?? 0,
        optionalString(req.page_token, 'page_token', MAX_PAGE_TOKEN_CHARS),
      );
      return {
        authorizers: page.authorizers.map((a) => ({
          authorizer_app_id: a.authorizerAppId,
          authorized_at: toTimestamp(a.authorizedAt),
          state: STATE[a.state],
          ...(a.expiresAt !== undefined ? { expires_at: toTimestamp(a.expiresAt) } : {}),
        })),
        next_page_token: page.nextPageToken,
      };
    }),

    RecoverAuthorizers: unary('RecoverAuthorizers', deps, async (req) => ({
      recovered: await service.recoverAuthorizers(componentId(req.component_app_id)),
    })),

    GetComponentToken: unary('GetComponentToken', deps, async (req) =>
      toProtoToken(await service.componentToken(componentId(req.component_app_id))),
    ),
  };
}
