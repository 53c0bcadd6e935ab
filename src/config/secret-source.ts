import { Secret } from '../shared/secret.js';
import { readConfigEnv, readConfigFile, type ConfigDeps } from './config-sources.js';

/** A secret resolved from its one source, with where it came from (for messages, never the value). */
export type ResolvedSecret = { secret: Secret; source: string } | { key: string; problem: string };

/**
 * Reads the one source a secret-valued field names: `<base>Env`, `<base>File` or (development
 * only) `<base>` inline. apps[].secret and the three secrets of components[] are all read this
 * way. A problem names the key and the variable or path, never a value.
 */
export function resolveSecretSource(
  raw: Readonly<Record<string, unknown>>,
  base: string,
  deps: ConfigDeps,
): ResolvedSecret {
  const keys = [`${base}Env`, `${base}File`, base] as const;
  const given = keys.filter((k) => raw[k] !== undefined);
  if (given.length !== 1) {
    return {
      key: '',
      problem:
        given.length === 0
          ? `one of ${keys[0]}, ${keys[1]} or ${keys[2]} is required`
          : `set exactly one of ${keys[0]}, ${keys[1]} or ${keys[2]}, not ${given.join(' and ')}`,
    };
  }
  const [envKey, fileKey] = keys;
  if (raw[envKey] !== undefined) {
    const name = String(raw[envKey]);
    const read = readConfigEnv(name, deps.env);
    if ('problem' in read) return { key: envKey, problem: read.problem };
    return { secret: new Secret(read.value), source: `env ${name}` };
  }
  if (raw[fileKey] !== undefined) {
    const read = readConfigFile(String(raw[fileKey]), deps);
    if ('problem' in read) return { key: fileKey, problem: read.problem };
    return { secret: new Secret(read.text.trim()), source: `file ${read.path}` };
  }
  const value = String(raw[base] ?? '').trim();
  if (!value) return { key: base, problem: 'is empty' };
  return { secret: new Secret(value), source: 'inline' };
}
