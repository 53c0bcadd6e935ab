/** Runs `work` and measures how long it took to settle (resolve or reject): a hang check, not a benchmark. */
export async function timed<T>(
  work: () => Promise<T>,
): Promise<{ ms: number; result: PromiseSettledResult<T> }> {
  const start = performance.now();
  const [result] = await Promise.allSettled([work()]);
  return { ms: performance.now() - start, result: result! };
}
