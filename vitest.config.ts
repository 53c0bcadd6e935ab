import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // e2e tests spawn processes on free ports; tests in a file run serially.
    pool: 'forks',
    // Two files at a time: most e2e time is waiting on token lifetimes, not CPU (489 s -> 300 s
    // for the whole suite on 2 cores). Ports are taken from the kernel (listen on 0) or retried.
    maxWorkers: 2,
  },
});
