import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import YAML from 'yaml';
import type * as z from 'zod';
import type { Config } from './config.js';
import { ConfigError, type ConfigIssue } from './config-error.js';
import { createConfigSchema, KNOWN_KEYS, type ConfigDeps } from './config-schema.js';

export type { ConfigDeps } from './config-schema.js';

export const CONFIG_PATH_ENV = 'WXTOKEN_CONFIG';

/** `--config` wins over WXTOKEN_CONFIG; undefined when neither is given. */
export function resolveConfigPath(
  cliPath?: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (cliPath) return cliPath;
  const fromEnv = env[CONFIG_PATH_ENV];
  return fromEnv ? fromEnv : undefined;
}

/**
 * Validates an already-parsed document (the YAML's JS value) into the frozen Config.
 * Throws one ConfigError listing every problem. Inline secrets are warned about only
 * once the whole configuration is valid.
 */
export function parseConfig(raw: unknown, deps: ConfigDeps): Config {
  const result = createConfigSchema(deps).safeParse(raw, { error: describeProblem });
  if (!result.success) throw new ConfigError(toConfigIssues(result.error.issues));
  const config: Config = deepFreeze(result.data);
  config.apps.forEach((app, i) => {
    if (app.secretSource === 'inline') {
      deps.warn(
        `config: apps[${i}].secret is inline; use secretEnv or secretFile outside development`,
      );
    }
  });
  // redis.password and redis.sentinelPassword given inline (issue 16): as apps[].secret.
  const redis = (raw as { redis?: Record<string, unknown> } | null)?.redis;
  for (const key of ['password', 'sentinelPassword']) {
    if (redis?.[key] !== undefined) {
      deps.warn(`config: redis.${key} is inline; use ${key}Env or ${key}File outside development`);
    }
  }
  return config;
}

/**
 * Reads a YAML file and validates it. Relative secretFile paths are resolved against the
 * file's directory (unless deps.baseDir says otherwise).
 */
export function loadConfigFile(path: string, deps: Partial<ConfigDeps> = {}): Config {
  const full: ConfigDeps = {
    env: deps.env ?? process.env,
    readFile: deps.readFile ?? ((p) => readFileSync(p, 'utf8')),
    warn: deps.warn ?? ((msg) => console.warn(msg)),
    baseDir: deps.baseDir ?? dirname(resolve(path)),
  };
  let text: string;
  try {
    text = full.readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'read error';
    throw new ConfigError({ key: '', problem: `cannot read ${path} (${code})` }, { cause: err });
  }
  return parseConfig(parseConfigYaml(text, path), full);
}

/** YAML text to a JS value; syntax errors name the line and column, never echo the source. */
export function parseConfigYaml(text: string, source = 'config file'): unknown {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const where = pos ? ` line ${pos.line}, column ${pos.col}` : '';
        return { key: '', problem: `${source}${where}: invalid YAML: ${safeYamlText(e.message)}` };
      }),
    );
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new ConfigError({
      key: '',
      problem: `${source}: invalid YAML: ${safeYamlText(message)}`,
    });
  }
}

/**
 * The `yaml` messages carry a code frame (the offending source line, which may hold an
 * inline secret) and some quote a token: keep only the first line's description.
 */
function safeYamlText(message: string): string {
  const text = (message.split('\n')[0] ?? '')
    .replace(/ at line \d+, column \d+:?$/, '')
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/(Invalid escape sequence).*$/, '$1')
    .replace(/:\s.*$/, '');
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function keyPath(path: readonly PropertyKey[]): string {
  return path
    .map((seg, i) =>
      typeof seg === 'number' ? `[${seg}]` : i === 0 ? String(seg) : `.${String(seg)}`,
    )
    .join('');
}

function toConfigIssues(issues: readonly z.core.$ZodIssue[]): ConfigIssue[] {
  return issues.flatMap((iss): ConfigIssue[] =>
    iss.code === 'unrecognized_keys'
      ? iss.keys.map((k) => ({
          key: keyPath([...iss.path, k]),
          problem: unknownKeyProblem(iss.path, k),
        }))
      : [{ key: keyPath(iss.path), problem: iss.message }],
  );
}

function unknownKeyProblem(parent: readonly PropertyKey[], key: string): string {
  const section = parent.filter((seg) => typeof seg !== 'number').join('.');
  const known = KNOWN_KEYS[section] ?? [];
  const best = known
    .map((k) => ({ k, d: editDistance(k.toLowerCase(), key.toLowerCase()) }))
    .sort((a, b) => a.d - b.d)[0];
  const hint = best && best.d <= 2 ? ` (did you mean "${best.k}"?)` : '';
  return `unknown key${hint}; expected one of ${known.join(', ')}`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

const EXPECTED_NAMES: Readonly<Record<string, string>> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
};

/** Describes a value without echoing strings (a misplaced secret must not be printed). */
function describeInput(input: unknown): string {
  if (input === undefined) return 'nothing';
  if (input === null) return 'an empty value';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'string') return 'a string';
  if (typeof input === 'object') return 'a mapping';
  return String(input);
}

/**
 * Echo a short string so `got "fast"` says what was written. Too short to be an AppSecret
 * (32 characters) that slipped into the wrong key.
 */
function echoChoice(input: unknown): string {
  return typeof input === 'string' && input.length <= 20
    ? JSON.stringify(input)
    : describeInput(input);
}

function listChoices(values: readonly unknown[]): string {
  const quoted = values.map((v) => JSON.stringify(v));
  return quoted.length === 2 ? `${quoted[0]} or ${quoted[1]}` : `one of ${quoted.join(', ')}`;
}

/** The zod error map: plain-English problems that never echo free-form string values. */
function describeProblem(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required';
      // A string key given a number or boolean: YAML read an unquoted value (an all-digit
      // secret, say). Name its type only: the value may be the secret itself.
      if (iss.expected === 'string' && typeof iss.input !== 'object') {
        return `expected a string, got a ${typeof iss.input} (quote the value in YAML)`;
      }
      return `expected ${EXPECTED_NAMES[iss.expected] ?? iss.expected}, got ${describeInput(iss.input)}`;
    case 'invalid_value':
      if (iss.input === undefined) return `is required (${listChoices(iss.values)})`;
      return `expected ${listChoices(iss.values)}, got ${echoChoice(iss.input)}`;
    case 'too_small':
      if (iss.origin === 'array') return `must have at least ${iss.minimum} item(s)`;
      if (iss.origin === 'string') return 'must not be empty';
      if (iss.minimum === 0 && !iss.inclusive) {
        return `must be a positive number, got ${describeInput(iss.input)}`;
      }
      return `must be ${iss.inclusive ? '>=' : '>'} ${iss.minimum}, got ${describeInput(iss.input)}`;
    case 'too_big':
      return `must be ${iss.inclusive ? '<=' : '<'} ${iss.maximum}, got ${describeInput(iss.input)}`;
    case 'invalid_format':
      return 'has an invalid format';
    case 'unrecognized_keys':
      return 'unknown key';
    default:
      return undefined;
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
