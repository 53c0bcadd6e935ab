import { isAbsolute, resolve } from 'node:path';

/**
 * Where configured values come from besides the YAML itself: environment variables and files
 * named by the configuration (secrets, at-rest keys, TLS material). Problems name the variable
 * or the path, never the value.
 */

/** What resolving the configuration may touch: injected so tests need no real env or files. */
export interface ConfigDeps {
  env: NodeJS.ProcessEnv;
  /** Reads a secretFile (utf-8). Relative paths are resolved against `baseDir` first. */
  readFile: (path: string) => string;
  warn: (msg: string) => void;
  /** Directory relative secretFile paths are resolved against (loadConfigFile: the file's dir). */
  baseDir?: string;
}

/** A file path as the configuration names it, resolved against the config file's directory. */
export function configFilePath(file: string, baseDir: string | undefined): string {
  return baseDir !== undefined && !isAbsolute(file) ? resolve(baseDir, file) : file;
}

/** A named file's text (as read, untrimmed), or why it cannot be used (unreadable or blank). */
export function readConfigFile(
  file: string,
  deps: Pick<ConfigDeps, 'readFile'> & { baseDir?: string | undefined },
): { path: string; text: string } | { problem: string } {
  const path = configFilePath(file, deps.baseDir);
  let text: string;
  try {
    text = deps.readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'read error';
    return { problem: `cannot read ${path} (${code})` };
  }
  if (!text.trim()) return { problem: `file ${path} is empty` };
  return { path, text };
}

/** A named environment variable's value, trimmed, or why it cannot be used (unset or blank). */
export function readConfigEnv(
  name: string,
  env: NodeJS.ProcessEnv,
): { value: string } | { problem: string } {
  const value = env[name]?.trim();
  if (!value) {
    const state = value === undefined ? 'is not set' : 'is empty';
    return { problem: `environment variable ${name} ${state}` };
  }
  return { value };
}
