import type { Redis } from 'ioredis';
import { StoreUnavailableError } from '../shared/errors.js';

/**
 * Runs `op` on every node and returns the answers once a majority answered; fewer is a store
 * that is unavailable, never a partial answer. One node is a majority of one.
 */
export async function onQuorum<T>(
  clients: readonly Redis[],
  operation: string,
  op: (c: Redis) => Promise<T>,
): Promise<T[]> {
  const results = await Promise.allSettled(clients.map(op));
  const answers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (answers.length < Math.floor(clients.length / 2) + 1) {
    throw new StoreUnavailableError(operation, {
      cause: results.find((r) => r.status === 'rejected')?.reason,
    });
  }
  return answers;
}
