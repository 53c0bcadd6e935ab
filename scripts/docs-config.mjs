/* global console, URL */
/* eslint-disable no-console -- a command-line tool: its output is the point */
// Writes docs/configuration.md from the config schema (npm run docs:config builds dist/ first).
import { writeFileSync } from 'node:fs';
import { configReference } from '../dist/config/config-reference.js';

const target = new URL('../docs/configuration.md', import.meta.url);
writeFileSync(target, configReference());
console.log(`wrote ${target.pathname}`);
