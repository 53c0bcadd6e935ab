/** One problem found in the configuration: the key path it concerns and what is wrong. */
export interface ConfigIssue {
  /** Key path such as "apps[1].secretEnv" or "lease.renewIntervalMs"; "" for the file as a whole. */
  readonly key: string;
  /** What is wrong, e.g. `expected "classic" or "stable", got "fast"`. Never contains a secret. */
  readonly problem: string;
}

/**
 * The configuration is invalid. One error reports every problem found, one per line of the
 * message (`config: KEY: PROBLEM`), so an operator fixes the file in one pass; `key` is the
 * first problem's key. Messages name keys, paths and variable names, never secret values.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly key: string;
  readonly issues: readonly ConfigIssue[];

  constructor(issues: ConfigIssue | readonly ConfigIssue[], options?: { cause?: unknown }) {
    const list = Array.isArray(issues) ? [...issues] : [issues as ConfigIssue];
    if (list.length === 0) throw new TypeError('ConfigError needs at least one issue');
    super(list.map(formatConfigIssue).join('\n'), options);
    this.key = list[0]?.key ?? '';
    this.issues = Object.freeze(list);
  }
}

export function formatConfigIssue(issue: ConfigIssue): string {
  return issue.key === '' ? `config: ${issue.problem}` : `config: ${issue.key}: ${issue.problem}`;
}
