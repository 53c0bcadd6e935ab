#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/cli/main.js (npm run build).
import '../dist/cli/main.js';
