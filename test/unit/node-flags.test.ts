import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  missingServeEnv,
  missingServeFlags,
  SERVE_ENV,
  serveEnvAssignments,
  SERVE_NODE_FLAGS,
} from '../../src/cli/node-flags.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('the Node flags wxtoken serve runs with (V8 takes them from the command line only)', () => {
  it('bin/wxtoken.js passes every one, and the environment, on its first line', () => {
    const first = readFileSync(`${ROOT}bin/wxtoken.js`, 'utf8').split('\n')[0]!;
    expect(first.startsWith('#!/usr/bin/env -S ')).toBe(true);
    // env -S: NAME=VALUE assignments, then the command and its arguments.
    const words = first.split(' ').slice(2);
    const node = words.indexOf('node');
    expect(node).toBeGreaterThanOrEqual(0);
    const assigned = words.slice(0, node);
    for (const [name, value] of Object.entries(SERVE_ENV)) {
      expect(assigned).toContain(`${name}=${value}`);
    }
    const flags = words.slice(node + 1);
    for (const flag of SERVE_NODE_FLAGS) expect(flags).toContain(flag);
  });

  it("the image's environment holds SERVE_ENV", () => {
    const env = readFileSync(`${ROOT}Dockerfile`, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('ENV '))
      .map((l) => l.slice('ENV '.length));
    for (const [name, value] of Object.entries(SERVE_ENV))
      expect(env).toContain(`${name}=${value}`);
    expect(SERVE_ENV).toEqual({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' });
    expect(serveEnvAssignments()).toBe('GLIBC_TUNABLES=glibc.malloc.hugetlb=1');
  });

  it("the image's entrypoint passes every one before the script", () => {
    const line = readFileSync(`${ROOT}Dockerfile`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('ENTRYPOINT '));
    const argv = JSON.parse(line!.slice('ENTRYPOINT '.length)) as string[];
    expect(argv[0]).toBe('node');
    const script = argv.indexOf('bin/wxtoken.js');
    for (const flag of SERVE_NODE_FLAGS) {
      expect(argv.indexOf(flag)).toBeGreaterThan(0);
      expect(argv.indexOf(flag)).toBeLessThan(script);
    }
  });

  it('missingServeEnv names what the environment lacks, and leaves an operator choice alone', () => {
    expect(missingServeEnv({})).toEqual(['GLIBC_TUNABLES=glibc.malloc.hugetlb=1']);
    expect(missingServeEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' })).toEqual([
      'GLIBC_TUNABLES=glibc.malloc.hugetlb=1',
    ]);
    expect(missingServeEnv({ ...SERVE_ENV })).toEqual([]);
    expect(
      missingServeEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0' }),
    ).toEqual([]);
  });

  it('missingServeFlags names the ones a process lacks', () => {
    expect(SERVE_NODE_FLAGS).toEqual([
      '--no-memory-reducer',
      '--heap-growing-percent=80',
      '--v8-pool-size=1',
      '--no-allocation-site-pretenuring',
    ]);
    expect(missingServeFlags([])).toEqual([...SERVE_NODE_FLAGS]);
    expect(missingServeFlags(['--cpu-prof', ...SERVE_NODE_FLAGS])).toEqual([]);
  });

  it('counts a flag given with another value as set (the operator chose it)', () => {
    expect(
      missingServeFlags([
        '--memory-reducer',
        '--heap-growing-percent=50',
        '--v8-pool-size=4',
        '--allocation-site-pretenuring',
      ]),
    ).toEqual([]);
    expect(missingServeFlags(['--v8-pool-size=4'])).toEqual([
      '--no-memory-reducer',
      '--heap-growing-percent=80',
      '--no-allocation-site-pretenuring',
    ]);
  });
});
