import * as z from 'zod';
import { createConfigSchema } from './config-schema.js';

/**
 * docs/configuration.md, generated from the config schema itself (issue 17): every key with its
 * type, bounds, default and the `.describe()` text next to its definition in src/config/*. One
 * source of truth: `npm run docs:config` writes the file, and a test fails when the committed
 * file differs, or when a key has no description.
 */

export interface ConfigKeyDoc {
  key: string;
  type: string;
  /** A default value in backticks, `absent` (optional, no default) or `required`. */
  default: string;
  description?: string;
}

/** The wrappers around a value schema that carry no type of their own. */
const WRAPPERS = new Set([
  'optional',
  'nullable',
  'default',
  'prefault',
  'readonly',
  'catch',
  'nonoptional',
]);

type Internals = { def: Record<string, unknown> & { type: string } };
const internals = (s: z.core.$ZodType): Internals => s._zod as unknown as Internals;

function describedAs(s: z.core.$ZodType): string | undefined {
  return z.globalRegistry.get(s)?.description;
}

/**
 * The schema under the wrappers and pipes, with what the wrappers said on the way down.
 * A pipe is either `.transform()` (the value schema is its input) or `z.preprocess` (its output).
 */
function unwrap(schema: z.core.$ZodType): {
  inner: z.core.$ZodType;
  optional: boolean;
  default?: unknown;
  description?: string;
} {
  let s = schema;
  let optional = false;
  let defaultValue: unknown;
  let description = describedAs(s);
  for (;;) {
    const def = internals(s).def;
    if (WRAPPERS.has(def.type)) {
      if (def.type === 'optional' || def.type === 'nullable') optional = true;
      if (def.type === 'default' && defaultValue === undefined) defaultValue = def.defaultValue;
      s = def.innerType as z.core.$ZodType;
    } else if (def.type === 'pipe') {
      const input = def.in as z.core.$ZodType;
      s = internals(input).def.type === 'transform' ? (def.out as z.core.$ZodType) : input;
    } else break;
    description ??= describedAs(s);
  }
  return {
    inner: s,
    optional,
    ...(defaultValue !== undefined ? { default: defaultValue } : {}),
    ...(description !== undefined ? { description } : {}),
  };
}

/** "integer (> 0, ≤ 10000)" from the number's checks (safe-integer bounds are not bounds). */
function numberType(def: Internals['def']): string {
  const checks = ((def.checks ?? []) as { _zod: { def: Record<string, unknown> } }[]).map(
    (c) => c._zod.def,
  );
  const int = checks.some((c) => c.check === 'number_format' && c.format === 'safeint');
  const parts: string[] = [];
  for (const c of checks) {
    const v = c.value as number;
    if (c.check === 'greater_than') parts.push(`${c.inclusive ? '≥' : '>'} ${v}`);
    if (c.check === 'less_than') parts.push(`${c.inclusive ? '≤' : '<'} ${v}`);
  }
  return `${int ? 'integer' : 'number'}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
}

function typeOf(s: z.core.$ZodType): string {
  const { def } = internals(s);
  switch (def.type) {
    case 'string':
      return 'string';
    case 'number':
      return numberType(def);
    case 'boolean':
      return 'boolean';
    case 'enum':
      return Object.values(def.entries as Record<string, string>)
        .map((v) => `\`${v}\``)
        .join(' \\| ');
    case 'array':
      return `list of ${typeOf(unwrap(def.element as z.core.$ZodType).inner)}`;
    case 'object':
      return 'object';
    case 'transform':
      return 'value';
    default:
      return def.type;
  }
}

function formatDefault(value: unknown): string {
  if (Array.isArray(value) && value.length === 0) return '`[]`';
  if (value === '') return '`""`';
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
}

/** Every key of the configuration, depth first in schema order (lists as `key[]`). */
export function configKeys(): ConfigKeyDoc[] {
  const root = createConfigSchema({ env: {}, readFile: () => '', warn: () => undefined });
  const out: ConfigKeyDoc[] = [];
  const visit = (schema: z.core.$ZodType, key: string): void => {
    const u = unwrap(schema);
    let inner = u.inner;
    let type = typeOf(inner);
    let listOf = '';
    if (internals(inner).def.type === 'array') {
      const element = unwrap(internals(inner).def.element as z.core.$ZodType).inner;
      if (internals(element).def.type === 'object') {
        inner = element;
        listOf = '[]';
        type = 'list of objects';
      }
    }
    const given =
      u.default !== undefined ? formatDefault(u.default) : u.optional ? 'absent' : 'required';
    const doc: ConfigKeyDoc = { key: key + listOf, type, default: given };
    if (u.description !== undefined) doc.description = u.description;
    // A section (a top-level object) is a heading of the page, not a key of its own.
    const isSection =
      !key.includes('.') && listOf === '' && !u.optional && internals(inner).def.type === 'object';
    if (key !== '' && !isSection) out.push(doc);
    const def = internals(inner).def;
    if (def.type === 'object') {
      const shape = def.shape as Record<string, z.core.$ZodType>;
      for (const [name, child] of Object.entries(shape)) {
        visit(child, key === '' ? name : `${key}${listOf}.${name}`);
      }
    }
  };
  visit(root, '');
  return out;
}

const WIDTH = 120;

/** Greedy word wrap; a word longer than the width stays whole on its own line. */
function wrap(text: string, first: string, rest: string): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (!empty && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = rest + word;
    } else {
      line = empty ? line + word : `${line} ${word}`;
    }
    empty = false;
  }
  lines.push(line);
  return lines;
}

const HEADER = `# Configuration reference

<!-- Generated by \`npm run docs:config\` from the config schema (src/config/*). Do not edit: change the
\`.describe()\` text next to the key and run the script again; a test fails when this file is stale. -->

\`wxtoken serve --config FILE\` (or \`WXTOKEN_CONFIG=FILE\`) reads one YAML file and checks it at start: an unknown
key, a bad value or a missing secret stops the process with exit code 2 and a message naming the key
(\`config: apps[1].mode: ...\`). An example: \`deploy/wxtoken.example.yaml\`. Durations carry their unit in the key
name, accept fractions, and are at most 2147483647 ms (Node's timers overflow above it). A section left out (or
empty) takes every default below. \`absent\` means the key has no default: leaving it out turns the feature off.

Secrets come from one of three keys: \`<name>Env\` (an environment variable), \`<name>File\` (a file; relative paths
are resolved against the config file's folder) or \`<name>\` inline (development only: it warns).
`;

/** The whole of docs/configuration.md. */
export function configReference(): string {
  const lines: string[] = [HEADER];
  let section = '';
  for (const doc of configKeys()) {
    const top = doc.key.replace(/[.[].*$/, '');
    if (top !== section) {
      if (section !== '') lines.push('');
      section = top;
      lines.push(`## \`${top}\``, '');
    }
    const given = doc.default === 'required' ? ', required' : `, default ${doc.default}`;
    const head = `- \`${doc.key}\`: ${doc.type}${given}.`;
    lines.push(...wrap(head, '', '  '));
    if (doc.description !== undefined) lines.push(...wrap(doc.description, '  ', '  '));
  }
  lines.push('');
  return lines.join('\n');
}
