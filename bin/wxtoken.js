#!/usr/bin/env -S node --no-memory-reducer
// Thin launcher: the CLI lives in dist/cli/main.js (npm run build). The flag: src/cli/node-flags.ts.
import '../dist/cli/main.js';
