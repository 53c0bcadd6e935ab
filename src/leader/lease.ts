/** A held leader lease; `expiresAt` is when it lapses unless extended (clock ms). */
export interface LeaseHandle {
  readonly value: string;
  readonly expiresAt: number;
}

/**
 * The port the leader elector depends on (style.md point 7). The embedded mode uses
 * MemoryLease; a cluster uses the Redlock-backed lease. No call ever waits for a holder.
 */
export interface Lease {
  tryAcquire(ttlMs: number): Promise<LeaseHandle | null>;
  /** The extended handle, or null when the lease was lost. */
  extend(handle: LeaseHandle, ttlMs: number): Promise<LeaseHandle | null>;
  release(handle: LeaseHandle): Promise<void>;
}
