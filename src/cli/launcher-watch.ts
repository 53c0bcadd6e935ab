import { readFileSync } from 'node:fs';

/**
 * `npx wxtoken serve &` then `kill $!` signals npm, not wxtoken: npm exec runs the command under
 * a shell and does not pass the signal on, so the server kept running and holding its port
 * (issue 17). Under npm (`npx`, `npm exec`, `npm run`), this finds the npm process (the parent,
 * or the grandparent when the parent is npm's shell) and calls `onGone` once it has exited.
 * Linux only (it reads /proc); elsewhere, and outside npm, it does nothing. Scripts should run
 * `node bin/wxtoken.js` or the installed binary, which get their signals directly.
 */
export function watchNpmLauncher(
  onGone: (pid: number) => void,
  env: NodeJS.ProcessEnv = process.env,
  intervalMs = 500,
): { stop(): void } {
  const none = { stop: () => undefined };
  if (env.npm_command !== 'exec' && env.npm_command !== 'run-script') return none;
  const launcher = npmProcess(process.ppid);
  if (launcher === undefined) return none;
  const timer = setInterval(() => {
    if (alive(launcher)) return;
    clearInterval(timer);
    onGone(launcher);
  }, intervalMs);
  timer.unref(); // never what keeps the process alive
  return { stop: () => clearInterval(timer) };
}

function npmProcess(parent: number): number | undefined {
  try {
    const comm = readFileSync(`/proc/${parent}/comm`, 'utf8').trim();
    if (!['sh', 'bash', 'dash', 'zsh'].includes(comm)) return parent;
    // "pid (comm) state ppid ...": the comm may hold spaces, so split after its ")".
    const stat = readFileSync(`/proc/${parent}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) && ppid > 1 ? ppid : undefined;
  } catch {
    return undefined; // no /proc: not Linux
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
