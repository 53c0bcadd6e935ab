export { WxTokenClient } from './wxtoken-client.js';
export type {
  JsapiSignatureResult,
  SessionResult,
  StoredSession,
  TicketKind,
  TicketResult,
} from './wxtoken-client.js';
export type { AppTokenStatus } from './app-token.js';
export type {
  AuthorizerInfo,
  AuthorizerPage,
  AuthorizerState,
  PreAuthCodeResult,
} from './component.js';
export {
  ClientClosedError,
  errcodeOf,
  isTokenInvalid,
  TOKEN_INVALID_ERRCODES,
  TokenUnavailableError,
  TooManyAppsError,
  WxTokenError,
} from './errors.js';
export type { WxTokenErrorFields } from './errors.js';
export type { Logger } from './logger.js';
export type { Pem, TlsOptions, WxTokenClientOptions } from './options.js';
