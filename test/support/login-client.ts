import * as grpc from '@grpc/grpc-js';
import type { LoginServiceClient } from '../../src/grpc/generated/wxtoken/v1/LoginService.js';
import { loadProto } from '../../src/grpc/proto.js';
import { bearerInterceptors } from '../../src/cli/grpc-client.js';

/** Promise-style LoginService calls for tests (the proto is the only contract used). */
export function loginClient(addr: string, key?: string) {
  const proto = loadProto();
  const c: LoginServiceClient = new proto.wxtoken.v1.LoginService(
    addr,
    grpc.credentials.createInsecure(),
    { interceptors: bearerInterceptors(key) },
  );
  const call =
    <Req, Res>(method: keyof LoginServiceClient & string) =>
    (req: Req): Promise<Res> =>
      new Promise((resolve, reject) =>
        (
          c[method] as unknown as (
            r: Req,
            md: grpc.Metadata,
            o: grpc.CallOptions,
            cb: (e: grpc.ServiceError | null, res: Res) => void,
          ) => void
        ).call(c, req, new grpc.Metadata(), { deadline: Date.now() + 15_000 }, (e, res) =>
          e ? reject(e) : resolve(res),
        ),
      );
  return {
    close: () => c.close(),
    code2Session: call<
      { app_id: string; js_code: string },
      { openid: string; unionid: string; session_handle: string; session_key: string }
    >('Code2Session'),
    getSession: call<
      { session_handle: string },
      { app_id: string; openid: string; unionid: string }
    >('GetSession'),
    decryptUserData: call<
      { session_handle: string; encrypted_data: string; iv: string },
      { json: string }
    >('DecryptUserData'),
    checkSession: call<{ session_handle: string }, { valid: boolean }>('CheckSession'),
    resetSessionKey: call<{ session_handle: string }, { openid: string }>('ResetSessionKey'),
    getPhoneNumber: call<
      { app_id: string; code: string },
      { phone_number: string; pure_phone_number: string; country_code: string }
    >('GetPhoneNumber'),
    getPaidUnionId: call<
      {
        app_id: string;
        openid: string;
        transaction_id?: string;
        mch_id?: string;
        out_trade_no?: string;
      },
      { unionid: string }
    >('GetPaidUnionId'),
  };
}
