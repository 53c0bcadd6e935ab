import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, listening } from '../support/free-port.js';
import { ROOT, assertBuilt } from '../support/processes.js';
import { until, waitFor } from '../support/until.js';

/**
 * Issue 17 "every path works as written": the README's shell blocks, run here as a newcomer would
 * paste them (bash, from the repository root), each checked for what its text says. A block is
 * marked `<!-- run: ID -->` (run, with the checks below for that ID) or `<!-- not-run: REASON -->`.
 * `wxtoken dev` runs on free ports through WXTOKEN_ADDR / WXTOKEN_SIM, the variables the README
 * names for that, so the blocks run verbatim.
 */

interface Block {
  marker: { run: string } | { notRun: string } | undefined;
  code: string;
  line: number;
}

function shellBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash|shell)\s*$/.test(lines[i]!)) continue;
    const start = i;
    const body: string[] = [];
    while (++i < lines.length && !lines[i]!.startsWith('```')) body.push(lines[i]!);
    let j = start - 1;
    while (j >= 0 && lines[j]!.trim() === '') j--;
    const m = /^<!-- (run|not-run): (.+?) -->$/.exec(lines[j] ?? '');
    const marker = m ? (m[1] === 'run' ? { run: m[2]! } : { notRun: m[2]! }) : undefined;
    blocks.push({ marker, code: body.join('\n'), line: start + 1 });
  }
  return blocks;
}

const README = readFileSync(new URL('README.md', `file://${ROOT}/`), 'utf8');
const blocks = shellBlocks(README);
const runnable = new Map(
  blocks.flatMap((b) => (b.marker && 'run' in b.marker ? [[b.marker.run, b] as const] : [])),
);

let env: NodeJS.ProcessEnv;
let grpcPort: number;
let simPort: number;

/** Runs a block with bash in the repository root, stopping at the first failing command. */
function bash(code: string, detached = false): { child: ChildProcess; output: () => string } {
  const child = spawn('bash', ['-euo', 'pipefail', '-c', code], {
    cwd: ROOT,
    env,
    detached,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

async function runBlock(id: string): Promise<{ code: number | null; out: string }> {
  const block = runnable.get(id);
  if (!block) throw new Error(`README has no <!-- run: ${id} --> block`);
  const { child, output } = bash(block.code);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, out: output() };
}

let dev: { child: ChildProcess; output: () => string } | undefined;

beforeAll(async () => {
  assertBuilt();
  grpcPort = await freePort();
  simPort = await freePort();
  env = {
    ...process.env,
    WXTOKEN_ADDR: `127.0.0.1:${grpcPort}`,
    WXTOKEN_SIM: `http://127.0.0.1:${simPort}`,
    WXTOKEN_LOG_LEVEL: 'warn',
    NO_COLOR: '1', // plain text to match (vitest's own report included)
  };
  // The long-running block: started in its own process group, like a terminal's job.
  dev = bash(runnable.get('background')?.code ?? 'false', true);
  await waitFor(
    '`wxtoken dev` from the README to print its banner',
    async () => (/wxtoken dev is running/.test(dev!.output()) ? true : undefined),
    60_000,
  );
}, 90_000);

afterAll(() => {
  if (dev?.child.pid !== undefined) {
    try {
      process.kill(-dev.child.pid, 'SIGKILL');
    } catch {
      // already stopped by the last test
    }
  }
});

describe('README.md shell blocks run as written (issue 17)', () => {
  it('marks every shell block run or not-run, with a reason for not running it', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    for (const b of blocks) {
      expect(
        b.marker,
        `README.md:${b.line} has no <!-- run: ID --> / <!-- not-run: REASON -->`,
      ).toBeDefined();
      if (b.marker && 'notRun' in b.marker) expect(b.marker.notRun.length).toBeGreaterThan(10);
    }
    // A runnable block whose ID this test does not know is not checked: make that a failure.
    expect([...runnable.keys()].sort()).toEqual(['background', 'script', 'tests', 'try']);
  });

  it('background: `npx wxtoken dev` serves gRPC and the simulator on the addresses the README names', async () => {
    const banner = dev!.output();
    expect(banner).toContain(`gRPC           127.0.0.1:${grpcPort}`);
    expect(banner).toContain(`simulator      http://127.0.0.1:${simPort}`);
    expect(banner).toMatch(/metrics +http:\/\/127\.0\.0\.1:\d+\/metrics/);
    expect(await listening(grpcPort)).toBe(true);
    expect(await listening(simPort)).toBe(true);
  });

  it('try: get prints the token, status the columns named, refresh refreshes, sim code + login log a user in', async () => {
    const r = await runBlock('try');
    expect(r.code, r.out).toBe(0);
    const lines = r.out.split('\n');
    // "the token on stdout, its expiry on stderr"
    expect(lines.some((l) => /^\S{20,}$/.test(l))).toBe(true);
    expect(r.out).toMatch(/expires in \d+s \(generation \d+\)/);
    // status: "every app: state, expiry, next refresh, fetches today"
    const header = lines.find((l) => l.startsWith('app '));
    for (const column of ['state', 'expires', 'nextRefresh', 'today', 'forceLeft']) {
      expect(header, column).toContain(column);
    }
    expect(r.out).toMatch(/wxdemo0000000001 +access_token +classic +healthy/);
    expect(r.out).toMatch(/wxdemo0000000002 +access_token +stable +healthy/);
    // refresh: "a forced refresh, audited"
    expect(r.out).toMatch(/wxdemo0000000001: refreshed, generation 2/);
    // login: "openid and unionid", and nothing of the session's secrets
    expect(r.out).toMatch(/^openid {2}o\S+$/m);
    expect(r.out).toMatch(/^unionid \S+$/m);
    expect(r.out).not.toMatch(/session_key|session_handle/);
    // What the terminal shows stays readable: no line over 120 characters but the token itself.
    expect(lines.filter((l) => l.length > 120 && !/^\S+$/.test(l))).toEqual([]);
  }, 60_000);

  it('script: `node bin/wxtoken.js health` exits 0 and the script goes on', async () => {
    const r = await runBlock('script');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('wxtoken is ready');
  }, 30_000);

  it('tests: the one-file vitest run passes', async () => {
    const r = await runBlock('tests');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/Test Files +1 passed/);
  }, 60_000);

  it('background, stopped with Ctrl-C: both listeners close', async () => {
    process.kill(-dev!.child.pid!, 'SIGINT'); // what Ctrl-C sends: the whole foreground group
    await until(
      '`wxtoken dev` to close its listeners',
      async () => {
        return !(await listening(grpcPort)) && !(await listening(simPort));
      },
      20_000,
    );
    await until(
      'the README job to exit',
      () => dev!.child.exitCode !== null || dev!.child.signalCode !== null,
      20_000,
    );
  }, 45_000);
});
