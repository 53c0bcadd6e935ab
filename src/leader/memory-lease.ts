import { randomUUID } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import type { Lease, LeaseHandle } from './lease.js';

/** The embedded lease for a single process: the same contract as the Redis one. */
export class MemoryLease implements Lease {
  #held: LeaseHandle | undefined;

  constructor(private readonly clock: Clock) {}

  async tryAcquire(ttlMs: number): Promise<LeaseHandle | null> {
    const now = this.clock.now();
    if (this.#held && this.#held.expiresAt > now) return null;
    this.#held = { value: randomUUID(), expiresAt: now + ttlMs };
    return this.#held;
  }

  async extend(handle: LeaseHandle, ttlMs: number): Promise<LeaseHandle | null> {
    const now = this.clock.now();
    if (this.#held?.value !== handle.value || this.#held.expiresAt <= now) return null;
    this.#held = { value: handle.value, expiresAt: now + ttlMs };
    return this.#held;
  }

  async release(handle: LeaseHandle): Promise<void> {
    if (this.#held?.value === handle.value) this.#held = undefined;
  }
}
