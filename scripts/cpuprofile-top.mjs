#!/usr/bin/env node
/* global console, process */
/* eslint-disable no-console -- a command-line tool: its output is the point */
// Summarises V8 .cpuprofile files (`node --cpu-prof`): self time by where the code lives (our
// dist/, each node_modules package, node internals, GC...) and the top functions by self time.
// Usage: node scripts/cpuprofile-top.mjs [--top N] [--from SECONDS] FILE.cpuprofile...
// --from skips the first SECONDS of the profile (start-up, warm-up); --ours/--shared (regexps
// on script URLs) attribute time to our code: see ownerOf.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: {
    top: { type: 'string', default: '25' },
    from: { type: 'string', default: '0' },
    ours: { type: 'string', default: '/dist/' },
    shared: { type: 'string', default: '/@grpc/(grpc-js|proto-loader)/' },
  },
  allowPositionals: true,
});
if (positionals.length === 0) {
  console.error(
    'usage: node scripts/cpuprofile-top.mjs [--top N] [--from SECONDS] FILE.cpuprofile...',
  );
  process.exit(2);
}
const ours = new RegExp(values.ours);
const shared = new RegExp(values.shared);
for (const file of positionals) summarise(file, Number(values.top), Number(values.from) * 1e6);

function summarise(file, top, fromUs) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const parents = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parents.set(c, n.id);
  const owners = new Map();
  let oursUs = 0;
  const fns = new Map();
  const places = new Map();
  let total = 0;
  let idle = 0;
  let elapsed = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    elapsed += us;
    if (elapsed < fromUs) return;
    const f = frames.get(id);
    total += us;
    if (f.functionName === '(idle)') {
      idle += us;
      return;
    }
    const at = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
    add(fns, `${f.functionName || '(anonymous)'} ${at}`, us);
    add(places, placeOf(f), us);
    const owner = ownerOf(id, frames, parents);
    if (owner) {
      oursUs += us;
      add(owners, owner, us);
    }
  });
  const busy = total - idle;
  const pct = (us) => `${((100 * us) / busy).toFixed(1).padStart(5)} %`;
  console.log(
    `\n${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy`,
  );
  console.log('\nself time by place (% of busy time)');
  for (const [place, us] of sorted(places)) console.log(`${pct(us)}  ${place}`);
  console.log(`\ntop ${top} functions by self time (% of busy time)`);
  for (const [fn, us] of sorted(fns).slice(0, top)) console.log(`${pct(us)}  ${fn}`);
  console.log(
    `\n${pct(oursUs)}  under code matching ${ours} (its callees included, calls back into ` +
      `${shared} excluded), by the innermost such function:`,
  );
  for (const [fn, us] of sorted(owners).slice(0, top)) console.log(`${pct(us)}  ${fn}`);
}

/**
 * The innermost frame of sample `id`'s stack that matches --ours, unless a frame matching
 * --shared lies between it and the leaf (our code calling back into the library: time that
 * the bare library server spends too). Undefined when the sample is not ours.
 */
function ownerOf(id, frames, parents) {
  for (let n = id; n !== undefined; n = parents.get(n)) {
    const f = frames.get(n);
    if (shared.test(f.url)) return undefined;
    if (ours.test(f.url))
      return `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
  }
  return undefined;
}

function add(map, key, us) {
  map.set(key, (map.get(key) ?? 0) + us);
}

function sorted(map) {
  return [...map].sort((a, b) => b[1] - a[1]);
}

function shortUrl(url) {
  return url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\//, '')
    .replace(/^.*\/dist\//, 'dist/');
}

function placeOf(f) {
  if (!f.url) return f.functionName.startsWith('(') ? f.functionName : '(native)';
  if (f.url.startsWith('node:')) return `node:${f.url.slice(5).split('/').slice(0, 2).join('/')}`;
  const mod = /\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url);
  if (mod) return mod[1];
  const dist = /\/dist\/([^/]+)\//.exec(f.url);
  return dist ? `wxtoken src/${dist[1]}` : shortUrl(f.url);
}
