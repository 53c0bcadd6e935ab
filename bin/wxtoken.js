#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.hugetlb=1 node --no-memory-reducer --heap-growing-percent=80 --v8-pool-size=1 --no-allocation-site-pretenuring
// Thin launcher: the CLI lives in dist/cli/main.js (npm run build). The flags and the environment:
// src/cli/node-flags.ts.
import '../dist/cli/main.js';
