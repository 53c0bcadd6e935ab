import { watchNpmLauncher } from './launcher-watch.js';

/**
 * Waits for SIGTERM or SIGINT, runs `stop`, and exits 0 (1 if stopping failed).
 * A second signal exits at once, for an operator who does not want to wait. Started by npx,
 * the exit of npx counts as a SIGTERM (npx does not pass signals on: see launcher-watch.ts).
 */
export function runUntilSignal(stop: () => Promise<void>, onError: (err: unknown) => void): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals | string): void => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stderr.write(`received ${signal}, shutting down\n`);
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        onError(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  watchNpmLauncher((pid) => handler(`the exit of npm (pid ${pid}), which started wxtoken`));
}
