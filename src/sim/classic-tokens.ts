import { QuotaCounter, beijingDay } from './quota-counter.js';
import { TokenChannel, type IssuedToken } from './token-channel.js';
import type { ResolvedSimAppSettings } from './types.js';

const CLASSIC_45009 =
  'reach max api daily quota limit, could get access_token by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r';

/** What a token request came to: a token and the expires_in to report, or a WeChat error. */
export type IssueOutcome =
  | { ok: true; token: IssuedToken; expiresInSeconds: number }
  | { ok: false; errcode: number; errmsg?: string };

/** The settings a classic mint reads. */
export type ClassicPolicy = Pick<
  ResolvedSimAppSettings,
  'dailyQuota' | 'tokenLength' | 'expiresInSeconds' | 'overlapSeconds'
>;

/**
 * An app's classic token channel with its daily quota and mint count: the whole token state of
 * an app that only ever gets classic tokens. A third-party authorizer starts as just this (a
 * few small objects, made on its first token) and a SimApp adopts it if the authorizer is ever
 * used as a full app, so 100,000 authorizers cost little more than their tokens.
 */
export class ClassicTokens {
  readonly channel = new TokenChannel('classic');
  readonly #daily = new QuotaCounter(beijingDay);
  /** Successful mints, for the app's `tokenIssued` counter. */
  issued = 0;

  /**
   * /cgi-bin/token after authentication (and api_authorizer_token): every success mints a new
   * token (§1). Only mints count against the daily quota; whether WeChat also counts failed
   * calls is UNCONFIRMED.
   */
  issue(now: number, policy: ClassicPolicy, mint: (length: number) => string): IssueOutcome {
    if (!this.#daily.tryTake(now, policy.dailyQuota)) {
      return { ok: false, errcode: 45009, errmsg: CLASSIC_45009 };
    }
    const token = this.channel.rotate(
      mint(policy.tokenLength),
      now,
      policy.expiresInSeconds * 1000,
      policy.overlapSeconds * 1000,
    );
    this.issued++;
    return { ok: true, token, expiresInSeconds: policy.expiresInSeconds };
  }
}
