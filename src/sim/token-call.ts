import { failWith, type Call, type CallRecorder, type Decision } from './call-recorder.js';
import type { SimApp } from './sim-app.js';
import type { SimCheckResult, SimEndpoint } from './types.js';

/** What opening a token-taking call needs from the backend. */
export interface TokenCallDeps {
  calls: Pick<CallRecorder, 'begin'>;
  /** The token verdict of get_api_domain_ip (wechat-api.md §3). */
  check(accessToken: string): SimCheckResult;
}

/**
 * A call to an endpoint that takes `?access_token=`: either refused before the endpoint's own
 * work (carry `refusal` to CallRecorder.answer), or free to go on for `app`. `verdict` is set
 * whenever the token was looked at, so a caller can tell a dead token from a fault.
 */
export type OpenedTokenCall =
  | { call: Call; refusal: Decision; app?: undefined; verdict?: SimCheckResult }
  | { call: Call; refusal?: undefined; app: SimApp; verdict: SimCheckResult };

/**
 * What every token-taking endpoint checks first, in this order (wechat-api.md §3, §12): 41001
 * for a missing token; the token's owner, whom the call is counted against (a dead token of
 * the app still counts); the owner's injected faults for this endpoint; then the token verdict
 * (40001 superseded or unknown, 42001 expired). WeChat refuses a bad token before it acts on
 * the request, which is why a client may repeat the request with a fresh token.
 */
export function openTokenCall(
  deps: TokenCallDeps,
  endpoint: SimEndpoint,
  accessToken: string | undefined,
): OpenedTokenCall {
  if (!accessToken) return { call: deps.calls.begin(endpoint, ''), refusal: failWith(41001) };
  const verdict = deps.check(accessToken);
  const call = deps.calls.begin(endpoint, verdict.appId ?? '');
  const fault = call.app?.faults.take(endpoint);
  if (fault) return { call, refusal: { ok: false, fault }, verdict };
  if (!call.app || verdict.errcode !== 0) {
    return { call, refusal: failWith(verdict.errcode), verdict };
  }
  return { call, app: call.app, verdict };
}
