import type { LoginService } from '../login/login-service.js';
import type { LoginSession } from '../login/session-store.js';
import type { Caller } from '../auth/authorizer.js';
import { InvalidArgumentError, SessionNotFoundError } from '../shared/errors.js';
import { fingerprint } from '../shared/secret.js';
import { unary, type BoundaryDeps } from './call-boundary.js';
import { toTimestamp } from './convert.js';
import type { LoginServiceHandlers } from './generated/wxtoken/v1/LoginService.js';
import type { Session } from './generated/wxtoken/v1/Session.js';
import { optionalString, requireAppId } from './validate.js';

/** wx.login codes are short (~32 chars); anything far longer is not one. */
const MAX_CODE_CHARS = 256;
/** encryptedData of getUserInfo/getPhoneNumber is a few KB at most. */
const MAX_ENCRYPTED_CHARS = 32_768;
const HANDLE = /^[A-Za-z0-9_-]{32}$/;
/** openid (28), transaction ids (32), merchant order numbers (32): generous, not unbounded. */
const MAX_ID_CHARS = 128;

function requireHandle(value: unknown): string {
  const handle = optionalString(value, 'session_handle', 64);
  if (handle === '') throw new InvalidArgumentError('session_handle', 'must not be empty');
  if (!HANDLE.test(handle))
    throw new InvalidArgumentError('session_handle', 'is not a session handle');
  return handle;
}

function required(value: unknown, field: string, max: number): string {
  const v = optionalString(value, field, max);
  if (v === '') throw new InvalidArgumentError(field, 'must not be empty');
  return v;
}

function toSession(s: LoginSession): Session {
  return {
    app_id: s.appId,
    openid: s.openid,
    unionid: s.unionid ?? '',
    expires_at: toTimestamp(s.expiresAt),
  };
}

/** Thin handlers for LoginService; codes, keys and handles are logged as fingerprints only. */
export function loginHandlers(
  login: LoginService,
  deps: BoundaryDeps & { readonly canUseApp: (caller: Caller, appId: string) => boolean },
): LoginServiceHandlers {
  /** A session of an app the caller may not use looks exactly like one that does not exist. */
  const session = async (handle: string, caller: Caller): Promise<LoginSession> => {
    const s = await login.getSession(handle);
    if (!deps.canUseApp(caller, s.appId)) throw new SessionNotFoundError();
    return s;
  };
  return {
    Code2Session: unary('Code2Session', deps, async (req, _call, caller) => {
      const appId = requireAppId(req.app_id);
      const code = required(req.js_code, 'js_code', MAX_CODE_CHARS);
      const r = await login.code2Session(appId, code, caller.name);
      deps.log.info(
        {
          appId,
          caller: caller.name,
          code: fingerprint(code),
          session: fingerprint(r.session.handle),
        },
        'code2session',
      );
      return {
        openid: r.session.openid,
        unionid: r.session.unionid ?? '',
        session_handle: r.session.handle,
        expires_at: toTimestamp(r.session.expiresAt),
        // Two keys must turn: the app's config and the caller's login:session_key scope.
        session_key: caller.scopes.has('login:session_key') ? (r.exposedSessionKey ?? '') : '',
      };
    }),
    GetSession: unary('GetSession', deps, async (req, _call, caller) =>
      toSession(await session(requireHandle(req.session_handle), caller)),
    ),
    DecryptUserData: unary('DecryptUserData', deps, async (req, _call, caller) => ({
      json: await login.decryptUserData(
        (await session(requireHandle(req.session_handle), caller)).handle,
        required(req.encrypted_data, 'encrypted_data', MAX_ENCRYPTED_CHARS),
        required(req.iv, 'iv', 64),
      ),
    })),
    CheckSession: unary('CheckSession', deps, async (req, _call, caller) => ({
      valid: await login.checkSession(
        (await session(requireHandle(req.session_handle), caller)).handle,
      ),
    })),
    ResetSessionKey: unary('ResetSessionKey', deps, async (req, _call, caller) =>
      toSession(
        await login.resetSessionKey(
          (await session(requireHandle(req.session_handle), caller)).handle,
        ),
      ),
    ),
    // The number is never logged: the line carries the code's fingerprint only.
    GetPhoneNumber: unary('GetPhoneNumber', deps, async (req, _call, caller) => {
      const appId = requireAppId(req.app_id);
      const code = required(req.code, 'code', MAX_CODE_CHARS);
      const phone = await login.getPhoneNumber(appId, code, caller.name);
      deps.log.info({ appId, caller: caller.name, code: fingerprint(code) }, 'getphonenumber');
      return {
        phone_number: phone.phoneNumber,
        pure_phone_number: phone.purePhoneNumber,
        country_code: phone.countryCode,
      };
    }),
    GetPaidUnionId: unary('GetPaidUnionId', deps, async (req) => {
      const appId = requireAppId(req.app_id);
      const openid = required(req.openid, 'openid', MAX_ID_CHARS);
      const transactionId = optionalString(req.transaction_id, 'transaction_id', MAX_ID_CHARS);
      const mchId = optionalString(req.mch_id, 'mch_id', MAX_ID_CHARS);
      const outTradeNo = optionalString(req.out_trade_no, 'out_trade_no', MAX_ID_CHARS);
      if (transactionId === '' && (mchId === '' || outTradeNo === '')) {
        throw new InvalidArgumentError(
          'transaction_id',
          'required, or else both mch_id and out_trade_no',
        );
      }
      if (transactionId !== '' && (mchId !== '' || outTradeNo !== '')) {
        throw new InvalidArgumentError(
          'transaction_id',
          'give either transaction_id or mch_id + out_trade_no, not both',
        );
      }
      const query =
        transactionId !== '' ? { openid, transactionId } : { openid, mchId, outTradeNo };
      return { unionid: (await login.getPaidUnionId(appId, query)).unionid };
    }),
  };
}
