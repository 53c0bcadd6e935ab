import { FencedWriteError } from '../token/token-store.js';

/** Codes returned by lua/write-token.lua; mapped to errors here and nowhere else. */
export const WRITE_OK = 1;
export const WRITE_LOCK_NOT_HELD = -1;
export const WRITE_STALE_GENERATION = -2;

export function fenceError(
  appId: string,
  code: number,
  attempted: number,
  stored: number,
): FencedWriteError | undefined {
  if (code === WRITE_OK) return undefined;
  if (code === WRITE_LOCK_NOT_HELD)
    return new FencedWriteError(appId, 'lock_not_held', attempted, stored);
  if (code === WRITE_STALE_GENERATION) {
    return new FencedWriteError(appId, 'stale_generation', attempted, stored);
  }
  throw new Error(`write-token.lua returned unknown code ${code}`);
}
