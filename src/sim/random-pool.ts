import { randomBytes } from 'node:crypto';

const POOL_BYTES = 64 * 1024;

let pool = Buffer.alloc(0);
let used = 0;

/**
 * `n` bytes from the OS CSPRNG, drawn from a pooled 64 KiB buffer: one randomBytes call per
 * ~1,000 values instead of one each, which is most of the time it takes to create 100,000
 * authorizers (three random values each). Each byte is handed out once.
 */
export function pooledRandomBytes(n: number): Buffer {
  if (n > POOL_BYTES) return randomBytes(n);
  if (used + n > pool.length) {
    pool = randomBytes(POOL_BYTES);
    used = 0;
  }
  const out = pool.subarray(used, used + n);
  used += n;
  return out;
}
