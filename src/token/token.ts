/**
 * One credential as wxtoken stores and serves it (design.md "credential"): an app's
 * access_token, or one of its tickets. Every kind has the same lifetime, fencing and
 * propagation rules, so the engine handles this one shape. Times in ms since epoch.
 */
export interface CredentialRecord {
  /** The app the credential belongs to; with the credential kind, it names the record. */
  readonly appId: string;
  /** The credential itself (the access_token, the ticket): a secret, never logged. */
  readonly value: string;
  /** sentAt + expires_in: computed from when the request was SENT, so it never overstates life. */
  readonly expiresAt: number;
  readonly fetchedAt: number;
  /** Per-app, strictly increasing with every write: the store's fencing number. */
  readonly generation: number;
}

/**
 * Whether `a` is a later credential than `b`: a higher generation, or, on the same generation,
 * a different value fetched later. Two values can share a generation only after the store lost
 * records (a flush, a promotion to a replica that had not received the write): a replica that
 * did not yet see the first value found no record and numbered its own fetch from its cache.
 * WeChat keeps only the value it issued last, so the later fetch (by its send time) is the one
 * every replica must converge on; ordering by generation alone left a replica on the earlier
 * one until WeChat refused it (issue 16, FLUSHALL under load).
 */
export function supersedes(a: CredentialRecord, b: CredentialRecord): boolean {
  if (a.generation !== b.generation) return a.generation > b.generation;
  return a.value !== b.value && a.fetchedAt > b.fetchedAt;
}

/** An access_token's record (design.md "token"). */
export type TokenRecord = CredentialRecord;

/** Invariant 3: a token is served only strictly before its expires_at. */
export function isLive<T extends Pick<TokenRecord, 'expiresAt'>>(
  token: T | undefined,
  now: number,
): token is T {
  return token !== undefined && token.expiresAt > now;
}

/**
 * What GetToken hands out: live with a small margin left (2 % of the token's lifetime, at most
 * 1 s), so a caller never receives a token that expires before it can use it. Refresh-ahead
 * keeps tokens far from this margin; it matters only when refreshing has been failing.
 */
export function isServable(token: TokenRecord | undefined, now: number): token is TokenRecord {
  return token !== undefined && servableUntil(token) > now;
}

/** The instant from which `isServable` refuses the token: its expiry less the margin. */
export function servableUntil(token: TokenRecord): number {
  return token.expiresAt - Math.min(1000, (token.expiresAt - token.fetchedAt) * 0.02);
}
