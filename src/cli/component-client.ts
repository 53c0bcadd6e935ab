import * as grpc from '@grpc/grpc-js';
import type { ComponentServiceClient } from '../grpc/generated/wxtoken/v1/ComponentService.js';
import type { ListAuthorizersResponse__Output } from '../grpc/generated/wxtoken/v1/ListAuthorizersResponse.js';
import type { PreAuthCode__Output } from '../grpc/generated/wxtoken/v1/PreAuthCode.js';
import type { Token__Output } from '../grpc/generated/wxtoken/v1/Token.js';
import { loadProto } from '../grpc/proto.js';
import { bearerInterceptors, opts, settle } from './grpc-client.js';

/** A ComponentService client (CLI and tests), plaintext by default, like tokenClient. */
export function componentClient(
  addr: string,
  key?: string,
  channel: { credentials?: grpc.ChannelCredentials; options?: grpc.ChannelOptions } = {},
): ComponentServiceClient {
  const proto = loadProto();
  return new proto.wxtoken.v1.ComponentService(
    addr,
    channel.credentials ?? grpc.credentials.createInsecure(),
    { ...channel.options, interceptors: bearerInterceptors(key) },
  );
}

export function createPreAuthCode(
  c: ComponentServiceClient,
  componentAppId: string,
  timeoutMs = 10_000,
): Promise<PreAuthCode__Output> {
  return new Promise((resolve, reject) =>
    c.CreatePreAuthCode(
      { component_app_id: componentAppId },
      new grpc.Metadata(),
      opts(timeoutMs),
      settle(resolve, reject),
    ),
  );
}

export function getComponentToken(
  c: ComponentServiceClient,
  componentAppId: string,
  timeoutMs = 10_000,
): Promise<Token__Output> {
  return new Promise((resolve, reject) =>
    c.GetComponentToken(
      { component_app_id: componentAppId },
      new grpc.Metadata(),
      opts(timeoutMs),
      settle(resolve, reject),
    ),
  );
}

export function listAuthorizers(
  c: ComponentServiceClient,
  componentAppId: string,
  page: { pageSize?: number; pageToken?: string } = {},
  timeoutMs = 10_000,
): Promise<ListAuthorizersResponse__Output> {
  return new Promise((resolve, reject) =>
    c.ListAuthorizers(
      {
        component_app_id: componentAppId,
        page_size: page.pageSize ?? 0,
        page_token: page.pageToken ?? '',
      },
      new grpc.Metadata(),
      opts(timeoutMs),
      settle(resolve, reject),
    ),
  );
}

/** Rebuilds every refresh token from WeChat: minutes for 100,000 authorizers, so a long deadline. */
export function recoverAuthorizers(
  c: ComponentServiceClient,
  componentAppId: string,
  timeoutMs = 600_000,
): Promise<number> {
  return new Promise((resolve, reject) =>
    c.RecoverAuthorizers(
      { component_app_id: componentAppId },
      new grpc.Metadata(),
      opts(timeoutMs),
      settle<{ recovered: number }>((r) => resolve(r.recovered), reject),
    ),
  );
}
