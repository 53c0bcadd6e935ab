import { createHash } from 'node:crypto';

const REDACTED = '[REDACTED]';

/**
 * A value that must never be printed (AppSecret, access tokens in logs, session keys).
 * String conversion, JSON and util.inspect all show a placeholder; only `reveal()`
 * returns the value, which makes every place that needs it easy to find.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  /** Short, non-reversible fingerprint for correlating log lines. */
  fingerprint(): string {
    return fingerprint(this.#value);
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return REDACTED;
  }
}

/** First 8 hex chars of SHA-256: enough to tell tokens apart in a log, useless to an attacker. */
export function fingerprint(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 8);
}
