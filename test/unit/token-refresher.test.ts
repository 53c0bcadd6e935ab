import { describe, expect, it } from 'vitest';
import { FencedWriteError } from '../../src/token/token-store.js';
import { APP_ID, coreHarness } from '../support/core-harness.js';

/** Holds the next upstream call until `release()`, like a process paused mid-refresh. */
function pausedFetch(h: ReturnType<typeof coreHarness>) {
  let release!: () => void;
  h.wechat.gate = new Promise<void>((r) => (release = r));
  return () => {
    h.wechat.gate = undefined;
    release();
  };
}

describe('TokenRefresher: a holder whose lock lapsed (invariant 2)', () => {
  it.each([
    ['newer than the stored one: re-stored under a new lock', -1_000, true],
    ['older than the stored one: dropped, the write is refused', +10_000, false],
  ])(
    'a token fetched while paused past the lock TTL is %s',
    async (_name, storedOffset, stored) => {
      const h = coreHarness();
      await h.refresher.refresh(h.app, 'startup');
      const sentAt = h.clock.now();
      const release = pausedFetch(h);
      const pending = h.refresher
        .refresh(h.app, 'force', { ifGeneration: 1 })
        .catch((e: unknown) => e);
      await h.clock.advance(20_000); // past the 15 s lock TTL
      // Meanwhile another replica took the lock and stored a token fetched at sentAt + offset.
      const other = await h.store.tryAcquire(APP_ID, 15_000);
      const theirs = {
        appId: APP_ID,
        value: 'theirs',
        expiresAt: sentAt + 7_200_000,
        fetchedAt: sentAt + storedOffset,
        generation: 5,
      };
      await h.store.write(theirs, other!);
      await h.store.release(other!);
      release();
      const result = await pending;
      const current = (await h.store.read(APP_ID))!.current;
      if (stored) {
        expect(current.value).not.toBe('theirs');
        expect(current.generation).toBe(6);
        expect(h.cache.get(APP_ID)).toEqual(current);
      } else {
        expect(result).toBeInstanceOf(FencedWriteError);
        expect(current).toEqual(theirs);
      }
    },
  );
});
