/** One access_token as wxtoken stores and serves it (design.md "token"). Times in ms since epoch. */
export interface TokenRecord {
  readonly appId: string;
  readonly accessToken: string;
  /** sentAt + expires_in: computed from when the request was SENT, so it never overstates life. */
  readonly expiresAt: number;
  readonly fetchedAt: number;
  /** Per-app, strictly increasing with every write: the store's fencing number. */
  readonly generation: number;
}

/** Invariant 3: a token is served only strictly before its expires_at. */
export function isLive(token: TokenRecord | undefined, now: number): token is TokenRecord {
  return token !== undefined && token.expiresAt > now;
}

export function remainingMs(token: TokenRecord, now: number): number {
  return token.expiresAt - now;
}
