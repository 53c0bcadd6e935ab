import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `probe` until it returns true, for states that follow a socket event; fails after `timeoutMs`. */
export async function until(
  what: string,
  probe: () => boolean | Promise<boolean>,
  timeoutMs = 8_000,
): Promise<void> {
  await waitFor(what, async () => ((await probe()) ? true : undefined), timeoutMs);
}

/** Polls `probe` every `everyMs` until it returns a value other than undefined; resolves with it. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
