import type { TokenRecord } from './token.js';

/**
 * Longest access_token wxtoken accepts from anywhere (WeChat documents "at least 512
 * characters"; real ones are ~140-200). A longer value breaks every client that stores it.
 */
export const MAX_TOKEN_CHARS = 2_048;
/**
 * Longest lifetime a credential may claim: WeChat issues at most 7200 s ("a value within
 * 7200"), plus a 10-minute margin for clock skew between the replica that fetched and the one
 * that checks. The bound is on expires_at - fetched_at, so tests that run lifetimes of
 * seconds pass it untouched, and a record claiming a year of life is refused.
 */
export const MAX_LIFETIME_MS = 7_200_000 + 600_000;
/** How far in this replica's future a fetched_at may lie (clock skew between replicas). */
export const MAX_FUTURE_SKEW_MS = 600_000;

/**
 * Highest generation trusted. Generations grow by one per write, so real ones stay tiny; a
 * record near 2^53 would leave no room to grow (2^53 + 1 is 2^53 in a double) and freeze the
 * app. Up to 2^52 every later write still has 2^52 exact steps left.
 */
export const MAX_GENERATION = 2 ** 52;

/** Why a record read from the store, or announced on pub/sub, is not trusted. */
export type UntrustedReason =
  | 'unknown_app'
  | 'bad_generation'
  | 'bad_times'
  | 'lifetime_too_long'
  | 'fetched_in_future'
  | 'bad_token'
  /** With redis.encryption on: plaintext, moved from another app or field, or tampered. */
  | 'bad_seal';

/** A token value as WeChat issues them: visible ASCII, no spaces, at most MAX_TOKEN_CHARS. */
const TOKEN_VALUE = /^[\x21-\x7e]+$/;

/**
 * Checks a record that came from outside this process (Redis is shared infrastructure: a
 * compromised or buggy client can write any hash or PUBLISH any message). Returns why it is
 * refused, or null when it is plausible. A generation that is not a safe non-negative integer
 * (or one above MAX_GENERATION) is refused because the generation is the fence: a record at
 * 2^53 could never be overwritten (2^53 + 1 is 2^53 in a double), freezing the app forever.
 */
export function untrustedReason(
  token: TokenRecord,
  isConfigured: (appId: string) => boolean,
  now: number,
): UntrustedReason | null {
  if (!isConfigured(token.appId)) return 'unknown_app';
  if (
    !Number.isSafeInteger(token.generation) ||
    token.generation < 1 ||
    token.generation > MAX_GENERATION
  )
    return 'bad_generation';
  if (!Number.isFinite(token.expiresAt) || !Number.isFinite(token.fetchedAt)) return 'bad_times';
  if (token.expiresAt <= token.fetchedAt) return 'bad_times';
  if (token.expiresAt - token.fetchedAt > MAX_LIFETIME_MS) return 'lifetime_too_long';
  if (token.fetchedAt > now + MAX_FUTURE_SKEW_MS) return 'fetched_in_future';
  if (
    typeof token.value !== 'string' ||
    token.value.length > MAX_TOKEN_CHARS ||
    !TOKEN_VALUE.test(token.value)
  )
    return 'bad_token';
  return null;
}
