import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT, SIM_LISTENING, assertBuilt } from '../support/processes.js';
import { until, waitFor } from '../support/until.js';
import { listening } from '../support/free-port.js';

/**
 * Issue 17: `npx wxtoken ... &` then `kill $!` signals npm, which does not pass the signal on;
 * the server used to keep running and holding its port. Now wxtoken stops when its npm launcher
 * exits (src/cli/launcher-watch.ts).
 */
describe('a backgrounded npx wxtoken killed by its PID (issue 17)', () => {
  it('stops and frees its port when npx is killed', async () => {
    assertBuilt();
    // Its own process group, so the cleanup reaches whatever npx started even if the test fails.
    const npx = spawn('npx', ['--no-install', 'wxtoken', 'sim', '--listen', '127.0.0.1:0'], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    npx.stdout.on('data', (d: Buffer) => (out += d.toString()));
    npx.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const url = await waitFor(
        'npx wxtoken sim to listen',
        async () => SIM_LISTENING.exec(out)?.[1],
        30_000,
      );
      const port = Number(new URL(url).port);
      expect(await listening(port)).toBe(true);
      npx.kill('SIGTERM'); // what `kill $!` does: npm gets the signal, not wxtoken
      await until(
        'the simulator behind npx to stop listening',
        async () => !(await listening(port)),
        15_000,
      );
      expect(out).toMatch(
        /received the exit of npm \(pid \d+\), which started wxtoken, shutting down/,
      );
    } finally {
      try {
        process.kill(-npx.pid!, 'SIGKILL');
      } catch {
        // the group is already gone
      }
    }
  }, 60_000);
});
