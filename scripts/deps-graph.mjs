#!/usr/bin/env node
/* global console, process */
/* eslint-disable no-console -- a command-line tool: its output is the point */
// Prints the folder graph of src/ (npm run deps:graph): one line per folder (or file directly
// under src/) with the folders it imports, and the pairs of folders that import each other.
// dependency-cruiser does the cruising with the same .dependency-cruiser.cjs that npm run lint
// checks (type-only imports count); this script only collapses its JSON to folders and prints it.
import { spawnSync } from 'node:child_process';

const run = spawnSync(
  'node_modules/.bin/depcruise',
  [
    'src',
    '--config',
    '.dependency-cruiser.cjs',
    '--output-type',
    'json',
    '--collapse',
    '^src/[^/]+',
  ],
  { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
);
if (run.error || !run.stdout) {
  console.error(run.error?.message ?? run.stderr);
  process.exit(2);
}
/** @type {{ modules: { source: string, dependencies: { resolved: string }[] }[] }} */
const cruise = JSON.parse(run.stdout);
const name = (path) => path.replace(/^src\//, '');

/** @type {Map<string, Set<string>>} */
const arrows = new Map();
for (const mod of cruise.modules) {
  const targets = arrows.get(name(mod.source)) ?? new Set();
  for (const dep of mod.dependencies) {
    if (dep.resolved !== mod.source) targets.add(name(dep.resolved));
  }
  arrows.set(name(mod.source), targets);
}

const folders = [...arrows.keys()].sort();
const width = Math.max(...folders.map((f) => f.length));
console.log('src/ folder graph: importer -> imported (type-only imports count)');
for (const folder of folders) {
  const targets = [...arrows.get(folder)].sort();
  console.log(
    targets.length ? `  ${folder.padEnd(width)} -> ${targets.join(', ')}` : `  ${folder}`,
  );
}
console.log(`folder cycles: ${cycles(arrows).join('; ') || 'none'}`);

/** Strongly connected components with more than one member (Tarjan), each sorted. */
function cycles(graph) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const found = [];
  const visit = (v) => {
    index.set(v, index.size);
    low.set(v, index.get(v));
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (stack.includes(w)) {
        low.set(v, Math.min(low.get(v), index.get(w)));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component = [];
    let w;
    do {
      w = stack.pop();
      component.push(w);
    } while (w !== v);
    if (component.length > 1) found.push(component.sort().join(' <-> '));
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found.sort();
}
